"""Jobs: launch-to-running latency with an idle worker, and the engine's throughput inside a
worker against the engine run directly (same config, same exported data).

    .venv/bin/python bench/jobs.py                               # small: 8 launches, 96 images
    .venv/bin/python bench/jobs.py --launches 30 --images 400 --epochs 3 --image-size 128 --json

Everything runs on loopback in a throwaway data folder (SQLite database, filesystem broker, one
``celery -A lab worker`` process started here, as tests/training/test_worker.py starts one;
``REDIS_URL`` / ``DATABASE_URL`` from the environment are ignored so the figures are
comparable run to run).

- Latency: a job row is created (enqueued on commit, as the API does) while the worker is idle;
  the figure is ``started_at - created_at`` of the row, i.e. message delivery, the worker's
  claim (conditional update) and the job's start. The jobs name a label set that does not exist,
  so each fails the moment it starts and the worker is idle again for the next launch; what
  they would have run does not enter the figure. With the filesystem broker the worker polls for
  messages, so its polling interval bounds the figure from below; Redis delivers at once.
- Throughput: one real training job (tiny network, CPU) runs on the worker; its progress points
  carry the engine's images/s. The same ``config.json`` then runs through the engine's command
  line (``python -m training.engine train``) with only the output folder changed. The ratio worker / direct (images/s over the training windows)
  has a goal of at least 0.95: heartbeats, progress writes and the log handler must cost the
  engine almost nothing.

The machine may be shared with other work: read single runs as indications.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TINY = {"task": "normal_abnormal", "arch": "tiny", "crop": 56, "batch_size": 16,
        "eval_batch_size": 64, "lr": 0.05, "device": "cpu", "amp": "off",
        "eval_crops": "center", "min_per_label_eval": 1, "log_every": 2}  # fmt: skip


def _environment(data_dir: Path, image_size: int) -> dict[str, str]:
    env = {
        "CXR_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'bench.sqlite3'}",
        "CXR_CACHE_IMAGE_SIZE": str(image_size),
        "CXR_JOB_HEARTBEAT_SECONDS": "2",
        "CXR_JOB_REAP_SECONDS": "2",
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "lab.settings",
    }
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    return {**os.environ}


def _setup_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "lab", "worker", "-Q", "default,gpu",
         "--concurrency", "1", "--prefetch-multiplier", "1", "-n", "bench@%h",
         "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _wait(predicate, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _finished(job):
    job.refresh_from_db()
    return job if job.finished else None


def measure_latency(team, launches: int) -> list[float]:
    """Seconds from the row's creation to its claim, one idle-worker launch at a time."""
    from jobs import services

    seconds = []
    for _ in range(launches):
        job = services.create_job(team, None, "train", {"label_set": 10**9, "engine": {}})
        job = _wait(lambda job=job: _finished(job), 120, f"job {job.pk} to start and end")
        if job.started_at is None:
            raise RuntimeError(f"job {job.pk} ended without starting: {job.error}")
        seconds.append((job.started_at - job.created_at).total_seconds())
        time.sleep(0.2)  # the worker is idle again before the next launch
    return seconds


def _engine_cli(config_file: Path, epochs: int) -> tuple[list[float], float]:
    """``python -m training.engine train --config FILE`` in its own process, as an operator runs
    it on a bare box; its log lines give the same images/s points the worker relays."""
    from training.torchrun import PREFIX, ProgressParser

    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "training.engine", "train", "--config",
                           str(config_file)], cwd=ROOT, capture_output=True, text=True,
                          check=True)  # fmt: skip
    wall = time.perf_counter() - started
    parser, rates = ProgressParser(epochs), []
    for line in proc.stderr.splitlines():
        match = PREFIX.match(line)
        point = parser.parse(match["message"]) if match else None
        if point and point["phase"] == "train":
            rates.append(point["images_per_s"])
    return rates, wall


def measure_throughput(team, label_set, epochs: int) -> dict:
    """Images/s of the engine's training windows: inside the worker, then directly."""
    from jobs.services import create_job
    from training.runs import job_folder

    job = create_job(team, None, "train",
                     {"label_set": label_set.pk, "engine": {**TINY, "epochs": epochs}})  # fmt: skip
    job = _wait(lambda: _finished(job), 1800, "the training job", poll=0.5)
    if job.status != "succeeded":
        raise RuntimeError(f"training job {job.pk} {job.status}: {job.error}")
    in_worker = [p["images_per_s"] for p in job.history if p.get("phase") == "train"]
    run_config = json.loads((job_folder(job) / "run" / "config.json").read_text())
    config_file = job_folder(job) / "direct-config.json"
    config_file.write_text(json.dumps({**run_config, "output": str(job_folder(job) / "direct"),
                                       "resume": ""}))  # fmt: skip
    direct, direct_wall = _engine_cli(config_file, run_config["epochs"])
    worker_wall = (job.finished_at - job.started_at).total_seconds()
    # Equal-sized windows of images: their harmonic mean is images over time spent training.
    worker_rate = statistics.harmonic_mean(in_worker)
    direct_rate = statistics.harmonic_mean(direct)
    return {"task_images": job.metrics["split_counts"], "epochs": epochs,
            "worker_images_per_s": round(worker_rate, 1),
            "direct_images_per_s": round(direct_rate, 1),
            "ratio": round(worker_rate / direct_rate, 3),
            "worker_job_wall_s": round(worker_wall, 2),
            "direct_process_wall_s": round(direct_wall, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=8, help="latency samples")
    parser.add_argument("--images", type=int, default=96, help="demo images to train on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64, help="training cache size")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="worker/direct pairs, alternated; the ratio printed is their median",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="cxr-bench-jobs-"))
    env = _environment(data_dir, args.image_size)
    worker = None
    try:
        _setup_django()
        from jobs.models import WorkerPresence
        from teams import services as lab_services
        from tests.training.label_sets import frozen_label_set

        team = lab_services.create_team("Bench")
        label_set = frozen_label_set(team, data_dir, images=args.images)
        worker = _start_worker(env, data_dir / "worker.log")
        _wait(lambda: WorkerPresence.objects.exists(), 180, "the worker to start", poll=0.5)
        latency = measure_latency(team, args.launches)
        rounds = [measure_throughput(team, label_set, args.epochs) for _ in range(args.rounds)]
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    summary = {
        "broker": "filesystem (polling)",
        "latency_s": {
            "p50": round(statistics.median(latency), 3),
            "max": round(max(latency), 3),
            "n": len(latency),
        },  # fmt: skip
        "throughput": rounds,
        "median_ratio": round(statistics.median(r["ratio"] for r in rounds), 3),
        "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"launch -> running (idle worker, {summary['broker']}): p50 "
          f"{summary['latency_s']['p50']:.3f} s, max {summary['latency_s']['max']:.3f} s "
          f"over {len(latency)} launches")  # fmt: skip
    for number, throughput in enumerate(rounds, 1):
        print(f"round {number}: engine throughput: worker {throughput['worker_images_per_s']} "
              f"images/s, direct {throughput['direct_images_per_s']} images/s, ratio "
              f"{throughput['ratio']}; walls {throughput['worker_job_wall_s']} s (whole job) / "
              f"{throughput['direct_process_wall_s']} s (engine command)")  # fmt: skip
    print(
        f"median worker/direct ratio over {len(rounds)} rounds: {summary['median_ratio']} "
        "(goal >= 0.95)"
    )


if __name__ == "__main__":
    main()
