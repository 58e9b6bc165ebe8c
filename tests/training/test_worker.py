"""Training jobs on a real Celery worker process, against the real database and broker.

The worker is started by the test as an operator would start one (``celery -A lab worker``),
with short heartbeat timings so that a killed worker's job is reaped within seconds.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.models import Job, JobStatus
from training.runs import job_folder

from .label_sets import frozen_label_set
from .stalling_trainer import Stall

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "task": "normal_abnormal",
    "arch": "tiny",
    "crop": 56,
    "batch_size": 16,
    "eval_batch_size": 32,
    "lr": 0.05,
    "device": "cpu",
    "amp": "off",
    "min_per_label_eval": 1,
    "log_every": 2,
}

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url(user: str = "") -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = user or db.get("USER") or "postgres"
    return (
        f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


class Worker:
    """One `celery worker` process (and its pool children) in its own process group, on
    ``queues``; ``command`` starts something that runs Celery's worker (tests/results'
    stalling_worker, say); with ``stall``, one whose training stalls where it says
    (tests/training/stalling_trainer.py); ``overrides`` are environment variables."""

    def __init__(self, tmp_path: Path, name: str, *, queues: str = "default,gpu",
                 command: tuple[str, ...] = ("-m", "celery", "-A", "lab"),
                 stall: Stall | None = None, **overrides: str) -> None:  # fmt: skip
        env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": database_url(),
            "CXR_DATA_DIR": str(settings.DATA_DIR),
            "CXR_BROKER_DIR": str(settings.BROKER_DIR),
            "CXR_CACHE_IMAGE_SIZE": str(settings.CACHE_IMAGE_SIZE),
            "CXR_JOB_HEARTBEAT_SECONDS": "1",
            "CXR_JOB_HEARTBEAT_TIMEOUT": "5",
            "CXR_JOB_REAP_SECONDS": "1",
            **overrides,
        }
        self.stall = stall
        command = stall.command() if stall else command
        self.log = tmp_path / f"worker-{name}.log"
        self.process = subprocess.Popen(
            [sys.executable, *command, "worker", "-Q", queues, "--concurrency", "1",
             "--prefetch-multiplier", "1", "-n", f"{name}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """kill -9 of the whole worker: no chance to clean up, like a lost host."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(name: str, *, stall_after: int = 0) -> Worker:
        """A worker; with ``stall_after``, one whose training stalls once ``last.pt`` holds that
        epoch (``worker.stall``): a test stops the job there, never at a moment a timer picked."""
        worker = Worker(tmp_path, name, stall=Stall(tmp_path, name, stall_after) if stall_after
                        else None)  # fmt: skip
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def label_set(personas, tmp_path, settings):
    settings.CACHE_IMAGE_SIZE = 64
    return frozen_label_set(personas.team, tmp_path, images=48)


