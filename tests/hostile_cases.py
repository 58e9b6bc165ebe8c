"""Hostile inputs that once crashed an import or a DICOMweb response, one builder each.

Issue #17 found these; the hostile-input tests and the fuzz suite (``tests/fuzz_corpus.py``)
import them. Every builder returns the bytes of one Part 10 file (or, for the keep-alive case,
one request body) and is deterministic; the names are part of the fuzz suite's contract, so keep
them stable:

* :func:`meta_intruder`: a non-group-2 element inside the File Meta Information group, so
  pydicom ends the meta there and reads the rest of group 0002 into the dataset;
* :func:`patient_id_ob`: Patient ID with VR OB (bytes where de-identification writes text);
* :func:`corrupt_deflate` and :func:`truncated_deflate`: Deflated Explicit VR Little Endian files
  whose deflate stream is invalid or cut short;
* :func:`non_numeric_ds`: a file that is accepted but holds Slice Thickness ``'\\x98.67'``;
* :func:`refused_stow_body`: a STOW-RS body sent with :data:`REFUSED_STOW_CONTENT_TYPE`, which
  the server refuses (415) before reading it;
* :func:`deflate_bomb`: a small valid dataset and an OB element of zeros, deflated: about 2 MB
  that inflate to 2 GiB; :func:`deflated` is the same dataset without the bomb.
"""

from __future__ import annotations

import functools
import struct
import zlib

from pydicom import uid as dcm_uid

from tests import dicom_factory

GIB = 1 << 30
PREAMBLE = 132  # 128 bytes and "DICM"
REFUSED_STOW_CONTENT_TYPE = "application/json"
_ZEROS_BLOCK = 1 << 20
# Identities in dicom_factory's numbering, far from the ones other tests use.
BASE_IDENTITY = 9170


def good(identity: int = BASE_IDENTITY) -> bytes:
    """A valid Explicit VR Little Endian DX file, for archives that mix good and hostile files."""
    return _file(identity)


def meta_intruder(identity: int = BASE_IDENTITY + 1) -> bytes:
    """Specific Character Set (0008,0005) between Transfer Syntax UID and Implementation Class
    UID, inside the length that (0002,0000) gives the meta group."""
    data = _file(identity)
    elements, end = _meta_elements(data)
    intruder = _explicit(0x00080005, b"CS", b"ISO_IR 100")
    out = []
    for tag, raw in elements:
        if tag == 0x00020000:
            continue
        out.append(raw)
        if tag == 0x00020010:
            out.append(intruder)
    body = b"".join(out)
    return data[:PREAMBLE] + _group_length(len(body)) + body + data[end:]


def patient_id_ob(identity: int = BASE_IDENTITY + 2) -> bytes:
    """Patient ID (0010,0020) encoded with VR OB instead of LO."""
    ds = dicom_factory.make_dx(identity=identity, PatientID=None)
    ds.add_new(0x00100020, "OB", f"PID{identity:04d}".encode())
    return dicom_factory.to_bytes(ds)


def non_numeric_ds(identity: int = BASE_IDENTITY + 3) -> bytes:
    """Slice Thickness (0018,0050) DS holding ``b'\\x98.67'``: not a number in any charset."""
    data = _file(identity, SliceThickness="1.67")
    old = _explicit(0x00180050, b"DS", b"1.67")
    return dicom_factory.replace_element(data, old, _explicit(0x00180050, b"DS", b"\x98.67"))


def deflated(identity: int = BASE_IDENTITY + 4) -> bytes:
    """A valid file in Deflated Explicit VR Little Endian."""
    meta, dataset = _split(_file(identity))
    return _deflated_meta(meta) + _deflate(dataset)


def corrupt_deflate(identity: int = BASE_IDENTITY + 5) -> bytes:
    """Deflated, with the first block header made invalid (BTYPE 11 is reserved)."""
    data = bytearray(deflated(identity))
    meta_end = _meta_elements(bytes(data))[1]
    data[meta_end] = 0x07  # BFINAL 1, BTYPE 11: "invalid block type"
    return bytes(data)


def truncated_deflate(identity: int = BASE_IDENTITY + 6) -> bytes:
    """Deflated, cut halfway through the deflate stream."""
    data = deflated(identity)
    meta_end = _meta_elements(data)[1]
    return data[: meta_end + (len(data) - meta_end) // 2]


def refused_stow_body(size: int = 4 * 1024 * 1024) -> bytes:
    """A body the server never reads: sent with :data:`REFUSED_STOW_CONTENT_TYPE` it is a 415
    answered from the headers alone. Far larger than what a server drains by itself (gunicorn:
    64 KiB) or what sits in socket buffers unnoticed."""
    return (b"--x\r\nContent-Type: application/dicom\r\n\r\n" + bytes(size))[:size]


@functools.lru_cache(maxsize=2)
def deflate_bomb(inflated_bytes: int = 2 * GIB, identity: int = BASE_IDENTITY + 7) -> bytes:
    """A valid dataset followed by Data Set Trailing Padding (FFFC,FFFC), OB, of
    ``inflated_bytes`` zeros, deflated: 2 GiB compress to about 2 MB.

    Built a 1 MiB block at a time without holding the zeros: after a full flush the compressor
    starts afresh, so every block of zeros compresses to the same bytes, compressed once.
    """
    if inflated_bytes % _ZEROS_BLOCK or not 0 < inflated_bytes < 0xFFFFFFFF:
        raise ValueError("inflated_bytes: a whole number of MiB below 4 GiB")
    meta, dataset = _split(_file(identity))
    head = dataset + struct.pack("<HH2sHL", 0xFFFC, 0xFFFC, b"OB", 0, inflated_bytes)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    prefix = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(_ZEROS_BLOCK)) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush(zlib.Z_FINISH)
    return _deflated_meta(meta) + prefix + block * (inflated_bytes // _ZEROS_BLOCK) + end


def dataset_offset(data: bytes) -> int:
    """Where the dataset of a Part 10 file starts (after the preamble and the file meta group);
    for a deflated file, where its deflate stream starts."""
    return _meta_elements(data)[1]


# --------------------------------------------------------------------------------------------
# Encoding helpers
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _file(identity: int, **attributes: str) -> bytes:
    return dicom_factory.to_bytes(dicom_factory.make_dx(identity=identity, **attributes))


def _explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b" " if vr not in (b"UI", b"OB") else b"\0"
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _group_length(length: int) -> bytes:
    return struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, length)


def _meta_elements(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The encoded File Meta elements of a well-formed file, and where the dataset starts."""
    pos, elements = PREAMBLE, []
    while struct.unpack_from("<H", data, pos)[0] == 0x0002:
        group, element, vr = struct.unpack_from("<HH2s", data, pos)
        if vr in (b"OB", b"UN", b"UT", b"SQ", b"OW"):
            length, header = struct.unpack_from("<L", data, pos + 8)[0], 12
        else:
            length, header = struct.unpack_from("<H", data, pos + 6)[0], 8
        end = pos + header + length
        elements.append((group << 16 | element, data[pos:end]))
        pos = end
    return elements, pos


def _split(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    elements, end = _meta_elements(data)
    return elements, data[end:]


def _deflated_meta(elements: list[tuple[int, bytes]]) -> bytes:
    syntax = _explicit(0x00020010, b"UI", dcm_uid.DeflatedExplicitVRLittleEndian.encode())
    body = b"".join(
        syntax if tag == 0x00020010 else raw for tag, raw in elements if tag != 0x00020000
    )
    return b"\0" * 128 + b"DICM" + _group_length(len(body)) + body


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()
