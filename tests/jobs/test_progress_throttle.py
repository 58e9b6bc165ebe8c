"""Progress from the engine's hot loop reaches the job row at most every JOB_PROGRESS_INTERVAL:
points in between are held and written with the next write, so no curve point is lost and the
engine does not wait on the database every few steps."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import services as job_services
from jobs.models import Job
from jobs.services import JobCancelled
from jobs.worker import JobContext


@pytest.fixture
def context(personas, settings):
    settings.JOB_PROGRESS_INTERVAL = 60  # nothing is written for time's sake during a test
    job = Job.objects.create(team=personas.team, owner=personas.owner, kind="train", config={})
    return JobContext(job_services.claim_job(job.pk, "worker-1"), "worker-1")


def point(phase: str, step: int) -> dict:
    return {"phase": phase, "epoch": 1, "epochs": 1, "step": step, "total_steps": 100}


def updates(queries) -> int:
    return sum(query["sql"].startswith("UPDATE") for query in queries.captured_queries)


def test_points_of_one_phase_are_held_between_writes_and_none_is_lost(context):
    with CaptureQueriesContext(connection) as queries:
        for step in range(1, 41):
            context.report(point("train", step))
    assert updates(queries) == 1  # the first point; the other 39 wait for the next write
    assert len(Job.objects.get(pk=context.job.pk).history) == 1

    context.report(point("validate", 40))  # a new phase is written at once, with what waited
    job = Job.objects.get(pk=context.job.pk)
    assert [p["step"] for p in job.history] == list(range(1, 41)) + [40]
    assert job.progress["phase"] == "validate"


def test_flush_writes_the_held_points(context):
    for step in range(1, 6):
        context.report(point("train", step))
    context.flush()
    job = Job.objects.get(pk=context.job.pk)
    assert [p["step"] for p in job.history] == [1, 2, 3, 4, 5]
    assert job.progress["step"] == 5


def test_with_no_interval_every_point_is_written(context, settings):
    settings.JOB_PROGRESS_INTERVAL = 0
    with CaptureQueriesContext(connection) as queries:
        for step in range(1, 11):
            context.report(point("train", step))
    assert updates(queries) == 10


def test_a_cancel_is_seen_at_the_next_write(context, settings):
    context.report(point("train", 1))
    Job.objects.filter(pk=context.job.pk).update(cancel_requested=True)
    context.report(point("train", 2))  # held: not seen yet
    settings.JOB_PROGRESS_INTERVAL = 0
    with pytest.raises(JobCancelled):
        context.report(point("train", 3))