def wait_for(predicate, timeout: float, what: str, workers_logs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    logs = "\n".join(log.read_text()[-3000:] for log in workers_logs)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def launch(personas, label_set, **engine) -> Job:
    api = APIClient()
    api.force_authenticate(personas.owner)
    response = api.post(
        reverse("job-list"),
        {
            "kind": "train",
            "name": "tiny",
            "config": {"label_set": label_set.pk, "engine": {**TINY, **engine}},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return Job.objects.get(pk=response.json()["id"])


def reload(job: Job) -> Job:
    job.refresh_from_db()
    return job


def test_a_tiny_training_job_runs_on_the_worker_with_metrics_and_predictions(
    personas, label_set, workers
):
    worker = workers("one")
    job = launch(personas, label_set, epochs=2)
    wait_for(lambda: reload(job).finished, 240, "the job to finish", [worker.log])
    assert job.status == JobStatus.SUCCEEDED, job.error + job.traceback
    assert job.attempts == 1
    assert job.device == "cpu" and job.worker
    assert 0.0 <= job.metrics["test"]["auc"] <= 1.0  # learning itself is the engine tests' job
    run = job_folder(job) / "run"
    predictions = (run / "predictions.jsonl").read_text().splitlines()
    assert predictions and "probabilities" in json.loads(predictions[0])
    assert json.loads((run / "metrics.json").read_text())["test"] == job.metrics["test"]
    assert job.progress["phase"] == "done" and job.history
    assert "exported" in job.log


def kill_after_epoch_2_and_resume(personas, label_set, workers, *, epochs: int):
    """Kill a worker while its job sits after epoch 2's checkpoint, let a second worker resume
    the job to success; the job and the history points written after the kill."""
    first = workers("first", stall_after=2)
    job = launch(personas, label_set, epochs=epochs)
    wait_for(lambda: first.stall.at(2), 240, "epoch 2's checkpoint", [first.log])
    first.kill()
    assert reload(job).status == JobStatus.RUNNING
    points_before_kill = len(job.history)
    second = workers("second")
    wait_for(lambda: reload(job).finished, 300, "the resumed job to finish", [second.log])
    assert job.status == JobStatus.SUCCEEDED, job.error + job.traceback
    assert job.attempts == 2
    assert "resumed from" in job.log
    return job, job.history[points_before_kill:]


def test_a_killed_worker_s_job_resumes_from_its_checkpoint_on_a_new_worker(
    personas, label_set, workers
):
    # The first worker is killed while it sits after epoch 2's checkpoint, two epochs to go. A
    # kill timed by a poll could land after the last epoch: then nothing is left to resume.
    job, after_kill = kill_after_epoch_2_and_resume(personas, label_set, workers, epochs=4)
    resumed = [p["epoch"] for p in after_kill if p.get("phase") == "train"]
    assert resumed[0] == 3 and set(resumed) == {3, 4}  # it went on; it did not start over
    runs = list(job_folder(job).glob("run*"))
    assert [p.name for p in runs] == ["run"]  # one output folder, no duplicate artifacts


def test_a_job_killed_after_its_last_epoch_resumes_to_its_evaluation_without_training(
    personas, label_set, workers
):
    # Where the old resume test's kill could land: after the last checkpoint, in the evaluation.
    job, after_kill = kill_after_epoch_2_and_resume(personas, label_set, workers, epochs=2)
    assert [p for p in after_kill if p.get("phase") == "train"] == []
    assert 0.0 <= job.metrics["test"]["auc"] <= 1.0 and job.progress["phase"] == "done"


def test_a_job_that_crashes_every_time_fails_after_three_attempts(personas, label_set, workers):
    from labeling.services import cache_store

    cache = cache_store(personas.team).path
    cache.write_bytes(cache.read_bytes()[:100])  # the cache is damaged: every export fails
    worker = workers("one")
    job = launch(personas, label_set, epochs=1)
    wait_for(lambda: reload(job).finished, 180, "the job to give up", [worker.log])
    assert job.status == JobStatus.FAILED
    assert job.attempts == 3
    assert "rows" in job.error and job.traceback
    client = APIClient()
    client.force_authenticate(personas.teammate)
    assert client.get(reverse("job-detail", args=[job.pk])).json()["error"] == job.error


def test_cancel_stops_a_running_job_at_its_next_step_keeping_its_checkpoint(
    personas, label_set, workers
):
    worker = workers("one", stall_after=2)
    job = launch(personas, label_set, epochs=20)
    last = job_folder(job) / "run" / "last.pt"
    wait_for(lambda: worker.stall.at(2), 240, "epoch 2's checkpoint", [worker.log])
    api = APIClient()
    api.force_authenticate(personas.owner)
    assert api.post(reverse("job-cancel", args=[job.pk])).status_code == 200
    worker.stall.go()  # training goes on, and sees the cancel
    wait_for(lambda: reload(job).finished, 120, "the job to stop", [worker.log])
    assert job.status == JobStatus.CANCELLED
    assert job.progress.get("epoch", 0) <= 3  # the epoch after the stall at the latest
    assert last.exists()


def test_two_workers_never_run_the_same_job(personas, label_set, workers):
    from jobs.tasks import run_job

    logs = [workers("a").log, workers("b").log]
    job = launch(personas, label_set, epochs=1)
    for _ in range(3):  # the same job delivered again, as a broker may do
        run_job.apply_async(args=[job.pk], queue="gpu")
    wait_for(lambda: reload(job).finished, 240, "the job to finish", logs)
    refused = wait_for(lambda: sum(log.read_text().count("is not queued") for log in logs) >= 3,
                       120, "the duplicate deliveries to be refused", logs)  # fmt: skip
    assert refused and reload(job).status == JobStatus.SUCCEEDED
    assert job.attempts == 1
