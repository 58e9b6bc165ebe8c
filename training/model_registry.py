"""The model registry: which finished training runs are models, their names and tags, and the
run each team uses now for each task."""

from __future__ import annotations

from django.db import transaction

from jobs.models import Job, JobStatus
from jobs.services import JobStateError

from .models import CurrentModel, JobKind


def registered_run(job: Job) -> Job:
    """Only training jobs that succeeded are models; anything else is a JobStateError."""
    if job.kind != JobKind.TRAIN or job.status != JobStatus.SUCCEEDED:
        raise JobStateError(f"job {job.pk} is not a training job that succeeded")
    return job


def registered_runs():
    """Every model of the registry (the rule of ``registered_run``, as a queryset)."""
    return Job.objects.filter(kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED)


def run_task(job: Job) -> str:
    return job.metrics.get("task") or job.config.get("engine", {}).get("task", "")


def describe_run(job: Job, name: str, tags: list[str]) -> Job:
    """Rename and tag a finished run (tags deduplicated, order kept)."""
    registered_run(job)
    job.name = name[:120]
    job.tags = list(dict.fromkeys(tag.strip() for tag in tags if tag.strip()))
    job.save(update_fields=["name", "tags"])
    return job


@transaction.atomic
def mark_current(job: Job, user) -> CurrentModel:
    """Make this run the team's current model for its task, replacing the previous one."""
    registered_run(job)
    task = run_task(job)
    current = CurrentModel.objects.select_for_update().filter(team=job.team, task=task).first()
    if current is None:
        return CurrentModel.objects.create(team=job.team, task=task, job=job, marked_by=user)
    current.job, current.marked_by = job, user
    current.save(update_fields=["job", "marked_by", "marked_at"])
    return current


def is_current(job: Job) -> bool:
    return CurrentModel.objects.filter(team=job.team, job=job).exists()
