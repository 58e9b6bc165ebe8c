"""A clustering run reads its status, progress, stage and start and end times from its job:
those columns go, the run's ``error`` becomes ``failure`` (its own reason; ``ClusterRun.error``
now also reads the job's), and every run must have a job (``0005`` gave one to each).

Going back restores the columns from the jobs."""

import django.db.models.deletion
from django.db import migrations, models


def copy_back_from_jobs(apps, schema_editor) -> None:
    ClusterRun = apps.get_model("curation", "ClusterRun")
    for run in ClusterRun.objects.select_related("job").filter(job__isnull=False):
        job = run.job
        total = job.progress.get("total_steps") or 0
        ClusterRun.objects.filter(pk=run.pk).update(
            status="failed" if job.status == "cancelled" else job.status,
            progress=min(1.0, (job.progress.get("step") or 0) / total) if total else 0.0,
            stage=str(job.progress.get("phase") or "")[:100],
            started_at=job.started_at,
            finished_at=job.finished_at,
            error=run.error or (job.error if job.status in ("failed", "cancelled") else ""),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0005_every_cluster_run_has_a_job"),
        ("jobs", "0001_moved_from_training"),
    ]

    operations = [
        # Runs backwards last, once the columns are back.
        migrations.RunPython(migrations.RunPython.noop, copy_back_from_jobs),
        migrations.RenameField(model_name="clusterrun", old_name="error", new_name="failure"),
        migrations.RemoveField(model_name="clusterrun", name="status"),
        migrations.RemoveField(model_name="clusterrun", name="progress"),
        migrations.RemoveField(model_name="clusterrun", name="stage"),
        migrations.RemoveField(model_name="clusterrun", name="started_at"),
        migrations.RemoveField(model_name="clusterrun", name="finished_at"),
        migrations.AlterField(
            model_name="clusterrun",
            name="job",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="cluster_run",
                to="jobs.job",
            ),
        ),
    ]
