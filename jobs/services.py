"""Every change of a job's state: enqueue, claim, heartbeat, progress, finish, cancel, reap.

The row is the truth; Celery only delivers job ids. ``claim_job`` is a conditional update, so
two workers (or a redelivered message) can never run one job at the same time, and every later
write of the running job is conditioned on the worker still holding that claim.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback as tb
from collections.abc import Sequence
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import registry
from .errors import retry_can_help
from .models import Job, JobStatus, WorkerPresence

log = logging.getLogger(__name__)

# A job's curve points on its row: at most this many, the older ones thinned (compact_history).
HISTORY_LIMIT = 2000
LOG_LIMIT = 200_000


class JobStateError(ValueError):
    """An action that does not fit the job's state (e.g. retrying a running job)."""


class JobCancelled(Exception):
    """Raised inside a job when a user asked it to stop (or it is no longer ours to run)."""


class JobInputError(ValueError):
    """What a job was given cannot work (a missing label set, an empty dataset, a bad field):
    the job fails at once with this message, since a second attempt would fail the same way."""


class ClaimLost(JobCancelled):
    """The row is no longer this worker's (the reaper requeued it after its heartbeat stopped,
    another worker holds it, or it has ended): stop and write nothing more to it."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# The task's registered name predates the jobs layer: messages queued before it still run.
RUN_JOB_TASK = "training.run_job"


# A worker requeueing a job keeps sending while the broker is away (kombu retries forever).
PATIENT = {"max_retries": None, "interval_start": 0, "interval_step": 1, "interval_max": 10}


def enqueue(job: Job, *, patient: bool = False) -> None:
    """Send the job id once the row is committed: a worker must never see a missing row.
    Sent by task name, so the web process never imports the job code (and torch). A worker
    requeueing a job is ``patient``: the row already says QUEUED, and without its message the
    job would wait forever."""
    job_id, queue = job.pk, job.queue
    transaction.on_commit(lambda: _send(job_id, queue, patient))


def _send(job_id: int, queue: str, patient: bool) -> None:
    app = current_app
    if not patient:
        app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue)
        return
    # A connection of its own: in a worker, the pooled producer's channel may belong to the
    # connection the consumer dropped when it lost the broker.
    with app.connection_for_write() as connection:
        app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue, connection=connection,
                      retry_policy=PATIENT)  # fmt: skip


@transaction.atomic
def create_job(
    team, owner, kind: str, config: dict, *, name: str = "", queue: str = "", inline: bool = False
) -> Job:
    """A queued job, sent to its kind's queue once committed. ``inline``: no message; the caller
    runs it in this process (``worker.run``), with one attempt, since no worker is there to retry
    it, and should this process die, the reaper ends the job as failed instead of handing it to a
    worker nobody asked for."""
    queue = queue or registry.queue_for(kind)
    job = Job.objects.create(
        team=team, owner=owner, kind=kind, config=config, name=name[:120], queue=queue,
        **({"max_attempts": 1} if inline else {}),
    )  # fmt: skip
    if not inline:
        enqueue(job)
    return job


def claim_job(job_id: int, worker: str) -> Job | None:
    """QUEUED -> RUNNING for exactly one caller; None for everyone else."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, cancel_requested=False).update(
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        heartbeat_at=now,
        worker=worker,
        error="",
        traceback="",
    )
    if not claimed:
        _cancel_if_requested(job_id)
        return None
    return Job.objects.get(pk=job_id)


def _cancel_if_requested(job_id: int) -> None:
    Job.objects.filter(pk=job_id, status=JobStatus.QUEUED, cancel_requested=True).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )


def beat(job_id: int, worker: str) -> bool:
    """Refresh the heartbeat; False when the job is no longer ours (reaped, cancelled)."""
    return bool(
        Job.objects.filter(pk=job_id, status=JobStatus.RUNNING, worker=worker).update(
            heartbeat_at=timezone.now()
        )
    )


