"""Ingest pixel path against plain pydicom decoding, on one core.

    python bench/pixel_pipeline.py [--n 20] [--size 2048] [--window] [--no-codecs]

Writes N uncompressed ``size``² 12-bit DX files to a temporary folder, then times

* baseline: ``pydicom.dcmread(path).pixel_array``;
* pipeline: ``read_dicom`` (structural scan, full parse, validation) + ``to_uint8`` +
  ``resize_u8(…, 256)``, i.e. what ingest does for the training cache;

and prints both rates and their ratio (issue 3's goal: pipeline ≥ 0.5 × baseline). It then
times one decode of an RLE and a JPEG 2000 lossless copy. Threads are pinned to one before
numpy loads; run under ``taskset -c 0`` to pin the process too. Without ``--window`` the files
carry no Window Center/Width, so the pipeline takes its slowest path (percentile window).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from pydicom import uid as dcm_uid  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.dicom import read_dicom, resize_u8, to_uint8  # noqa: E402
from tests.dicom_factory import encode, make_dx, phantom, write  # noqa: E402

MAX_BYTES = 1 << 30


def make_files(folder: Path, n: int, size: int, window: bool) -> list[Path]:
    rng = np.random.default_rng(0)
    base = phantom(size, size, 12).astype(np.int64)
    paths = []
    for i in range(n):
        noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 4095).astype(np.uint16)
        extra = {"WindowCenter": 2048, "WindowWidth": 4000} if window else {}
        ds = make_dx(pixels=noisy, identity=i + 1, **extra)
        paths.append(write(ds, folder / f"{i:05d}.dcm"))
    return paths


def rate(paths: list[Path], work: Callable[[Path], object], rounds: int = 2) -> float:
    """Images per second, best of ``rounds`` passes (the machine may be shared)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for path in paths:
            work(path)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def baseline(path: Path) -> np.ndarray:
    return pydicom.dcmread(path).pixel_array


def pipeline(path: Path) -> np.ndarray:
    return resize_u8(to_uint8(read_dicom(path, max_bytes=MAX_BYTES)), 256)


def codec_seconds(source: Path, syntax: str, folder: Path) -> tuple[float, float]:
    """(encode once, best of two decodes) seconds for one image in ``syntax``."""
    start = time.perf_counter()
    path = write(encode(pydicom.dcmread(source), syntax), folder / f"{syntax}.dcm")
    encoded = time.perf_counter() - start
    decode = 1.0 / rate([path], lambda p: to_uint8(read_dicom(p, max_bytes=MAX_BYTES)))
    return encoded, decode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="number of files")
    parser.add_argument("--size", type=int, default=2048, help="rows and columns")
    parser.add_argument("--window", action="store_true", help="files carry a window")
    parser.add_argument("--no-codecs", action="store_true", help="skip RLE / JPEG 2000")
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {cpus} CPU(s) visible")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_files(folder, args.n, args.size, args.window)
        size_mb = paths[0].stat().st_size / 1e6
        print(f"{args.n} files of {args.size}² 12-bit, {size_mb:.1f} MB each")
        rate(paths, baseline, rounds=1)  # warm the page cache
        plain = rate(paths, baseline)
        ours = rate(paths, pipeline)
        print(f"pydicom dcmread + pixel_array      : {plain:7.1f} images/s")
        print(f"read_dicom + to_uint8 + resize_u8  : {ours:7.1f} images/s")
        print(f"ratio (goal >= 0.5)                : {ours / plain:7.2f}")
        if not args.no_codecs:
            for syntax in (dcm_uid.RLELossless, dcm_uid.JPEG2000Lossless):
                encoded, decoded = codec_seconds(paths[0], syntax, folder)
                print(
                    f"{syntax.name:<44}: read+to_uint8 {decoded * 1000:7.1f} ms/image "
                    f"(encode {encoded:.1f} s)"
                )


if __name__ == "__main__":
    main()
