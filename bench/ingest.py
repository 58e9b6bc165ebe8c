"""Ingest + training-cache throughput against plain pydicom decoding of the same files.

    .venv/bin/python bench/ingest.py [--images 200] [--size 2048] [--processes 2]

Generates uncompressed 12-bit DX files with the demo generator, then in the same run:
(a) plain ``pydicom.dcmread(...).pixel_array`` over every file in one process;
(b) ``manage.py ingest`` in one process (parse, de-identify, store, decode, resize, cache,
    database rows), with its peak RSS;
(c) the same files split over N ``manage.py ingest`` processes at once (scaling with cores).
Each ingest run uses a fresh SQLite database and data folder. Prints the rates and the ratios;
the goal is (b) ≥ 0.5 × (a) on one core.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def decode_all(paths: list[Path]) -> float:
    import pydicom

    started = time.perf_counter()
    for path in paths:
        pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is the work measured
    return time.perf_counter() - started


def manage(args: list[str], data_dir: Path, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "1", "CXR_DATA_DIR": str(data_dir), **extra}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def fresh_install(work: Path, name: str) -> Path:
    data = work / name
    data.mkdir()
    for args in (["migrate", "-v0"], ["teams", "create", "Bench"]):
        process = manage(args, data)
        _out, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"{' '.join(args)} failed: {err}")
    return data


def ingest(groups: list[list[Path]], data: Path) -> tuple[float, list[int]]:
    """Runs one `manage.py ingest` per group at once; wall seconds and each one's peak RSS."""
    wrapper = (
        "import resource, runpy, sys; sys.argv = sys.argv[1:];"
        "code = 0\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as exit:\n    code = exit.code or 0\n"
        "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)"
    )
    started = time.perf_counter()
    processes = []
    for group in groups:
        env = {**os.environ, "DEBUG": "1", "CXR_DATA_DIR": str(data)}
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        argv = [str(ROOT / "manage.py"), "ingest", "--team", "Bench", "--json", *map(str, group)]
        processes.append(subprocess.Popen(
            [sys.executable, "-c", wrapper, *argv], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    peaks = []
    for process in processes:
        _out, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"ingest failed: {err[-2000:]}")
        peaks.append(int(err.rsplit("maxrss_kb", 1)[1].split()[0]))
    return time.perf_counter() - started, peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    from labeling import synth

    work = Path(tempfile.mkdtemp(prefix="cxr-bench-ingest-"))
    try:
        manifest = synth.generate_demo(work / "files", args.images, seed=3, size=args.size)
        paths = sorted(manifest.dicom_paths)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(f"machine: {platform.node()} {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
        print(f"{len(paths)} files of {args.size}² 12-bit, {megabytes:.0f} MB")

        decode_all(paths[:5])  # warm the page cache and imports
        decode_s = decode_all(paths)
        decode_rate = len(paths) / decode_s
        print(f"(a) pydicom decode, 1 process : {decode_rate:7.1f} images/s")

        one_s, (one_peak,) = ingest([paths], fresh_install(work, "one"))
        one_rate = len(paths) / one_s
        print(f"(b) ingest + cache, 1 process : {one_rate:7.1f} images/s  "
              f"= {one_rate / decode_rate:.2f} × decode (goal ≥ 0.5); peak RSS {one_peak / 1024:.0f} MB")  # fmt: skip

        n = max(1, args.processes)
        groups = [paths[i::n] for i in range(n)]
        many_s, peaks = ingest(groups, fresh_install(work, "many"))
        many_rate = len(paths) / many_s
        print(f"(c) ingest + cache, {n} processes: {many_rate:7.1f} images/s  "
              f"= {many_rate / one_rate:.2f} × one process; peak RSS {max(peaks) / 1024:.0f} MB each")  # fmt: skip
        print(
            f"this process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
