"""The worker side of a job: claim the row, run the kind's code, record how it ended.

A heartbeat thread keeps the row's ``heartbeat_at`` fresh while the job runs; every worker also
reaps jobs whose heartbeat stopped (a killed worker's job is requeued and, for training,
resumes from its last checkpoint). The Celery task in ``tasks.py`` only calls :func:`run`.

Losing the database or the broker neither loses a job nor runs it twice:

- Every write of a running job is conditioned on this worker still holding the claim, and each
  reconnects and is retried when the database does not answer. The heartbeat skips beats; a
  progress point that cannot be stored is held and written with the next one; log lines wait
  in their buffer; the claim and the final write (succeeded, failed, cancelled) are retried
  until the database answers, so the row never stays RUNNING for a job that ended. When the
  job's own code hits the outage (an export query, storing predictions), it runs again on the
  same claim once the database answers, without spending an attempt (training resumes from
  its last checkpoint).
- The reaper may requeue a job once its heartbeat is ``JOB_HEARTBEAT_TIMEOUT`` old. So a worker
  that could not confirm its claim for :func:`claim_grace` (two beats less) pauses the job at
  its next progress report until the database answers: if the row is still its own, the job
  goes on; if not, it stops without writing anything (``ClaimLost``) and the worker that now
  holds the job resumes it from its last checkpoint. A job under torchrun cannot pause: its
  processes are stopped, and the reaper requeues it.
- A worker that loses the broker reconnects by itself. The running job's message (acks_late) may
  be delivered again meanwhile; the claim refuses it, since the row is no longer QUEUED. A job
  a worker requeues (a failed attempt, a reaped job) is sent until the broker takes it
  (``services.enqueue(patient=True)``): its row says QUEUED, and without a message nothing
  would ever run it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
)

from . import registry, services
from .models import Job, JobStatus
from .services import ClaimLost, JobCancelled, JobInputError

log = logging.getLogger(__name__)

# What a lost or refused database connection raises (psycopg and sqlite3 alike).
CONNECTION_ERRORS = (InterfaceError, OperationalError)
T = TypeVar("T")
# How often a job's hot loop asks the row whether a user cancelled (``JobContext.check``): one
# small indexed read, so a cancel stops training within a batch and this much.
CANCEL_POLL_SECONDS = 0.5


def claim_grace() -> float:
    """How long a claim holds without a confirming write: the reaper's limit less two beats."""
    interval = settings.JOB_HEARTBEAT_INTERVAL
    return max(settings.JOB_HEARTBEAT_TIMEOUT - 2 * interval, interval)


def _drop_connection() -> None:
    """Close this thread's broken connection; the next query opens a fresh one."""
    with suppress(DatabaseError):
        connection.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def until_answered(write: Callable[[], T], what: str) -> T:
    """Run a database write, reconnecting and retrying for as long as the database is away."""
    delay = 0.5
    while True:
        try:
            return write()
        except CONNECTION_ERRORS as exc:
            log.warning("%s: no database (%s); retrying in %.1fs", what, _first_line(exc), delay)
            _drop_connection()
            time.sleep(delay)
            delay = min(2 * delay, settings.JOB_HEARTBEAT_INTERVAL)


