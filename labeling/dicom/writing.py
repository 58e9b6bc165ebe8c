"""Writing: :func:`write_file` writes a Part 10 file byte for byte as pydicom would, without
copying the Pixel Data value twice on the way.
"""

from __future__ import annotations

from typing import BinaryIO

from pydicom import uid as dcm_uid
from pydicom.charset import default_encoding
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import dcmwrite, write_data_element

from .rules import ACCEPTED_SYNTAXES

_PIXEL_DATA = 0x7FE00010
_WRITE_CHUNK = 1 << 20
_ENCAPSULATED_START = b"\xfe\xff\x00\xe0"  # the first item tag of encapsulated pixel data


def write_file(ds: Dataset, fp: BinaryIO) -> None:
    """Write ``ds`` as a Part 10 file, byte for byte what ``ds.save_as(fp,
    enforce_file_format=True)`` writes, without copying the Pixel Data value twice on the way.

    pydicom encodes each element into a temporary buffer and then copies the buffer out: two
    extra copies of an 8 MB radiograph. Here pydicom writes the file meta and every element
    before Pixel Data, the Pixel Data value goes from the dataset's bytes to ``fp`` in 1 MB
    pieces, and pydicom writes whatever follows (trailing padding, say). Datasets this fast path
    does not cover (no Pixel Data, big endian, an ambiguous VR) go through ``save_as``.
    """
    pixel = ds.get_item(_PIXEL_DATA) if _PIXEL_DATA in ds else None
    meta = getattr(ds, "file_meta", None)
    syntax = None if meta is None else meta.get("TransferSyntaxUID")
    if not (
        isinstance(pixel, DataElement)
        and isinstance(pixel.value, bytes)
        and syntax in ACCEPTED_SYNTAXES
        and (syntax == dcm_uid.ImplicitVRLittleEndian or pixel.VR in ("OB", "OW"))
    ):
        ds.save_as(fp, enforce_file_format=True)
        return
    undefined = syntax.is_compressed
    if undefined and not pixel.value.startswith(_ENCAPSULATED_START):
        raise ValueError("compressed Pixel Data must be encapsulated")
    trailing = {tag: ds.get_item(tag) for tag in ds.keys() if tag >= _PIXEL_DATA}
    for tag in trailing:
        del ds[tag]
    out = DicomFileLike(fp)
    try:
        dcmwrite(out, ds, enforce_file_format=True)
    finally:
        for tag, elem in trailing.items():
            ds[tag] = elem
    pixel.is_undefined_length = undefined  # as dcmwrite sets it
    _write_pixel_data(out, pixel, undefined)
    encodings = ds.get("SpecificCharacterSet", default_encoding)
    for tag in sorted(trailing):
        if tag != _PIXEL_DATA and not (tag & 0xFFFF == 0 and tag >> 16 > 6):  # group lengths
            write_data_element(out, trailing[tag], encodings)


def _write_pixel_data(out: DicomFileLike, pixel: DataElement, undefined: bool) -> None:
    value = memoryview(pixel.value)
    pad = len(value) % 2
    out.write_tag(pixel.tag)
    if not out.is_implicit_VR:
        out.write(pixel.VR.encode("ascii"))
        out.write_US(0)  # reserved
    out.write_UL(0xFFFFFFFF if undefined else len(value) + pad)
    for start in range(0, len(value), _WRITE_CHUNK):
        out.write(value[start : start + _WRITE_CHUNK])
    if pad:
        out.write(b"\x00")
    if undefined:
        out.write_tag(0xFFFEE0DD)  # sequence delimiter
        out.write_UL(0)
