"""What the encodings added by #14 cost at import, against plain Explicit VR Little Endian.

    python bench/import_breadth.py [--size 2048] [--repeat 5]

For one ``size``² 12-bit radiograph written as Explicit VR Little Endian, Explicit VR Big Endian
(re-encoded to little endian at import) and BitsAllocated 32, and one ``size``² 1-bit mask,
times ``read_dicom`` + ``to_uint8`` + ``resize_u8(…, 256)`` (what ingest does for the training
cache), best of ``--repeat``. Then one decode of pydicom's ``JPEG-lossy.dcm``, which only GDCM
decodes, in its forked child (labeling/dicom/fallback.py), against pylibjpeg's decode of the
same film (``JPGExtended.dcm``). The machine may be shared: read the figures as indications.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.dicom import native_output_captured, read_dicom, resize_u8, to_uint8
from tests.dicom_factory import (
    make_dx,
    make_one_bit,
    phantom,
    to_big_endian_bytes,
    to_bytes,
)

MAX = 1 << 31


def best(seconds: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        seconds()
        times.append(time.perf_counter() - started)
    return min(times)


def ingest_path(data: bytes) -> Callable[[], None]:
    def run() -> None:
        resize_u8(to_uint8(read_dicom(io.BytesIO(data), max_bytes=MAX)), 256)

    return run


def thirty_two_bit(size: int) -> bytes:
    ds = make_dx(rows=size, columns=size)
    values = phantom(size, size, bits_stored=12).astype(np.uint32) * 1000
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
    ds.PixelData = values.tobytes()
    return to_bytes(ds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    size = args.size
    little = make_dx(rows=size, columns=size)
    mask = phantom(size, size, bits_stored=8) > 128
    cases = {
        "Explicit VR Little Endian, 12-bit": to_bytes(little),
        "Explicit VR Big Endian, 12-bit": to_big_endian_bytes(little),
        "BitsAllocated 32": thirty_two_bit(size),
        "BitsAllocated 1 (mask)": to_bytes(make_one_bit(mask)),
    }
    print(f"read_dicom + to_uint8 + resize_u8, {size}x{size}, best of {args.repeat}:")
    baseline = None
    for name, data in cases.items():
        seconds = best(ingest_path(data), args.repeat)
        baseline = baseline or seconds
        print(f"  {name:36s} {seconds * 1000:8.1f} ms  ({seconds / baseline:.2f}x)")
    files = Path(pydicom.__file__).parent / "data" / "test_files"
    gdcm = best(ingest_path((files / "JPEG-lossy.dcm").read_bytes()), args.repeat)
    libjpeg = best(ingest_path((files / "JPGExtended.dcm").read_bytes()), args.repeat)
    print("JPEG Extended 12-bit, 1024x256:")
    print(f"  pylibjpeg (JPGExtended.dcm)          {libjpeg * 1000:8.1f} ms")
    print(f"  GDCM in a forked child (JPEG-lossy)  {gdcm * 1000:8.1f} ms")


if __name__ == "__main__":
    with native_output_captured():  # GDCM's libjpeg messages to the DEBUG log, as in ingest
        main()
