"""``backup_team``: a team's rows and files into one encrypted archive, streamed.

The rows are read in one transaction (a snapshot on PostgreSQL) into a temporary archive,
encrypted under a throw-away key (it holds the team's secrets, so it never touches the disk in
clear); the files that snapshot names are then streamed into the real archive, followed by the
rows. The archive is written under a temporary name beside ``out`` and renamed into place once
complete and synced, so ``out`` is either the whole archive or absent.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from jobs.models import FINISHED, Job
from labeling.models import Instance
from teams.models import Team

from . import archive, plan, refs, rows
from .archive import ArchiveError, FileDigest, Hashing, member
from .crypto import DecryptingReader, EncryptingWriter
from .files import cache_folder, dicom_path, runs_folder, walk

INSTANCE = Instance._meta.label_lower


class BackupError(ValueError):
    """A backup that cannot be made as asked; the message says why."""


@dataclass
class BackupSummary:
    team: str
    path: str
    rows: dict[str, int]
    files: dict
    users: list[str]
    missing_files: list[int] = field(default_factory=list)  # instance ids without a file
    active_jobs: list[int] = field(default_factory=list)  # queued or running when read

    def as_dict(self) -> dict:
        return dict(self.__dict__)


Progress = Callable[[str], None]


def backup_team(
    team: Team, out: Path, passphrase: str, progress: Progress | None = None
) -> BackupSummary:
    """Write the team's archive to ``out`` (which must not exist yet)."""
    out = Path(out)
    if out.exists() or out.is_symlink():
        raise BackupError(f"{out} already exists; choose a new name")
    if not out.parent.is_dir():
        raise BackupError(f"no such folder: {out.parent}")
    models = plan.build()
    unknown = set(Job.objects.filter(team=team).values_list("kind", flat=True))
    unknown -= set(refs.JOB_KIND_IDS)
    if unknown:
        raise BackupError(
            f"jobs of kind {sorted(unknown)} keep ids the backup does not know how to carry; "
            "list them in lab/backup/refs.py"
        )
    token = secrets.token_hex(6)
    partial = out.with_name(f".{out.name}.{token}.partial")
    staged_rows = out.with_name(f".{out.name}.{token}.rows")
    rows_key = secrets.token_urlsafe(32)
    try:
        with staged_rows.open("wb") as raw:
            snapshot = _write_rows(team, models, raw, rows_key)
        with partial.open("wb") as raw:
            summary = _write_archive(team, models, snapshot, raw, passphrase,
                                     staged_rows, rows_key, progress)  # fmt: skip
            raw.flush()
            os.fsync(raw.fileno())
        if out.exists():
            raise BackupError(f"{out} appeared while the backup was written; nothing replaced")
        os.rename(partial, out)
        _sync_folder(out.parent)
    finally:
        for leftover in (partial, staged_rows):
            leftover.unlink(missing_ok=True)
    summary.path = str(out)
    return summary


@dataclass
class Snapshot:
    team_row: dict
    counts: dict[str, int]
    users: list[dict]
    jobs: list[int]
    active_jobs: list[int]


