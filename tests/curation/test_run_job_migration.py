"""Runs made before a run's status became its job's: each gets a job of the right status, and
nothing about the run is lost."""

from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs.services import reap_stale

BEFORE = [("curation", "0004_teams_and_jobs_layers")]
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_run_has_a_job_of_its_old_status_after_migrating():
    try:
        old = migrate(BEFORE).loader.project_state(BEFORE).apps
        team = old.get_model("teams", "Team").objects.create(name="Radiology A", slug="rad-a")
        ana = old.get_model("auth", "User").objects.create(username="ana")
        Run = old.get_model("curation", "ClusterRun")
        jobless = {}
        for i, status in enumerate(["queued", "running", "succeeded", "failed"]):
            run = Run.objects.create(
                team=team, k=5 + i, seed=i, status=status, created_by=ana,
                progress=1.0 if status == "succeeded" else 0.5, stage=f"stage {status}",
                error="k=50 is larger than the number of unique clauses (9)"
                if status == "failed" else "",
                started_at=None if status == "queued" else T0 + timedelta(minutes=1),
                finished_at=T0 + timedelta(minutes=2) if status in ("succeeded", "failed") else None,
            )  # fmt: skip
            Run.objects.filter(pk=run.pk).update(created_at=T0)
            jobless[run.pk] = status
        queued_job = old.get_model("jobs", "Job").objects.create(
            team=team, owner=ana, kind="cluster", config={"k": 3}, status="cancelled"
        )
        with_job = Run.objects.create(team=team, k=3, job=queued_job, status="queued")

        migrate(latest())
    finally:
        migrate(latest())  # leave the schema as every other test expects it

    ClusterRun = apps.get_model("curation", "ClusterRun")
    for pk, status in jobless.items():
        run = ClusterRun.objects.select_related("job", "job__owner").get(pk=pk)
        job = run.job
        assert run.status == status and job.status == status
        assert (job.kind, job.team_id, job.owner.username) == ("cluster", team.pk, "ana")
        assert job.config == {"cluster_run": pk, "k": run.k, "seed": run.seed}
        assert job.created_at == T0 and run.started_at == job.started_at
        assert job.finished_at == (T0 + timedelta(minutes=2) if status in ("succeeded", "failed")
                                   else None)  # fmt: skip
        assert run.stage == f"stage {status}"
        assert run.progress == (1.0 if status == "succeeded" else 0.5)
    by_status = {status: ClusterRun.objects.get(pk=pk) for pk, status in jobless.items()}
    failed = by_status["failed"]
    assert failed.error == failed.failure == failed.job.error
    assert "larger than the number of unique clauses" in failed.error
    # A jobless run left running had a process that is gone: the reaper ends it, never reruns it.
    assert reap_stale() == [by_status["running"].job_id]
    assert ClusterRun.objects.get(pk=by_status["running"].pk).status == "failed"
    # A run that had a job keeps it, and reads its status from it (no longer "queued").
    kept = ClusterRun.objects.select_related("job").get(pk=with_job.pk)
    assert kept.job_id == queued_job.pk and kept.status == "failed"
    assert kept.error == "the job was cancelled"
    Job = apps.get_model("jobs", "Job")
    assert Job.objects.count() == len(jobless) + 1
