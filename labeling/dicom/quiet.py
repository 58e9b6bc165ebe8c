"""Decoder chatter kept out of the user's terminal and into the debug log.

pydicom reports what it tolerates twice, through its ``pydicom`` logger and as a Python
warning; the codec plugins log through their own loggers; and the C libraries under them
(OpenJPEG, libjpeg inside GDCM) print straight to file descriptor 2, which a command at a
terminal captures around each decode (:func:`native_output_captured`). None of it is for the
person running an import: a file is either imported or rejected with one line saying why. All of
it goes to the log at DEBUG (``LOG_LEVEL=DEBUG`` shows it), where someone chasing a decoder bug
finds it.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

DECODER_LOGGERS = ("pydicom", "pylibjpeg", "openjpeg", "libjpeg", "rle", "jpeg_ls", "gdcm")


class DemoteToDebug(logging.Filter):
    """Records of a decoder logger become DEBUG records, dropped unless DEBUG is on.

    Lowering the record's level is not enough on its own: a parent's handlers do not look at
    logger levels again, so the record is dropped here when the root logger would not show
    DEBUG records."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_FILTER = DemoteToDebug()


def quiet_decoder_logs() -> None:
    """Demote the decoder loggers and drop pydicom's duplicate Python warnings (idempotent)."""
    for name in DECODER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    # pydicom's warn_and_log sends each message to its logger as well (demoted above).
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")


_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_spool = None
_capturing = False


@contextmanager
def native_output_captured() -> Iterator[None]:
    """Turn :func:`native_output_to_log` on for the duration (and for worker processes forked
    meanwhile). A command run at a terminal (``manage.py ingest``) does; a server does not,
    since a redirected descriptor 2 would also take other threads' log lines for that time."""
    global _capturing
    previous, _capturing = _capturing, True
    try:
        yield
    finally:
        _capturing = previous


@contextmanager
def native_output_to_log() -> Iterator[None]:
    """While C code decodes, file descriptor 2 points at a temporary file whose text is logged
    at DEBUG afterwards, when :func:`native_output_captured` is on (else this does nothing).
    Nested and concurrent uses share one redirection: the first in sets it up, the last out
    restores the descriptor and logs what was written."""
    if not _capturing:
        yield
        return
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _saved_fd, _spool
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _spool = tempfile.TemporaryFile()
            _saved_fd = os.dup(2)
            os.dup2(_spool.fileno(), 2)
        _depth += 1


def _leave() -> None:
    global _depth, _saved_fd, _spool
    with _lock:
        _depth -= 1
        if _depth > 0 or _saved_fd is None or _spool is None:
            return
        sys.stderr.flush()
        os.dup2(_saved_fd, 2)
        os.close(_saved_fd)
        _spool.seek(0)
        text = _spool.read().decode("utf-8", errors="replace").strip()
        _spool.close()
        _saved_fd, _spool = None, None
    if text:
        log.debug("decoder output: %s", text)
