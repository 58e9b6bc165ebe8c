"""Native encodings the store does not keep as they came: they are rewritten at import, once,
into the one native layout every later reader assumes (Explicit or Implicit VR Little Endian,
whole-byte samples, one sample value per pixel and channel).

* Explicit VR Big Endian (retired, still written by old modalities): re-encoded as Explicit VR
  Little Endian, as Deflated files already are (inflate.py). The DICOMweb views serve native
  frames as byte ranges of the stored file and say the frames are little endian; the viewer's
  loader reads exactly that.
* 1-bit pixel data (``BitsAllocated`` 1, segmentations and masks): unpacked to one byte per pixel
  (``BitsAllocated`` 8, ``BitsStored`` 1). Packed frames do not start on byte boundaries, so a
  frame could not be served as a byte range of the file.
* Uncompressed ``YBR_FULL_422``: its chroma is shared by pixel pairs, so a frame is not
  rows × columns × 3 samples; it is expanded to ``YBR_FULL`` (the same colours, no loss).

Pure module (no Django); decoding goes through pydicom's native decoder, which knows the byte
orders and bit packings.
"""

from __future__ import annotations

import numpy as np
from pydicom import uid as dcm_uid
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder

from .rules import DECODE_ERRORS, DicomRejected

BIG_ENDIAN = dcm_uid.ExplicitVRBigEndian
# Bytes per value of the binary VRs whose values pydicom keeps as bytes in the file's order.
_WORD_BYTES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_PIXEL_DATA = 0x7FE00010


def needs_rewrite(ds: Dataset) -> bool:
    """Whether :func:`rewrite_native` changes ``ds``: big endian, 1-bit or native 4:2:2."""
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax == BIG_ENDIAN:
        return True
    if syntax.is_compressed:
        return False
    return int(ds.BitsAllocated) == 1 or ds.PhotometricInterpretation == "YBR_FULL_422"


def rewrite_native(ds: Dataset) -> None:
    """Rewrite the pixel data (and, from big endian, every other binary value) of a native
    dataset in place, as the module docstring says. The header must have been validated: the
    decode allocates what it announces."""
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        frames, _meta = get_decoder(syntax).as_array(ds, raw=True)
    except DECODE_ERRORS as exc:
        raise DicomRejected("bad_pixel_data", f"{syntax.name} pixel data: {exc}") from exc
    if syntax == BIG_ENDIAN:
        _swap_binary_values(ds)
        ds.file_meta.TransferSyntaxUID = dcm_uid.ExplicitVRLittleEndian
        _now_little_endian(ds)
    if int(ds.BitsAllocated) == 1:
        frames = frames.astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 1, 0
    if ds.PhotometricInterpretation == "YBR_FULL_422":
        ds.PhotometricInterpretation = "YBR_FULL"  # the decoder expanded the shared chroma
    if "PlanarConfiguration" in ds:
        ds.PlanarConfiguration = 0  # the decoder returns samples interleaved
    little = frames.astype(frames.dtype.newbyteorder("<"), copy=False)
    ds.PixelData = little.tobytes()
    ds[_PIXEL_DATA].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
    ds[_PIXEL_DATA].is_undefined_length = False


def _swap_binary_values(ds: Dataset) -> None:
    """OW, OF, OL, OD and OV values other than Pixel Data (LUT data, overlays, palettes), which
    pydicom keeps as the file's bytes: swapped to little endian. Numbers of other VRs (US, FL,
    ...) were decoded by pydicom and are written in the new order by the writer."""
    for elem in ds.iterall():
        if elem.tag == _PIXEL_DATA or not isinstance(elem.value, bytes):
            continue
        size = _WORD_BYTES.get(elem.VR)
        if size is None:
            continue
        usable = len(elem.value) - len(elem.value) % size
        words = np.frombuffer(elem.value, dtype=f">u{size}", count=usable // size)
        elem.value = words.astype(f"<u{size}").tobytes() + elem.value[usable:]


def _now_little_endian(ds: Dataset) -> None:
    """Mark the dataset and every sequence item as read little endian, so the writer encodes
    their (already decoded) values without a second, byte-order-changing pass."""
    ds.set_original_encoding(False, True, ds.original_character_set)
    for elem in ds.iterall():
        if elem.VR == "SQ":
            for item in elem.value:
                item.set_original_encoding(False, True, item.original_character_set)
