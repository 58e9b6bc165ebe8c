"""Maps made before Grad-CAM became a job kind migrate forward as jobs with their status (and
back again): results/migrations/0004_heatmap_jobs_from_status.py says why each status maps as it does."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from jobs.models import Job
from results.models import Heatmap
from tests.factories import make_instance, make_study

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE = [("results", "0002_teams_and_jobs_layers")]
LOST = "No worker made this map before the upgrade; ask again to retry."


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_each_map_gets_a_job_with_its_status_and_gives_it_back(personas):
    run = Job.objects.create(team=personas.team, kind="train", status="succeeded")
    instance = make_instance(make_study(personas.team))
    now = timezone.now()
    rows = {  # label: (status, error, requested, computations)
        "made": ("succeeded", "", now - timedelta(hours=1), 2),
        "broken": ("failed", "This image has no decoded pixels to explain.", now, 0),
        "waiting": ("queued", "", now - timedelta(minutes=1), 0),
        "forgotten": ("queued", "", now - timedelta(minutes=10), 0),
        "orphaned": ("running", "", now - timedelta(minutes=1), 0),
    }
    old = migrate(BEFORE).get_model("results", "Heatmap")
    for label, (status, error, requested, computations) in rows.items():
        old.objects.create(team_id=personas.team.pk, run_id=run.pk, instance_id=instance.pk,
                           label=label, status=status, error=error, requested_at=requested,
                           computations=computations,
                           finished_at=now if status in ("succeeded", "failed") else None)  # fmt: skip

    migrate(latest())

    maps = {row.label: row for row in Heatmap.objects.select_related("job")}
    assert {label: (row.status, row.error) for label, row in maps.items()} == {
        "made": ("succeeded", ""),
        "broken": ("failed", "This image has no decoded pixels to explain."),
        "waiting": ("queued", ""),  # its message is in the broker: the old task name runs it
        "forgotten": ("failed", LOST),  # no worker had it: asking again re-queues it
        "orphaned": ("failed", LOST),
    }
    assert maps["made"].computations == 2
    for label, row in maps.items():
        assert (row.job.kind, row.job.team, row.job.config["label"]) == ("gradcam", run.team, label)
        assert row.job.created_at == rows[label][2]
    assert Heatmap.objects.filter(job__status="queued").get().label == "waiting"

    back = migrate(BEFORE).get_model("results", "Heatmap")
    assert {row.label: (row.status, row.error) for row in back.objects.all()} == {
        "made": ("succeeded", ""),
        "broken": ("failed", "This image has no decoded pixels to explain."),
        "waiting": ("queued", ""),
        "forgotten": ("failed", LOST),
        "orphaned": ("failed", LOST),
    }
    assert not Job.objects.filter(kind="gradcam").exists()
    migrate(latest())
