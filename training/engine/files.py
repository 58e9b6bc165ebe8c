"""Atomic file writes (no torch, no Django): the engine's checkpoints and the web app's cached
files are written beside their final path and renamed over it, so a reader sees the whole file
or the previous one, never a truncated one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(
    path: str | Path, write: Callable[[BinaryIO], object], *, sync: bool = False
) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``.

    ``sync`` flushes the data to disk before the rename (checkpoints: a crash must not leave an
    empty file where the last good one was). The file is readable by the group and others, as
    the web app and the workers may run as different users.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes it private
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path