def _write_rows(team: Team, models: list[plan.ModelPlan], raw: BinaryIO, key: str) -> Snapshot:
    """All rows of the team, in plan order, in one transaction, to a temporary tar of chunks."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        # A snapshot: rows added meanwhile (an import, a job's predictions) wait for the next
        # backup. Inside an outer transaction (a test's) the level is no longer ours to set.
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        team = Team.objects.get(pk=team.pk)
        counts: Counter[str] = Counter()
        user_ids: set[int] = set()
        writer = EncryptingWriter(raw, key, log_n=10)  # a random key: no stretching needed
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            sequence = 0
            for model in models:
                for chunk in _row_chunks(model, team, counts, user_ids):
                    sequence += 1
                    name = f"rows/{sequence:06d}-{model.label}.jsonl"
                    tar.addfile(member(name, len(chunk)), io.BytesIO(chunk))
        writer.close()
        jobs = Job.objects.filter(team=team).order_by("pk")
        return Snapshot(
            team_row=rows.encode(
                team, [f for f in Team._meta.concrete_fields if not f.primary_key]
            ),
            counts=dict(counts),
            users=_users(user_ids),
            jobs=list(jobs.values_list("pk", flat=True)),
            active_jobs=list(jobs.exclude(status__in=FINISHED).values_list("pk", flat=True)),
        )


def _row_chunks(model: plan.ModelPlan, team, counts: Counter, user_ids: set) -> Iterator[bytes]:
    fields = model.fields
    user_columns = [link.attname for link in model.links if link.target == plan.USER]
    buffer = bytearray()
    for obj in model.rows(team).iterator(chunk_size=2000):
        values = rows.encode(obj, fields)
        user_ids.update(values[column] for column in user_columns if values[column] is not None)
        buffer += rows.dumps(obj.pk, values)
        counts[model.label] += 1
        if len(buffer) >= archive.ROWS_CHUNK:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _users(ids: set[int]) -> list[dict]:
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD, user_model.get_email_field_name()]
    names += [n for n in ("first_name", "last_name") if _has_field(user_model, n)]
    return [
        {"id": user.pk, **{name: getattr(user, name) for name in names}}
        for user in user_model._base_manager.filter(pk__in=ids).order_by("pk")
    ]


def _has_field(model, name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)


def _write_archive(team, models, snapshot: Snapshot, raw: BinaryIO, passphrase: str,
                   staged_rows: Path, rows_key: str, progress: Progress | None) -> BackupSummary:  # fmt: skip
    writer = EncryptingWriter(raw, passphrase)
    digest, missing = FileDigest(), []
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        header = _header(team, models, snapshot)
        tar.addfile(member(archive.HEADER, len(header)), io.BytesIO(header))
        with _staged(staged_rows, rows_key) as staged:
            for instance_id, file_path in _instance_files(staged):
                path = dicom_path(file_path)
                if path is None or not _add_file(tar, path, f"dicom/{instance_id}", digest):
                    missing.append(instance_id)
                if progress:
                    progress("dicom")
        for path, relative in walk(cache_folder(team.pk)):
            _add_file(tar, path, f"cache/{relative}", digest)
            if progress:
                progress("cache")
        for job_id in snapshot.jobs:
            for path, relative in walk(runs_folder(team.pk) / f"job-{job_id}"):
                _add_file(tar, path, f"runs/{job_id}/{relative}", digest)
                if progress:
                    progress("runs")
        with _staged(staged_rows, rows_key) as staged:
            for info in staged:
                tar.addfile(member(info.name, info.size), staged.extractfile(info))
        manifest = json.dumps({"rows": snapshot.counts, "files": digest.summary(),
                               "missing_files": missing}).encode()  # fmt: skip
        tar.addfile(member(archive.MANIFEST, len(manifest)), io.BytesIO(manifest))
    writer.close()
    return BackupSummary(
        team=team.name, path="", rows=snapshot.counts, files=digest.summary(),
        users=[user[get_user_model().USERNAME_FIELD] for user in snapshot.users],
        missing_files=missing, active_jobs=snapshot.active_jobs,
    )  # fmt: skip


def _header(team: Team, models: list[plan.ModelPlan], snapshot: Snapshot) -> bytes:
    return json.dumps({
        "format": archive.FORMAT,
        "created": timezone.now().isoformat(),
        "team": {"id": team.pk, "fields": snapshot.team_row},
        "users": snapshot.users,
        "plan": [{"model": m.label, "fields": [f.attname for f in m.fields]} for m in models],
        "runs_folder": str(runs_folder(team.pk)),
        "jobs": snapshot.jobs,
    }, ensure_ascii=False).encode()  # fmt: skip


@contextmanager
def _staged(path: Path, key: str) -> Iterator[tarfile.TarFile]:
    """The staged rows, decrypted, as a streaming tar."""
    with (
        path.open("rb") as source,
        tarfile.open(fileobj=DecryptingReader(source, key), mode="r|") as tar,
    ):
        yield tar


def _instance_files(staged: tarfile.TarFile) -> Iterator[tuple[int, str]]:
    """(instance id, file path) of every staged instance row."""
    for info in staged:
        match = archive.ROWS_NAME.fullmatch(info.name)
        if match is None or match.group(2) != INSTANCE:
            continue
        for line in staged.extractfile(info):
            row = json.loads(line)
            yield row["pk"], row["f"]["file_path"]


def _add_file(tar: tarfile.TarFile, path: Path, name: str, digest: FileDigest) -> bool:
    """Stream one file in: its size is read once, from the open file, so a file replaced
    meanwhile (an atomic checkpoint write) is read whole, old or new."""
    try:
        source = path.open("rb")
    except FileNotFoundError:
        return False
    with source:
        stat = os.fstat(source.fileno())
        hashing = Hashing(source)
        try:
            tar.addfile(member(name, stat.st_size, stat.st_mtime), hashing)
        except OSError as exc:
            if exc.errno is not None:  # the disk, not the file: a full disk says so itself
                raise
            raise ArchiveError(f"{path} shrank while it was read ({exc})") from exc
    digest.add(name, hashing.sha.hexdigest(), stat.st_size)
    return True


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
