"""A cancel stops a running training job at its next batch boundary: with the tiny preset, the
job has ended within one batch plus 5 s of the request. The job runs through the worker's own
code (``jobs.worker.run``: claim, heartbeat, log handler, engine) in a thread of this process;
the test cancels only once the job's row shows its first training batch, so the cancel always
lands inside training, never before it or after it."""

import threading
import time

import pytest
from django.db import connection

from jobs import services as job_services
from jobs import worker
from jobs.models import Job, JobStatus

from .label_sets import frozen_label_set
from .runs import TINY

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def in_thread(job_id: int) -> threading.Thread:
    def run() -> None:
        try:
            worker.run(job_id)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=run, name=f"job-{job_id}", daemon=True)
    thread.start()
    return thread


def training_started(job: Job) -> Job | None:
    job.refresh_from_db()
    progress = job.progress or {}
    return job if progress.get("phase") == "train" and progress.get("step", 0) >= 1 else None


def test_a_cancelled_tiny_job_ends_within_one_batch_plus_5_s(personas, tmp_path, settings):
    settings.CACHE_IMAGE_SIZE = 64
    label_set = frozen_label_set(personas.team, tmp_path, images=48)
    engine = {**TINY, "epochs": 1000, "log_every": 1}  # far more epochs than the test waits for
    job = job_services.create_job(personas.team, personas.owner, "train",
                                  {"label_set": label_set.pk, "engine": engine}, inline=True)  # fmt: skip
    thread = in_thread(job.pk)
    try:
        running = wait_for(lambda: training_started(job), 180, "the first training batch")
        asked = time.monotonic()
        job_services.request_cancel(running)
        thread.join(timeout=120)
        took = time.monotonic() - asked
    finally:
        thread.join(timeout=120)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED, job.error + job.traceback
    trained = [point for point in job.history if point.get("phase") == "train"]
    one_batch = engine["batch_size"] / trained[-1]["images_per_s"]
    assert took <= one_batch + 5, (
        f"stopped {took:.2f} s after the cancel; a batch takes {one_batch:.3f} s"
    )
    assert job.progress["step"] < job.progress["total_steps"]
    # the stages showed in the log as they happened
    for stage in (
        "exporting 48 images",
        "building the model",
        "the first step runs now",
        "warm-up:",
    ):
        assert stage in job.log, job.log
