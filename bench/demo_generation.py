"""How fast the synthetic demo generator writes DICOM studies.

    .venv/bin/python bench/demo_generation.py --images 200 --size 2048 --workers 2

Writes into a temporary folder that is deleted afterwards (2,000 images at 2048² are 16 GB),
prints images/s and MB/s, and projects the time for the target: 2,000 images at 2048² in under
two minutes on two cores. The projection scales the measured time per image by pixel count,
which is how the generator's full-size work scales. `--stages` also times rendering alone in
one process, so the rest (DICOM encoding, disk, process overhead) can be told apart.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.synth import generate_demo, render_chest

TARGET_IMAGES, TARGET_SIZE, TARGET_SECONDS = 2000, 2048, 120.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=TARGET_SIZE)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", action="store_true", help="also time rendering alone")
    return parser.parse_args()


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children: robust to a busy machine."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _stages(size: int, count: int = 10) -> None:
    """Render time in one process, averaged over a few images."""
    labels = [(), ("increased_lung_marking", "aortosclerosis"), ("pleural_effusion",)]
    render_chest((), size, np.random.default_rng(0))  # warm up
    wall, cpu = time.perf_counter(), _cpu_seconds()
    for i in range(count):
        render_chest(labels[i % len(labels)], size, np.random.default_rng(i))
    wall_ms = (time.perf_counter() - wall) / count * 1000
    cpu_ms = (_cpu_seconds() - cpu) / count * 1000
    print(f"one process: render {wall_ms:.1f} ms wall, {cpu_ms:.1f} ms CPU per {size}² image")


def main() -> None:
    args = _arguments()
    if args.stages:
        _stages(args.size)
    cpu = _cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="cxr-demo-bench-") as folder:
        manifest = generate_demo(
            Path(folder), args.images, seed=args.seed, size=args.size, workers=args.workers
        )
        written = sum(path.stat().st_size for path in manifest.dicom_paths)
    cpu_per_image = (_cpu_seconds() - cpu) / manifest.n_images
    per_image = manifest.seconds / manifest.n_images
    scale = TARGET_IMAGES * (TARGET_SIZE / args.size) ** 2
    print(
        f"{manifest.n_images} images at {args.size}² with {args.workers} worker(s): "
        f"{manifest.seconds:.1f} s, {manifest.n_images / manifest.seconds:.1f} images/s, "
        f"{written / 1e6 / manifest.seconds:.0f} MB/s ({per_image * 1000:.0f} ms wall and "
        f"{cpu_per_image * 1000:.0f} ms CPU per image)"
    )
    for what, seconds in (
        ("measured wall time", per_image * scale),
        ("CPU time spread over 2 idle cores", cpu_per_image * scale / 2),
    ):
        verdict = "meets" if seconds < TARGET_SECONDS else "misses"
        print(
            f"projected {TARGET_IMAGES} images at {TARGET_SIZE}² from {what}: {seconds:.0f} s "
            f"({verdict} the {TARGET_SECONDS:.0f} s target)"
        )
    print(f"machine load average while measuring: {os.getloadavg()[0]:.1f} (shared: noisy)")


if __name__ == "__main__":
    main()
