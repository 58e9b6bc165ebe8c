"""GDCM as the last decoder of a compressed frame, for streams pydicom's plugins refuse.

pylibjpeg's libjpeg refuses some real JPEG streams (pydicom's ``JPEG-lossy.dcm``, a 12-bit
JPEG Extended film: "scan start must be zero"), and pydicom does not hand 12-bit JPEG Extended
to its own GDCM plugin. GDCM 3 decodes it (checked against the same film's other encodings in
tests/labeling/test_import_breadth.py). Greyscale and RGB frames only: what GDCM returns for
other colour spaces depends on the codec.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame

try:
    import gdcm
except ImportError:  # python-gdcm is a dependency; without it there is no fallback
    gdcm = None

_PIXEL_DATA = (0x7FE0, 0x0010)


def gdcm_frame(ds: Dataset, index: int) -> np.ndarray | None:
    """Frame ``index`` decoded by GDCM, or ``None`` when GDCM is absent, the image is not
    greyscale or RGB, or GDCM cannot decode it either."""
    samples = int(ds.SamplesPerPixel)
    photometric = str(ds.PhotometricInterpretation)
    allocated = int(ds.BitsAllocated)
    if gdcm is None or allocated not in (8, 16) or photometric not in _GDCM_PHOTOMETRIC:
        return None
    rows, columns = int(ds.Rows), int(ds.Columns)
    try:
        frames = int(ds.get("NumberOfFrames") or 1)
        data = get_frame(ds.PixelData, index, number_of_frames=frames)
        image = _gdcm_image(ds, data, rows, columns)
        buffer = image.GetBuffer()
    except (ValueError, TypeError, KeyError, RuntimeError, AttributeError):
        return None
    if not buffer:
        return None
    raw = buffer.encode("utf-8", "surrogateescape")  # GDCM hands back char* as str
    signed = int(ds.PixelRepresentation) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    shape = (rows, columns, samples) if samples > 1 else (rows, columns)
    if len(raw) < dtype.itemsize * int(np.prod(shape)):
        return None
    return np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape))).reshape(shape)


_GDCM_PHOTOMETRIC = {"MONOCHROME1", "MONOCHROME2", "RGB"}


def _gdcm_image(ds: Dataset, data: bytes, rows: int, columns: int):
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(data)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(*_PIXEL_DATA))
    element.SetValue(fragments.__ref__())
    image = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((columns, rows, 1))
    image.SetDataElement(element)
    kind = gdcm.PhotometricInterpretation.GetPIType(str(ds.PhotometricInterpretation))
    image.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(kind))
    if int(ds.SamplesPerPixel) > 1:
        image.SetPlanarConfiguration(int(ds.get("PlanarConfiguration", 0) or 0))
    syntax = gdcm.TransferSyntax.GetTSType(str(ds.file_meta.TransferSyntaxUID))
    image.SetTransferSyntax(gdcm.TransferSyntax(syntax))
    stored = int(ds.BitsStored)
    image.SetPixelFormat(
        gdcm.PixelFormat(
            int(ds.SamplesPerPixel),
            int(ds.BitsAllocated),
            stored,
            stored - 1,
            int(ds.PixelRepresentation),
        )
    )
    return image