class JobContext:
    """What a job's code gets: its row, a progress reporter that doubles as a stop check, and a
    log handler that copies the job's log lines onto the row."""

    def __init__(self, job: Job, worker: str) -> None:
        self.job = job
        self.worker = worker
        self.lost = threading.Event()  # set by the heartbeat when the row is no longer ours
        self.confirmed_at = time.monotonic()  # when a write last found the row ours
        self.held: list[dict] = []  # progress points the database has not taken yet
        self.written_at = -float("inf")  # when progress last reached the row, and its phase
        self.written_phase: str | None = None
        self.polled_at = -float("inf")  # when ``check`` last read the row

    def confirm(self, since: float) -> None:
        self.confirmed_at = max(self.confirmed_at, since)

    def claim_lapsing(self) -> bool:
        """Whether the claim went unconfirmed so long that the reaper may soon requeue it."""
        return time.monotonic() - self.confirmed_at > claim_grace()

    def report(self, progress: dict, *, keep: bool = True, now: bool = False) -> None:
        """Store progress; raise JobCancelled when a user asked to stop, ClaimLost when the job
        is not ours any more. Without a database the job goes on, its points held, until its
        claim is lapsing: then it waits for the database to say whether it is still ours.

        Points of the phase last written come at most every ``JOB_PROGRESS_INTERVAL`` seconds:
        in between they are held and go with the next write, so the engine's hot loop does not
        wait on the database every few steps (a cancel is seen at the next write)."""
        if keep:
            self.held.append(progress)
        throttled = time.monotonic() - self.written_at < settings.JOB_PROGRESS_INTERVAL
        if not now and throttled and progress.get("phase") == self.written_phase:
            return
        paused = False
        while True:
            if self.lost.is_set():
                raise ClaimLost("the job was taken away from this worker")
            started = time.monotonic()
            try:
                going = services.record_progress(
                    self.job.pk, self.worker, progress, keep=False, held=self.held
                )
            except CONNECTION_ERRORS as exc:
                _drop_connection()
                if not self.claim_lapsing():
                    return
                if not paused:
                    log.warning("job %s: no database for %.0fs (%s); pausing until it answers",
                                self.job.pk, time.monotonic() - self.confirmed_at,
                                _first_line(exc))  # fmt: skip
                    paused = True
                time.sleep(settings.JOB_HEARTBEAT_INTERVAL)
                continue
            self.held = []
            self.written_at, self.written_phase = time.monotonic(), progress.get("phase")
            self.confirm(started)
            if paused:
                log.warning("job %s: the database is back and the job still ours; going on",
                            self.job.pk)  # fmt: skip
            if not going:
                raise JobCancelled("cancelled on request")
            return

    def flush(self) -> None:
        """Write the points the throttle still holds (a job's last curve points)."""
        if self.held:
            self.report(self.held[-1], keep=False, now=True)

    def check(self) -> None:
        """Raise JobCancelled when a user asked to stop: cheap enough to call after every batch,
        since it reads the row at most every CANCEL_POLL_SECONDS."""
        now = time.monotonic()
        if now - self.polled_at < CANCEL_POLL_SECONDS:
            return
        self.polled_at = now
        if self.should_stop():
            raise JobCancelled("cancelled on request")

    def should_stop(self) -> bool:
        """Whether a user asked the job to stop; raises ClaimLost when it is not ours any more,
        or may not be (its claim lapsing while the database is away)."""
        try:
            self.job.refresh_from_db(fields=["cancel_requested", "status", "worker"])
        except CONNECTION_ERRORS:
            _drop_connection()
            if self.claim_lapsing():
                raise ClaimLost(
                    "the database has been away for longer than a claim holds"
                ) from None
            return False
        ours = self.job.status == JobStatus.RUNNING and self.job.worker == self.worker
        if self.lost.is_set() or not ours:
            raise ClaimLost("the job was taken away from this worker")
        return self.job.cancel_requested


class RowLogHandler(logging.Handler):
    """Log records of the job's code, appended to the job row in small batches; while the
    database is away they wait in the buffer."""

    def __init__(self, job_id: int, worker: str) -> None:
        super().__init__(logging.INFO)
        self.job_id = job_id
        self.worker = worker
        self.buffer: list[str] = []
        self.written_at = -float("inf")
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        """Batched, but a line after a quiet second goes at once: the stages of a long job (the
        export, the model build, its first step) show as they happen."""
        self.buffer.append(self.format(record) + "\n")
        quiet = time.monotonic() - self.written_at >= 1.0
        if len(self.buffer) >= 20 or record.levelno >= logging.WARNING or quiet:
            self.flush()

    def flush(self) -> None:
        with suppress(*CONNECTION_ERRORS):
            self.write()

    def write(self) -> None:
        """Append the buffer to the row; on a database error the lines stay for the next try."""
        with self.lock:
            if not self.buffer:
                return
            count = len(self.buffer)
            try:
                services.append_log(self.job_id, "".join(self.buffer[:count]), self.worker)
            except CONNECTION_ERRORS:
                _drop_connection()
                raise
            del self.buffer[:count]
            self.written_at = time.monotonic()


def run(job_id: int, *, inline: bool = False) -> None:
    """Claim the job, run its kind with a heartbeat and the kind's loggers copied onto the row,
    and record how it ended (the Celery task ``run_job`` is this call). ``inline``: a command runs
    the job in its own process (``manage.py cluster``), which names no accelerator it did not
    load."""
    worker = services.worker_name()
    job = until_answered(lambda: services.claim_job(job_id, worker), f"claiming job {job_id}")
    if job is None:
        log.info("job %s is not queued (taken, finished or cancelled); nothing to do", job_id)
        return
    context = JobContext(job, worker)
    stop_beating = _start_heartbeat(context)  # at once: importing torch alone can take seconds
    handler = RowLogHandler(job.pk, worker)
    kind = registry.get(job.kind)
    # The worker's own records (heartbeat, outages) and the kind's code's go to the job's log.
    names = ("jobs", *(kind.loggers if kind else ()))
    job_loggers = [logging.getLogger(name) for name in names]
    for job_logger in job_loggers:
        job_logger.addHandler(handler)
    try:
        _run(context, handler, kind, _device_name() if not inline else _loaded_device())
    finally:
        stop_beating()
        until_answered(handler.write, f"job {job.pk}: its log")
        for job_logger in job_loggers:
            job_logger.removeHandler(handler)


