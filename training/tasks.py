"""Celery tasks: thin. Load the row, claim it, run the job's kind, record how it ended.

A heartbeat thread keeps the row's ``heartbeat_at`` fresh while the job runs; every worker also
reaps jobs whose heartbeat stopped (a killed worker's job is requeued and, for training,
resumes from its last checkpoint).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection

from training.engine.config import ConfigError

from . import services
from .export import JobInputError
from .models import Job

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job when a user asked it to stop (or it is no longer ours to run)."""


class JobContext:
    """What a job's code gets: its row, a progress reporter that doubles as a stop check, and a
    log handler that copies the job's log lines onto the row."""

    def __init__(self, job: Job, worker: str) -> None:
        self.job = job
        self.worker = worker
        self.lost = threading.Event()  # set by the heartbeat when the row is no longer ours

    def report(self, progress: dict, *, keep: bool = True) -> None:
        if self.lost.is_set():
            raise JobCancelled("the job was taken away from this worker")
        if not services.record_progress(self.job.pk, self.worker, progress, keep=keep):
            raise JobCancelled("cancelled on request")

    def should_stop(self) -> bool:
        self.job.refresh_from_db(fields=["cancel_requested", "status"])
        return self.lost.is_set() or self.job.cancel_requested


class RowLogHandler(logging.Handler):
    """Log records of the job's code, appended to the job row in small batches."""

    def __init__(self, job_id: int) -> None:
        super().__init__(logging.INFO)
        self.job_id = job_id
        self.buffer: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.buffer.append(self.format(record) + "\n")
        if len(self.buffer) >= 20 or record.levelno >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            text, self.buffer = "".join(self.buffer), []
            services.append_log(self.job_id, text)


Runner = Callable[[JobContext], dict]
RUNNERS: dict[str, Runner] = {}
# Errors a second attempt cannot fix: the job fails at once with the message.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (ConfigError, JobInputError)


def runner(kind: str) -> Callable[[Runner], Runner]:
    def register(function: Runner) -> Runner:
        RUNNERS[kind] = function
        return function

    return register


@shared_task(
    name=services.RUN_JOB_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def run_job(job_id: int) -> None:
    worker = services.worker_name()
    job = services.claim_job(job_id, worker)
    if job is None:
        log.info("job %s is not queued (taken, finished or cancelled); nothing to do", job_id)
        return
    job.device = _device_name()
    Job.objects.filter(pk=job.pk).update(device=job.device)
    context = JobContext(job, worker)
    handler = RowLogHandler(job.pk)
    job_loggers = [logging.getLogger(name) for name in ("training", "labeling", "curation")]
    for job_logger in job_loggers:
        job_logger.addHandler(handler)
    stop_beating = _start_heartbeat(context)
    try:
        function = RUNNERS.get(job.kind)
        if function is None:
            raise JobInputError(f"no runner for jobs of kind {job.kind!r}")
        result = function(context)
        services.succeed(job.pk, worker, result.get("metrics", {}), result.get("output_dir", ""))
    except JobCancelled as stop:
        log.info("job %s stopped: %s", job.pk, stop)
        services.mark_cancelled(job.pk, worker)
    except Exception as exc:
        log.exception("job %s failed", job.pk)
        services.fail_attempt(job.pk, worker, exc, retry=not isinstance(exc, PERMANENT_ERRORS))
    finally:
        stop_beating()
        handler.flush()
        for job_logger in job_loggers:
            job_logger.removeHandler(handler)


def _start_heartbeat(context: JobContext) -> Callable[[], None]:
    done = threading.Event()

    def loop() -> None:
        try:
            while not done.wait(settings.JOB_HEARTBEAT_INTERVAL):
                if not services.beat(context.job.pk, context.worker):
                    context.lost.set()
        finally:
            connection.close()

    thread = threading.Thread(target=loop, name=f"heartbeat-{context.job.pk}", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join(timeout=settings.JOB_HEARTBEAT_INTERVAL + 5)

    return stop


_reaper_stop = threading.Event()


@worker_ready.connect
def _start_reaper(sender=None, **_kwargs) -> None:
    """Each worker says it is alive (queues, device) and looks for jobs whose worker died, at
    start and then periodically."""
    name = getattr(sender, "hostname", "") or services.worker_name()
    consumer = getattr(sender, "task_consumer", None)
    queues = sorted(queue.name for queue in consumer.queues) if consumer else []
    device = _device_name()

    def loop() -> None:
        while True:
            close_old_connections()
            try:
                services.announce_worker(name, queues, device)
                services.reap_stale()
            except Exception:
                log.exception("announcing this worker or reaping stale jobs failed")
            if _reaper_stop.wait(settings.JOB_REAP_INTERVAL):
                break
        connection.close()

    threading.Thread(target=loop, name="job-reaper", daemon=True).start()


def _device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)} ×{torch.cuda.device_count()}"
    return "cpu"


@worker_shutdown.connect
def _stop_reaper(**_kwargs) -> None:
    _reaper_stop.set()


# The job kinds register themselves on import.
import curation.jobs  # noqa: E402,F401
import labeling.pacs_jobs  # noqa: E402,F401

from . import jobs  # noqa: E402,F401