def record_progress(
    job_id: int, worker: str, progress: dict, *, keep: bool = True, held: Sequence[dict] = ()
) -> bool:
    """Store the latest progress and append it to the curves, after the points a lost database
    connection held back (``held``); returns whether to go on. Raises ClaimLost when the job is
    no longer this worker's."""
    job = Job.objects.filter(pk=job_id).only("history", "cancel_requested").first()
    history = (job.history if job else []) + list(held) + ([progress] if keep else [])
    stored = Job.objects.filter(pk=job_id, worker=worker, status=JobStatus.RUNNING).update(
        progress=progress, history=compact_history(history, HISTORY_LIMIT),
        heartbeat_at=timezone.now(),
    )  # fmt: skip
    if not stored:
        raise ClaimLost(f"job {job_id} is no longer running on {worker}")
    return not job.cancel_requested


def compact_history(points: list[dict], limit: int) -> list[dict]:
    """At most ``limit`` curve points, older ones thinned, so that a long run keeps its whole
    curve: its first point, the latest points one by one, and the stretch between evenly.

    Over the limit, the newest quarter of training points stay dense; of the older ones, the
    first in each stretch of steps is kept, the stretches doubling in length (the resolution
    halving) until they fit in what is left. Epoch points (validation) are all kept while they
    take at most half the limit; a run with more epochs has its older epochs thinned alike.
    """
    if len(points) <= limit:
        return points
    steps = [i for i, point in enumerate(points) if point.get("phase") == "train"]
    epochs = [i for i, point in enumerate(points) if point.get("phase") != "train"]
    epochs = _thinned(points, epochs, "epoch", newest=limit // 8, room=limit // 2 - limit // 8)
    room = limit - len(epochs) - limit // 4
    steps = _thinned(points, steps, "step", newest=limit // 4, room=room)
    return [points[i] for i in sorted(steps + epochs)]


def _thinned(
    points: list[dict], indexes: list[int], axis: str, newest: int, room: int
) -> list[int]:
    """The ``newest`` last of ``indexes`` and, before them, the first point in each stretch of
    ``axis`` (steps, epochs), stretches of the length (a power of two) that fits ``room``."""
    room = max(room, 1)
    if len(indexes) <= newest + room:
        return indexes
    older, recent = indexes[: len(indexes) - newest], indexes[len(indexes) - newest :]

    def position(i: int) -> int:  # a point without the axis counts by its place in the list
        value = points[i].get(axis)
        return value if isinstance(value, int) else i

    span = max(map(position, older)) - min(map(position, older)) + 1
    stride = 1 << max((span // room).bit_length() - 1, 0)
    while len({position(i) // stride for i in older}) > room:
        stride *= 2
    kept, stretches = [], set()
    for i in older:
        if position(i) // stride not in stretches:
            stretches.add(position(i) // stride)
            kept.append(i)
    return kept + recent


def append_log(job_id: int, text: str, worker: str = "") -> None:
    """Append to the job's log; with ``worker``, only while that worker holds the job."""
    rows = Job.objects.filter(pk=job_id, **({"worker": worker} if worker else {}))
    job = rows.only("log").first()
    if job is not None:
        rows.update(log=(job.log + text)[-LOG_LIMIT:])


def succeed(job_id: int, worker: str, metrics: dict, output_dir: str = "") -> bool:
    """RUNNING -> SUCCEEDED, if the job is still this worker's; returns whether it was."""
    return (
        Job.objects.filter(pk=job_id, worker=worker, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED,
            metrics=metrics,
            output_dir=output_dir,
            finished_at=timezone.now(),
        )
        == 1
    )


def mark_cancelled(job_id: int, worker: str) -> None:
    Job.objects.filter(pk=job_id, worker=worker, status=JobStatus.RUNNING).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )


def fail_attempt(job_id: int, worker: str, exc: BaseException, *, retry: bool) -> Job | None:
    """Record the error; requeue when attempts remain and a retry can help. Returns the job."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.RUNNING or job.worker != worker:
            return job
        job.error = f"{type(exc).__name__}: {exc}"[:2000]
        job.traceback = "".join(tb.format_exception(exc))[-20000:]
        if retry and job.attempts < job.max_attempts and not job.cancel_requested:
            job.status = JobStatus.QUEUED
            job.worker = ""
            job.save()
            enqueue(job, patient=True)
        else:
            job.status = JobStatus.FAILED
            job.finished_at = timezone.now()
            job.save()
    return job


@transaction.atomic
def request_cancel(job: Job) -> Job:
    """Queued jobs stop at once; running ones at their next step (keeping their checkpoint)."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.finished:
        raise JobStateError(f"job {job.pk} has already {job.status}")
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED:
        job.status = JobStatus.CANCELLED
        job.finished_at = timezone.now()
    job.save()
    return job


@transaction.atomic
def retry(job: Job) -> Job:
    """Run a failed or cancelled job again (a training job resumes from its last checkpoint)."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise JobStateError(
            f"only failed or cancelled jobs can be retried; job {job.pk} is {job.status}"
        )
    job.status = JobStatus.QUEUED
    job.cancel_requested = False
    job.attempts = 0
    job.finished_at = None
    job.save()
    enqueue(job)
    return job


def retry_by_user(job: Job) -> Job:
    """A person's Retry: refused when the job failed on its input, since it would fail the same
    way again (jobs.errors); code that re-requests work (a Grad-CAM map) calls ``retry``."""
    if job.status == JobStatus.FAILED and not retry_can_help(job):
        raise JobStateError(
            f"job {job.pk} failed on its input ({job.error[:200]}); a retry would fail the same "
            "way: rerun it with an edited config"
        )
    return retry(job)


def reap_stale(timeout: timedelta | None = None) -> list[int]:
    """Requeue running jobs whose worker stopped beating (killed, lost its host); fail those
    out of attempts. Safe to call from every worker at once: each row is locked and rechecked."""
    timeout = timeout or timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    cutoff = timezone.now() - timeout
    reaped = []
    stale = Job.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff)
    for job_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.status != JobStatus.RUNNING or job.heartbeat_at >= cutoff:
                continue
            note = f"worker {job.worker} stopped sending heartbeats"
            job.worker = ""
            if job.attempts < job.max_attempts and not job.cancel_requested:
                job.status = JobStatus.QUEUED
                job.error = note
                job.save()
                enqueue(job, patient=True)
            else:
                job.status = JobStatus.CANCELLED if job.cancel_requested else JobStatus.FAILED
                job.error = f"{note}; {job.attempts} attempts made"
                job.finished_at = timezone.now()
                job.save()
            reaped.append(job_id)
            log.warning("job %s: %s", job_id, note)
    return reaped


def announce_worker(name: str, queues: list[str], device: str) -> None:
    WorkerPresence.objects.update_or_create(
        name=name, defaults={"queues": queues, "device": device, "last_seen": timezone.now()}
    )


def online_workers(within: timedelta | None = None) -> list[WorkerPresence]:
    within = within or timedelta(seconds=3 * settings.JOB_REAP_INTERVAL + 30)
    return list(WorkerPresence.objects.filter(last_seen__gte=timezone.now() - within))


def gpu_worker_online() -> bool:
    return any(
        "gpu" in worker.queues and worker.device.startswith("cuda") for worker in online_workers()
    )


def queue_position(job: Job) -> int | None:
    """1 for the next job its queue will start; None when it is not waiting."""
    if job.status != JobStatus.QUEUED:
        return None
    ahead = Job.objects.filter(
        queue=job.queue, status=JobStatus.QUEUED, created_at__lt=job.created_at
    )
    return ahead.count() + 1
