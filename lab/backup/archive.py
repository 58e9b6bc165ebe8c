"""The archive's layout: one tar stream (PAX, any file size) inside the encrypted stream.

Members, in this order:

- ``header.json``: format, the team's row (pseudonym secret included), the users its rows name,
  the plan (models in restore order, each with its columns) and where the source kept runs;
- ``dicom/<instance id>``: each instance's stored DICOM file;
- ``cache/<path>``: the team's training cache folder, as it is on disk;
- ``runs/<job id>/<path>``: each job's run folder (dataset, config, checkpoints, metrics,
  predictions, Grad-CAM maps);
- ``rows/<nnnnnn>-<app.model>.jsonl``: rows, in plan order, a few MiB per member;
- ``manifest.json``: row counts, file count and bytes, and one SHA-256 over every file's name
  and SHA-256 in archive order, which the restore recomputes.

Ids are the source's; file names in ``dicom/`` and ``runs/`` are ids, never user text, and the
restore accepts no other names, no links and no paths that climb out of their folder.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from pathlib import PurePosixPath
from typing import BinaryIO

FORMAT = "cxr-lab-team-backup/1"
HEADER, MANIFEST = "header.json", "manifest.json"
ROWS_CHUNK = 4 * 1024 * 1024  # plaintext bytes of rows per member
COPY = 1024 * 1024

DICOM_NAME = re.compile(r"dicom/(\d+)")
CACHE_NAME = re.compile(r"cache/(.+)")
RUNS_NAME = re.compile(r"runs/(\d+)/(.+)")
ROWS_NAME = re.compile(r"rows/(\d{6})-([a-z0-9_]+\.[a-z0-9_]+)\.jsonl")


class ArchiveError(ValueError):
    """An archive that decrypts but does not hold what a backup writes."""


def safe_relative(text: str) -> PurePosixPath:
    """A relative path that stays inside its folder, or ArchiveError."""
    path = PurePosixPath(text)
    if path.is_absolute() or not path.parts or any(p in ("", ".", "..") for p in path.parts):
        raise ArchiveError(f"the archive names an unsafe path: {text!r}")
    if "\x00" in text or "\\" in text:
        raise ArchiveError(f"the archive names an unsafe path: {text!r}")
    return path


def member(name: str, size: int, mtime: float = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    return info


class Hashing:
    """A file object that hashes what is read through it."""

    def __init__(self, source: BinaryIO) -> None:
        self.source, self.sha = source, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.sha.update(data)
        return data


class FileDigest:
    """One SHA-256 over ``name NUL sha256 LF`` of every file, in archive order."""

    def __init__(self) -> None:
        self.sha, self.files, self.bytes = hashlib.sha256(), 0, 0

    def add(self, name: str, sha256: str, size: int) -> None:
        self.sha.update(f"{name}\x00{sha256}\n".encode())
        self.files += 1
        self.bytes += size

    def summary(self) -> dict:
        return {"count": self.files, "bytes": self.bytes, "sha256": self.sha.hexdigest()}