def _run(
    context: JobContext, handler: RowLogHandler, kind: registry.Kind | None, device: str
) -> None:
    """Run the job's kind and record how it ended, unless the job stopped being ours."""
    job, worker = context.job, context.worker
    try:
        job.device = device
        ours = Job.objects.filter(pk=job.pk, worker=worker)
        until_answered(lambda: ours.update(device=job.device), f"job {job.pk}: its device")
        if kind is None:
            raise JobInputError(f"no runner for jobs of kind {job.kind!r}")
        result = _run_through_outages(context, kind.function)
        context.flush()
        metrics, output = result.get("metrics", {}), result.get("output_dir", "")

        def end() -> bool:
            return services.succeed(job.pk, worker, metrics, output)

    except ClaimLost as lost:
        log.warning("job %s: %s; this worker stops and writes nothing more", job.pk, lost)
        return
    except JobCancelled as stop:
        log.info("job %s stopped: %s", job.pk, stop)

        def end() -> None:
            services.mark_cancelled(job.pk, worker)

    except Exception as exc:
        log.exception("job %s failed", job.pk)
        permanent = (JobInputError, *(kind.permanent if kind else ()))
        failure, retry = exc, not isinstance(exc, permanent)

        def end() -> None:
            services.fail_attempt(job.pk, worker, failure, retry=retry)

    # The log is complete by the time the row says the job ended.
    until_answered(handler.write, f"job {job.pk}: its log")
    if until_answered(end, f"job {job.pk}: how it ended") is False:
        log.warning("job %s finished here, but the row no longer shows it running on this "
                    "worker; it is left as it is", job.pk)  # fmt: skip


def _run_through_outages(context: JobContext, function: registry.Runner, tries: int = 3) -> dict:
    """Run the kind's code; when the database went away under it (an export query, storing
    predictions), run it again on the same claim once the database answers, as a requeued job
    would run (training resumes from its last checkpoint) but without spending an attempt."""
    job, worker = context.job, context.worker
    for _ in range(tries - 1):
        try:
            return function(context)
        except CONNECTION_ERRORS as exc:
            log.warning("job %s: the database went away under the job (%s); it runs again "
                        "once the database answers", job.pk, _first_line(exc))  # fmt: skip
            _drop_connection()
            if not until_answered(lambda: services.beat(job.pk, worker), f"job {job.pk}: claim"):
                raise ClaimLost("the job was taken away from this worker") from exc
    return function(context)


def _start_heartbeat(context: JobContext) -> Callable[[], None]:
    done = threading.Event()

    def loop() -> None:
        away_since = None
        try:
            while not done.wait(settings.JOB_HEARTBEAT_INTERVAL):
                started = time.monotonic()
                try:
                    ours = services.beat(context.job.pk, context.worker)
                except CONNECTION_ERRORS as exc:
                    _drop_connection()
                    if away_since is None:
                        away_since = started
                        log.warning("job %s: heartbeat missed, no database (%s)",
                                    context.job.pk, _first_line(exc))  # fmt: skip
                    continue
                if away_since is not None:
                    log.warning("job %s: heartbeat back after %.0fs without a database",
                                context.job.pk, started - away_since)  # fmt: skip
                    away_since = None
                if ours:
                    context.confirm(started)
                else:
                    context.lost.set()
        finally:
            _drop_connection()

    thread = threading.Thread(target=loop, name=f"heartbeat-{context.job.pk}", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join(timeout=settings.JOB_HEARTBEAT_INTERVAL + 5)

    return stop


_reaper_stop = threading.Event()


def start_reaper(sender=None) -> None:
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
            except CONNECTION_ERRORS as exc:
                log.warning("announcing this worker or reaping stale jobs: no database (%s)",
                            _first_line(exc))  # fmt: skip
            except Exception:
                log.exception("announcing this worker or reaping stale jobs failed")
            if _reaper_stop.wait(settings.JOB_REAP_INTERVAL):
                break
        connection.close()

    threading.Thread(target=loop, name="job-reaper", daemon=True).start()


def _loaded_device() -> str:
    """The accelerator, if this process has loaded torch; else the CPU it ran on. Importing torch
    only to say so costs a command seconds."""
    return _device_name() if "torch" in sys.modules else "cpu"


def _device_name() -> str:
    """The worker's accelerator, for the job row and the workers list; "cpu" without torch."""
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)} ×{torch.cuda.device_count()}"
    return "cpu"


def stop_reaper() -> None:
    _reaper_stop.set()
