"""The DIMSE storage listener against Orthanc's DIMSE port: dcmtk's ``storescu`` of the same
files, one association each, on loopback.

    .venv/bin/python bench/dimse_store.py                  # 500 files of 2048x2048, 12-bit
    .venv/bin/python bench/dimse_store.py --files 50 --json

The files come from ``tests/dicom_factory.py`` (the chest phantom, one patient, study and
instance each, about 8 MiB uncompressed). ``manage.py dicom_listener`` runs as its own process
over a throwaway SQLite database under a temporary ``CXR_DATA_DIR``, with de-identification on
(the team default): the figure includes parsing, de-identification, the decode into the 256x256
training cache and the rows. Orthanc (Debian package, ``tests/orthanc.py``) stores the same
files. Printed: both wall times, their ratio (goal: at most 2), and the listener's peak resident
memory (``VmHWM``; goal: under 400 MB). The machine may be shared: read them as indications.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PEER = "BENCHSCU"
LISTENER_AE = "CXR_BENCH"


def make_files(folder: Path, count: int, size: int) -> int:
    from tests import dicom_factory

    folder.mkdir(parents=True)
    pixels = dicom_factory.phantom(size, size, 12)
    total = 0
    for n in range(count):
        ds = dicom_factory.make_dx(identity=n + 1, pixels=pixels)
        total += dicom_factory.write(ds, folder / f"dx-{n:04d}.dcm").stat().st_size
    return total


def storescu(port: int, called: str, folder: Path) -> float:
    command = ["storescu", "-aet", PEER, "-aec", called, "+sd", "127.0.0.1", str(port), str(folder)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"storescu to port {port} failed: {done.stderr[-2000:]}")
    return elapsed


def echo_until_ready(port: int, called: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    command = ["echoscu", "-aet", PEER, "-aec", called, "127.0.0.1", str(port)]
    while subprocess.run(command, capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit("the listener did not answer C-ECHO")
        time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_listener(work: Path, folder: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, instances stored)."""
    from tests.orthanc import free_port

    data = work / "var"
    port = free_port()
    env = {**os.environ, "CXR_DATA_DIR": str(data), "DEBUG": "1",
           "DATABASE_URL": f"sqlite:///{data / 'bench.sqlite3'}",
           "CXR_PACS_ALLOWED_HOSTS": "127.0.0.1", "CXR_DICOM_LISTENER_HOST": "127.0.0.1",
           "CXR_DICOM_LISTENER_PORT": str(port), "LOG_LEVEL": "WARNING"}  # fmt: skip
    env.pop("REDIS_URL", None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    setup = (
        "from teams.services import create_team\n"
        "from labeling.models import DicomListener, DicomPeer\n"
        "team = create_team('Bench')\n"
        f"DicomListener.objects.create(team=team, ae_title='{LISTENER_AE}', port={port})\n"
        f"DicomPeer.objects.create(team=team, ae_title='{PEER}', host='127.0.0.1')\n"
    )
    subprocess.run([python, "manage.py", "shell", "-c", setup], cwd=ROOT, env=env, check=True)
    log = (work / "listener.log").open("w")
    process = subprocess.Popen(
        [python, "manage.py", "dicom_listener", "--poll", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        echo_until_ready(port, LISTENER_AE)
        elapsed = storescu(port, LISTENER_AE, folder)
        peak = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
    count = subprocess.run(
        [python, "manage.py", "shell", "-c",
         "from labeling.models import Instance; print(Instance.objects.count())"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout.split()[-1]  # fmt: skip
    return elapsed, peak, int(count)


def run_orthanc(work: Path, folder: Path) -> float:
    from tests.orthanc import start_orthanc

    server = start_orthanc(work / "orthanc")
    try:
        return storescu(server.dicom_port, server.aet, folder)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size", type=int, default=2048, help="rows and columns of each image")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dimse-"))
    try:
        folder = work / "files"
        total = make_files(folder, args.files, args.size)
        ours, peak, stored = run_listener(work, folder)
        orthanc = run_orthanc(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {
        "files": args.files,
        "megabytes": round(total / 2**20, 1),
        "listener_seconds": round(ours, 2),
        "orthanc_seconds": round(orthanc, 2),
        "ratio": round(ours / orthanc, 2),
        "listener_peak_rss_mb": round(peak, 1),
        "stored": stored,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.files} files of {args.size}x{args.size}, 12-bit ({figures['megabytes']} MiB)")
    print(f"listener: {ours:.1f} s ({args.files / ours:.1f} files/s), {stored} stored")
    print(f"orthanc:  {orthanc:.1f} s ({args.files / orthanc:.1f} files/s)")
    print(f"ratio:    {ours / orthanc:.2f} (goal: at most 2)")
    print(f"listener peak RSS: {peak:.0f} MB (goal: under 400 MB)")


if __name__ == "__main__":
    main()
