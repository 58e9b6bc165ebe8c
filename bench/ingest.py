"""Ingest + training-cache throughput against plain pydicom decoding of the same files.

    .venv/bin/python bench/ingest.py [--images 60] [--size 2048] [--workers 2] [--rounds 3]

Generates uncompressed 12-bit DX files with the demo generator, then in the same run:
(a) plain ``pydicom.dcmread(...).pixel_array`` over every file in a plain Python process (pydicom
    and numpy imported, nothing else), pinned to one core: the baseline of the goal;
(a') the same decoding in this process, after Django and the app are imported, for comparison;
(b) the ingest service in this process, pinned to the same core (parse, de-identify, decode,
    resize, write the de-identified file, database rows and cache rows in batches): what
    ``manage.py ingest --workers 1`` does, without its start-up;
(c) the code path of ``manage.py ingest --workers 1`` and ``--workers N`` in this process (its
    pool of forked workers included), without the command's start-up, next to pydicom decoding
    in 1 and N processes: what the machine gives N processes at the time;
(d) the same as commands: wall time including the start-up (also shown alone: the median of
    three runs over an empty folder), and the command process's peak RSS;
(e) with ``--memory-images N``: ``manage.py ingest`` of N more such files, with one worker and
    with ``--workers``: the peak RSS of the command (issue 3's goal: under 300 MB, flat in N).
(a), (a'), (b) and a plain copy of the files alternate for ``--rounds`` rounds (the medians are
printed), each ingest round into a new team. Django runs as in production (DEBUG=0, a random
secret key): DEBUG=1 records every SQL query. Every command run gets a fresh SQLite database
and data folder. What each timed run wrote is deleted after it. The import tells the kernel
it reads each file once (the source's pages leave the page cache), so the files are read back
into memory, untimed, before every timed run: every run reads from memory.

Why the import drops its sources' pages: on the 2-core VM this was measured on, the hypervisor
takes back free guest memory (virtio-balloon free page reporting), and writing an 8 MB file into
such memory took 19–23 ms against 2–4 ms into memory the guest had just freed, whatever was
written before. An import that frees each source's clean pages as it goes writes its stored
copy into them.

Why the baseline runs in a process of its own: the page faults per image are printed per round
because they decide its speed on that VM. In a plain process, pydicom's decoded array lands in
fresh memory every time (about 2,500 faults per 2048² image, 6–12 ms an image, in all 48 rounds
of the 10 runs measured). In a process that has imported Django and the app, the allocator sometimes
reuses memory instead, depending on what else sits on the heap, and the same decoding then takes
2.4–4.4 ms: (a') switches between the two from round to round and from run to run (importing one
more library was enough to switch it). The goal is (b) ≥ 0.5 × (a) on one core, and (c) scaling
with cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def page_faults() -> int:
    """Minor page faults of this process so far: on a VM each costs microseconds, and how many
    an allocation takes depends on what the allocator happens to reuse."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def decode_all(paths: list[Path]) -> tuple[float, float, int]:
    """Wall and CPU seconds and page faults of decoding every file with pydicom."""
    import pydicom

    started, cpu, faults = time.perf_counter(), time.process_time(), page_faults()
    for path in paths:
        pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is the work measured
    return time.perf_counter() - started, time.process_time() - cpu, page_faults() - faults


PLAIN_DECODE = """
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from ingest import decode_all
print(*decode_all([Path(path) for path in sys.argv[3:]]))
"""


def decode_plain(paths: list[Path], core: int) -> tuple[float, float, int]:
    """:func:`decode_all` in a plain Python process pinned to ``core`` (this module imports only
    the standard library at its top), its start-up untimed."""
    argv = [str(core), str(Path(__file__).parent), *map(str, paths)]
    process = subprocess.run(
        [sys.executable, "-c", PLAIN_DECODE, *argv], capture_output=True, text=True, check=True
    )
    wall, cpu, faults = process.stdout.split()
    return float(wall), float(cpu), int(faults)


def warm(paths: list[Path]) -> None:
    """Bring the files back into the page cache, untimed: an import tells the kernel it reads
    each file once (the pages are dropped), and every timed run should read from memory."""
    for path in paths:
        with open(path, "rb") as fp:
            while fp.read(1 << 20):
                pass


def copy_all(paths: list[Path], folder: Path) -> float:
    """Wall seconds of copying every file in the kernel (``shutil.copyfile``: sendfile, no
    buffer in this process), dropping each source's pages as the import does: the floor of any
    import that keeps its own copy of each file."""
    from labeling.dicom import drop_cached_pages

    folder.mkdir()
    started = time.perf_counter()
    for number, path in enumerate(paths):
        shutil.copyfile(path, folder / str(number))
        with open(path, "rb") as source:
            drop_cached_pages(source)
    seconds = time.perf_counter() - started
    forget_files(folder)
    return seconds


