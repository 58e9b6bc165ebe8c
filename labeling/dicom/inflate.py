"""Bounded inflation of Deflated Explicit VR Little Endian files (PS3.5 A.5).

pydicom inflates a deflated dataset in one ``zlib.decompress`` call, in memory and without a
limit: 2 MB of deflated zeros become 2 GB before anything can look at them. Here the deflate
stream is inflated a chunk at a time into a spooled temporary file (memory up to
:data:`SPOOL_BYTES`, then disk) and stopped with ``DicomRejected("too_large")`` the moment the
output passes the cap. The result is the same file re-labelled Explicit VR Little Endian (the
inflated bytes are exactly that encoding), with the meta group length recomputed, so every
reader after this point sees an ordinary file and never inflates anything.

Every entry point goes through here before anything parses the dataset: :func:`read_dicom`
inflates what it is given, and STOW-RS calls :func:`inflated` before it reads a part's UIDs.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from pydicom import uid as dcm_uid

from .rules import DEFAULT_LIMITS, DicomRejected, ReadLimits
from .scan import LONG_VRS, Cursor, scan_file_meta

# Inflated files up to this size stay in memory; bigger ones go to a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024
# The file meta group of a real file is a few hundred bytes.
MAX_META_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024
_OUTPUT_CHUNK = 1024 * 1024
_PREAMBLE = 132
_GROUP_LENGTH, _SYNTAX = 0x00020000, 0x00020010
_EXPLICIT_VALUE = dcm_uid.ExplicitVRLittleEndian.encode("ascii") + b"\0"  # even length


@contextmanager
def inflated(source: BinaryIO, limits: ReadLimits = DEFAULT_LIMITS) -> Iterator[BinaryIO]:
    """``source`` itself when it is not deflated, else a spooled file holding it inflated;
    either way positioned at the start of the file, and valid inside the ``with`` only.

    Raises ``DicomRejected``: ``not_dicom`` and the like for a file without a usable file meta
    group, ``too_large`` when the inflated file would pass ``limits.max_inflated_bytes``,
    ``bad_deflate`` or ``truncated`` for a damaged deflate stream.
    """
    start = source.tell()
    end = source.seek(0, io.SEEK_END)
    syntax, meta_end = _file_meta(source, start, end, limits)
    if syntax != dcm_uid.DeflatedExplicitVRLittleEndian:
        source.seek(start)
        yield source
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        inflate(source, start, meta_end, end, spool, max_bytes=limits.max_inflated_bytes)
        spool.seek(0)
        yield spool


def inflate(
    source: BinaryIO, start: int, meta_end: int, end: int, out: BinaryIO, *, max_bytes: int
) -> int:
    """Write the deflated file ``source[start:end]``, whose file meta group ends at
    ``meta_end``, to ``out`` inflated and re-labelled Explicit VR Little Endian; returns the
    number of bytes written (never more than ``max_bytes``)."""
    if meta_end - start > _PREAMBLE + MAX_META_BYTES:
        raise DicomRejected(
            "bad_value", f"file meta information larger than {MAX_META_BYTES} bytes"
        )
    source.seek(start)
    head = source.read(meta_end - start)
    written = _write_capped(out, head[:_PREAMBLE] + _relabelled(head[_PREAMBLE:]), 0, max_bytes)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    remaining = end - meta_end
    try:
        while remaining > 0 and not inflater.eof:
            data = source.read(min(_READ_CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            while data and not inflater.eof:
                written = _write_capped(
                    out, inflater.decompress(data, _OUTPUT_CHUNK), written, max_bytes
                )
                data = inflater.unconsumed_tail
        if not inflater.eof:
            written = _write_capped(out, inflater.flush(), written, max_bytes)
    except zlib.error as exc:
        raise DicomRejected("bad_deflate", f"the deflated dataset is corrupt: {exc}") from exc
    if not inflater.eof:
        raise DicomRejected("truncated", "the deflated dataset ends before its deflate stream")
    return written


def _write_capped(out: BinaryIO, data: bytes, written: int, max_bytes: int) -> int:
    written += len(data)
    if written > max_bytes:
        raise DicomRejected(
            "too_large",
            f"the deflated dataset inflates to more than the limit of {max_bytes} bytes",
        )
    out.write(data)
    return written


def _file_meta(fp: BinaryIO, start: int, end: int, limits: ReadLimits) -> tuple[dcm_uid.UID, int]:
    """The Transfer Syntax UID and where the file meta group ends, by the structural scan
    (which reads the group the way pydicom does: up to the first tag of another group)."""
    cursor = Cursor(fp, start, end, limits)
    syntax = scan_file_meta(cursor)
    return syntax, cursor.pos


def _relabelled(meta: bytes) -> bytes:
    """The file meta elements with Transfer Syntax UID set to Explicit VR Little Endian and
    the group length (0002,0000) recomputed."""
    elements = []
    pos = 0
    while pos < len(meta):
        group, element, vr = struct.unpack_from("<HH2s", meta, pos)
        if vr in LONG_VRS:
            header, length = 12, struct.unpack_from("<L", meta, pos + 8)[0]
        else:
            header, length = 8, struct.unpack_from("<H", meta, pos + 6)[0]
        tag, raw = group << 16 | element, meta[pos : pos + header + length]
        pos += header + length
        if tag == _SYNTAX:
            raw = struct.pack("<HH2sH", 0x0002, 0x0010, b"UI", len(_EXPLICIT_VALUE))
            raw += _EXPLICIT_VALUE
        if tag != _GROUP_LENGTH:
            elements.append(raw)
    body = b"".join(elements)
    return struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(body)) + body
