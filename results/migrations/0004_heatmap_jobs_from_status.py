"""Every Grad-CAM map gets a ``gradcam`` job, whose status becomes the map's.

Decision: every existing row is kept and given a job with its status, rather than dropping the
rows whose PNG is only a cache. A succeeded row is what lets a page show its PNG at once (with
no row the route answers "none" and the viewer would queue a job to find the file), and it
holds the map's ``computations``. So:

- succeeded and failed rows get a finished job with the same status and message;
- a queued row asked for less than five minutes ago gets a queued job: its message, sent before
  the upgrade under the old task name, is still in the broker, and that task now runs the row's
  job (results/tasks.py);
- a running row, or one queued longer than that, had lost its worker (the old five-minute rule
  said so too): its job fails with a message saying to ask again, which re-queues it. A queued
  job without a message would wait forever, since the reaper only requeues running jobs.

The job column comes in 0003 and the status columns go in 0005, each migration in a transaction
of its own: PostgreSQL alters no table with pending deferred foreign-key checks, which these
rows leave until their transaction ends (both ways).
"""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

KIND = "gradcam"
STALE_AFTER = timedelta(minutes=5)  # the rule the jobs layer's heartbeat replaces
LOST = "No worker made this map before the upgrade; ask again to retry."
READABLE_ERRORS = ("HeatmapRequestError", "ConfigError", "JobInputError")


def _status_of(row, now) -> tuple[str, str]:
    if row.status == "running" or (row.status == "queued" and row.requested_at <= now - STALE_AFTER):
        return "failed", LOST
    return row.status, row.error


def give_each_map_a_job(apps, schema_editor):
    Heatmap = apps.get_model("results", "Heatmap")
    Job = apps.get_model("jobs", "Job")
    now = timezone.now()
    for row in Heatmap.objects.order_by("pk").iterator():
        status, error = _status_of(row, now)
        finished_at = (row.finished_at or now) if status != "queued" else None
        job = Job.objects.create(
            team_id=row.team_id, kind=KIND, queue="default", name=row.label,
            config={"run": row.run_id, "instance": row.instance_id, "label": row.label},
            status=status, error=error, attempts=0 if status == "queued" else 1,
            started_at=finished_at, finished_at=finished_at,
        )
        Job.objects.filter(pk=job.pk).update(created_at=row.requested_at)  # not auto_now_add's
        Heatmap.objects.filter(pk=row.pk).update(job=job)


def take_the_status_back(apps, schema_editor):
    """Back to rows that hold their own status; the maps' jobs go."""
    Heatmap = apps.get_model("results", "Heatmap")
    Job = apps.get_model("jobs", "Job")
    for row in Heatmap.objects.select_related("job").exclude(job=None).iterator():
        job = row.job
        kind, sep, message = job.error.partition(": ")
        error = message if sep and kind in READABLE_ERRORS else job.error
        Heatmap.objects.filter(pk=row.pk).update(
            status=job.status, error=" ".join(error.split())[:500] if job.status == "failed" else "",
            requested_at=job.created_at, finished_at=job.finished_at, job=None,
        )  # fmt: skip
    Job.objects.filter(kind=KIND).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_moved_from_training'),
        ('results', '0003_heatmap_job'),
    ]

    operations = [
        migrations.RunPython(give_each_map_a_job, take_the_status_back),
    ]
