"""GDCM as the last decoder of a compressed frame, for streams pydicom's plugins refuse.

pylibjpeg's libjpeg refuses some real JPEG streams (pydicom's ``JPEG-lossy.dcm``, a 12-bit
JPEG Extended film: "scan start must be zero"), and pydicom does not hand 12-bit JPEG Extended
to its own GDCM plugin. GDCM 3 decodes it (checked against the same film's other encodings in
tests/labeling/test_import_breadth.py). Greyscale and RGB frames only: what GDCM returns for
other colour spaces depends on the codec.

GDCM calls ``abort()`` on some damaged streams (found by tests/labeling/test_fuzz.py), which
would take the whole web or import process with it. So it never runs in the caller's process:
pydicom's own GDCM plugin is removed from its decoders (:func:`keep_gdcm_out_of_pydicom`), and
the fallback decodes in a forked child that sends the pixels back through a pipe; a child that
dies, or runs past :data:`GDCM_SECONDS`, is a decode failure like any other.
"""

from __future__ import annotations

import faulthandler
import os
import select
import signal
import time
from collections.abc import Callable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import get_decoder
from pydicom.pixels.decoders.gdcm import DECODER_DEPENDENCIES

try:
    import gdcm
except ImportError:  # python-gdcm is a dependency; without it there is no fallback
    gdcm = None

# A 2048² 16-bit JPEG 2000 frame takes GDCM about a second on one core.
GDCM_SECONDS = 60.0
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
    except (ValueError, TypeError, KeyError):
        return None
    signed = int(ds.PixelRepresentation) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    shape = (rows, columns, samples) if samples > 1 else (rows, columns)
    size = dtype.itemsize * int(np.prod(shape))

    def decode() -> bytes:
        buffer = _gdcm_image(ds, data, rows, columns).GetBuffer()
        return buffer.encode("utf-8", "surrogateescape")[:size]  # GDCM gives char* as str

    raw = in_child(decode, size)
    if raw is None or len(raw) != size:
        return None
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def in_child(work: Callable[[], bytes], size: int) -> bytes | None:
    """``work()`` run in a forked child, its bytes (at most ``size``) read back; ``None`` when
    the child fails, dies or takes longer than :data:`GDCM_SECONDS`."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no logging, no cleanup handlers, just the bytes
        status = 1
        try:
            faulthandler.disable()  # an abort here is expected, and answered by the parent
            os.close(reader)
            view = memoryview(work())
            while view:
                view = view[os.write(writer, view[: 1 << 20]) :]
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    try:
        data = _read_all(reader, size, time.monotonic() + GDCM_SECONDS)
    finally:
        os.close(reader)
        if data is None:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if data is None or not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return None
    return data


def _read_all(fd: int, size: int, deadline: float) -> bytes | None:
    chunks, total = [], 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > size:
            return None
        chunks.append(chunk)


def keep_gdcm_out_of_pydicom() -> None:
    """Remove GDCM from pydicom's decoder plugins (see the module docstring); idempotent."""
    for syntax in DECODER_DEPENDENCIES:
        try:
            get_decoder(syntax).remove_plugin("gdcm")
        except ValueError:  # already removed
            continue


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
