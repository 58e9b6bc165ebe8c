"""Every clustering run gets a job (kind "cluster"), so that the job can be the one place its
status lives: runs made in-process (``manage.py cluster``) had none. The job takes the run's
status, progress, error and timestamps; its owner is the run's author.

A jobless run left "running" belonged to a process that is gone: its job says running, with
its last heartbeat at the run's start and no attempt left, so a worker's reaper ends it as
failed instead of it running forever. Only rows change here; ``0006`` changes the table (apart,
so PostgreSQL never alters a table with foreign-key checks pending).
"""

from django.db import migrations


def give_every_run_a_job(apps, schema_editor) -> None:
    ClusterRun = apps.get_model("curation", "ClusterRun")
    Job = apps.get_model("jobs", "Job")
    for run in ClusterRun.objects.filter(job__isnull=True).order_by("pk"):
        running = run.status == "running"
        job = Job.objects.create(
            team_id=run.team_id,
            owner_id=run.created_by_id,
            kind="cluster",
            name=f"clustering k={run.k} seed={run.seed}"[:120],
            config={"cluster_run": run.pk, "k": run.k, "seed": run.seed},
            queue="default",
            status=run.status,
            attempts=1 if run.started_at or running else 0,
            max_attempts=1 if running else 3,
            started_at=run.started_at,
            finished_at=run.finished_at,
            heartbeat_at=(run.started_at or run.created_at) if running else None,
            progress={"phase": run.stage, "epoch": 1, "epochs": 1,
                      "step": round(run.progress * 100), "total_steps": 100},  # fmt: skip
            error=run.error,
        )
        Job.objects.filter(pk=job.pk).update(created_at=run.created_at)  # not "now"
        ClusterRun.objects.filter(pk=run.pk).update(job=job)


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0004_teams_and_jobs_layers"),
        ("jobs", "0001_moved_from_training"),
    ]

    operations = [
        migrations.RunPython(give_every_run_a_job, migrations.RunPython.noop, elidable=True),
    ]