def decode_one(path: Path) -> None:
    import pydicom

    pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is the work measured


def decode_in_processes(paths: list[Path], processes: int) -> float:
    """Wall seconds of decoding every file in a pool: what the machine gives N processes now."""
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        started = time.perf_counter()
        pool.map(decode_one, paths, chunksize=1)
        return time.perf_counter() - started


SECRET_KEY = secrets.token_urlsafe(48)


def command_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": SECRET_KEY, "CXR_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def fresh_install(work: Path, name: str) -> Path:
    data = work / name
    data.mkdir()
    for args in (["migrate", "-v0"], ["teams", "create", "Bench"]):
        process = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT, env=command_env(data), capture_output=True, text=True,
        )  # fmt: skip
        if process.returncode:
            raise SystemExit(f"{' '.join(args)} failed: {process.stderr}")
    return data


def ingest_command(
    paths: list[Path], data: Path, workers: int, expected: int | None = None
) -> tuple[float, int, int]:
    """`manage.py ingest` over the files (``expected`` of them, by default the files among
    ``paths``): wall seconds, the command's peak RSS and its largest worker's, in kB."""
    wrapper = (
        "import resource, runpy, sys; sys.argv = sys.argv[1:];"
        "code = 0\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as exit:\n    code = exit.code or 0\n"
        "print('maxrss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)"
    )
    argv = [str(ROOT / "manage.py"), "ingest", "--team", "Bench", "--json"]
    argv += ["--workers", str(workers), *map(str, paths)]
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", wrapper, *argv], cwd=ROOT, env=command_env(data),
        capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"ingest failed: {process.stderr[-2000:]}")
    files = sum(1 for path in paths if path.is_file()) if expected is None else expected
    if f'"imported": {files}' not in process.stdout:
        raise SystemExit(f"not every file was imported: {process.stdout[:2000]}")
    command, worker = process.stderr.rsplit("maxrss_kb", 1)[1].split()[:2]
    return seconds, int(command), int(worker)


def ingest_in_process(paths: list[Path], team_name: str) -> tuple[float, float, int]:
    """Wall and CPU seconds and page faults of ingesting every file into a new team, in this
    process."""
    from django.conf import settings

    from labeling import services
    from teams.services import create_team

    team = create_team(team_name)
    started, cpu, faults = time.perf_counter(), time.process_time(), page_faults()
    prepared = (services.prepare_file(team, path, name=str(path)) for path in paths)
    results = list(services.commit_in_batches(team, prepared))
    seconds = time.perf_counter() - started, time.process_time() - cpu, page_faults() - faults
    if any(result.status != "imported" for result in results):
        raise SystemExit(f"not every file was imported: {results[:5]}")
    forget_files(settings.DICOM_STORE_DIR / str(team.pk))
    return seconds


def pool_in_process(paths: list[Path], team_name: str, workers: int) -> float:
    """Wall seconds of `manage.py ingest --workers N`'s own code path, without its start-up."""
    from django.conf import settings

    from labeling import services
    from labeling.management.commands import ingest
    from teams.services import create_team

    team = create_team(team_name)
    os.sync()
    started = time.perf_counter()
    units, _refused = ingest.units_of(paths)
    prepared = ingest.prepare_all(team, units, workers)
    results = list(services.commit_in_batches(team, prepared))
    seconds = time.perf_counter() - started
    if any(result.status != "imported" for result in results):
        raise SystemExit(f"not every file was imported: {results[:5]}")
    forget_files(settings.DICOM_STORE_DIR / str(team.pk))
    return seconds


def forget_files(folder: Path) -> None:
    """Delete what a timed run wrote, so the next run reuses its page-cache memory."""
    shutil.rmtree(folder)
    os.sync()


def setup_django(data: Path) -> None:
    os.environ.update(command_env(data))
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lab.settings")
    import django

    django.setup()


def memory_run(work: Path, images: int, size: int, workers: int) -> None:
    """(e): one folder of ``images`` files, imported by the command with 1 and N workers."""
    from labeling import synth

    started = time.perf_counter()
    manifest = synth.generate_demo(work / "memory", images, seed=11, size=size)
    folder = work / "memory" / "dicom"
    gigabytes = sum(p.stat().st_size for p in manifest.dicom_paths) / 1e9
    print(
        f"(e) {images} more files, {gigabytes:.1f} GB (made in {time.perf_counter() - started:.0f} s)"
    )
    for count in sorted({1, workers}):
        data = fresh_install(work, f"memory-w{count}")
        os.sync()
        seconds, peak, worker = ingest_command([folder], data, count, expected=images)
        forget_files(data)
        print(
            f"    manage.py ingest --workers {count:<2}   : {seconds:6.1f} s, "
            f"{images / seconds:.1f} images/s; {rss(peak, worker)}"
        )


def rss(command_kb: int, worker_kb: int) -> str:
    """Peak RSS of the command and, when it forked workers, of the largest of them."""
    text = f"peak RSS {command_kb / 1024:.0f} MB"
    return text + (f", largest worker {worker_kb / 1024:.0f} MB" if worker_kb else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-images", type=int, default=0, help="(e): files to import")
    args = parser.parse_args()

    from labeling import synth

    work = Path(tempfile.mkdtemp(prefix="cxr-bench-ingest-"))
    try:
        manifest = synth.generate_demo(work / "files", args.images, seed=3, size=args.size)
        paths = sorted(manifest.dicom_paths)
        n = len(paths)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or ''}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{n} files of {args.size}² 12-bit, uncompressed, {megabytes:.0f} MB")

        setup_django(fresh_install(work, "in-process"))
        cpus = os.sched_getaffinity(0)
        core = min(cpus)
        os.sched_setaffinity(0, {core})
        decode_all(paths[:5])  # warm the page cache and the imports
        plain, decode, ingest, copy = [], [], [], []
        for round_ in range(args.rounds):
            os.sync()  # see the docstring: each run starts without dirty pages
            warm(paths)
            plain.append(decode_plain(paths, core))
            decode.append(decode_all(paths))
            ingest.append(ingest_in_process(paths, f"Bench {round_}"))
            warm(paths)
            copy.append(copy_all(paths, work / f"copy {round_}"))
        os.sched_setaffinity(0, cpus)
        runs = {"(a)": plain, "(a')": decode, "(b)": ingest}
        by_round = list(zip(*runs.values(), strict=True))
        speeds = ", ".join("/".join(f"{n / r[0]:.1f}" for r in row) for row in by_round)
        print(f"rounds ({'/'.join(runs)} images/s, wall): {speeds}")
        faults = ", ".join("/".join(f"{r[2] / n:.0f}" for r in row) for row in by_round)
        print(f"rounds ({'/'.join(runs)} page faults per image): {faults}")
        rates = {key: n / statistics.median(r[0] for r in runs[key]) for key in runs}
        cpu_rates = {key: n / statistics.median(r[1] for r in runs[key]) for key in runs}
        names = {
            "(a)": "pydicom decode, plain process",
            "(a')": "pydicom decode, this process",
            "(b)": "ingest in-process, one core",
        }
        for key, name in names.items():
            print(f"{key:<4} {name:<31}: {rates[key]:6.1f} images/s wall, "
                  f"{cpu_rates[key]:6.1f} per CPU second")  # fmt: skip
        decode_rate = rates["(a)"]
        print(f"     (b) / (a)                      : {rates['(b)'] / decode_rate:.2f} wall, "
              f"{cpu_rates['(b)'] / cpu_rates['(a)']:.2f} CPU (goal ≥ 0.5)")  # fmt: skip
        in_process = rates["(a')"]
        print(f"     (b) / (a')                     : {rates['(b)'] / in_process:.2f} wall")
        copy_rate = n / statistics.median(copy)
        print(f"    plain copy of the files, one core: {copy_rate:6.1f} images/s = "
              f"{copy_rate / decode_rate:.2f} × (a) (the floor of keeping a copy)")  # fmt: skip
        for workers in (1, args.workers):
            warm(paths)
            rate = n / decode_in_processes(paths, workers)
            print(f"    pydicom decode, {workers} process(es) : {rate:6.1f} images/s (for scale)")
        for workers in (1, args.workers):
            warm(paths)
            rate = n / pool_in_process(paths, f"Pool {workers}", workers)
            print(
                f"(c) ingest --workers {workers:<2} in-process: {rate:6.1f} images/s "
                f"= {rate / decode_rate:.2f} × (a) (no start-up)"
            )
        empty = work / "nothing"
        empty.mkdir()
        nothing = fresh_install(work, "empty")
        start_s = statistics.median(ingest_command([empty], nothing, 1)[0] for _ in range(3))
        print(f"(d) manage.py ingest of nothing     : {start_s:6.2f} s (the start-up)")
        for workers in (1, args.workers):
            data = fresh_install(work, f"w{workers}")
            os.sync()
            warm(paths)
            seconds, peak, worker = ingest_command(paths, data, workers)
            forget_files(data)
            print(
                f"    manage.py ingest --workers {workers:<2}   : {seconds:6.2f} s for {n} files, "
                f"{n / seconds:.1f} images/s with the start-up; {rss(peak, worker)}"
            )
        if args.memory_images:
            memory_run(work, args.memory_images, args.size, args.workers)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
