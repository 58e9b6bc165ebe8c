"""Jobs: the database row is the source of truth for every long piece of work.

Celery messages carry only a job id. A worker claims the row with a conditional update (so a
job never runs twice at once, whatever the broker redelivers), writes a heartbeat while it
works, and records progress, metrics, log and error on the row. A reaper requeues jobs whose
heartbeat stopped, up to ``max_attempts``.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from teams.models import TeamOwned

from . import registry


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CANCELLED = "cancelled", _("cancelled")


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(TeamOwned):
    # A kind registered by an app (jobs.registry); no choices, so a new kind needs no migration.
    kind = models.CharField(_("kind"), max_length=20)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="jobs"
    )
    name = models.CharField(_("name"), max_length=120, blank=True)
    tags = models.JSONField(_("tags"), default=list, blank=True)  # registry labels for runs
    config = models.JSONField(_("configuration"), default=dict)
    queue = models.CharField(max_length=20, default="default")
    status = models.CharField(
        _("status"), max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    device = models.CharField(_("device"), max_length=100, blank=True)
    # {"phase", "epoch", "epochs", "step", "total_steps", "loss", "images_per_s", "eta_s", ...}
    progress = models.JSONField(default=dict)
    history = models.JSONField(default=list)  # progress points for the live curves
    metrics = models.JSONField(default=dict)
    log = models.TextField(blank=True)
    error = models.TextField(_("error"), blank=True)
    traceback = models.TextField(blank=True)
    output_dir = models.CharField(max_length=255, blank=True)

    class Meta:
        # Created when jobs lived in the training app; the rows stayed put.
        db_table = "training_job"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "status"], name="training_jo_team_id_a8f917_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="training_jo_status_0e0373_idx"),
        ]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    def get_kind_display(self) -> str:
        return registry.label_for(self.kind)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def fraction_done(self) -> float:
        total = self.progress.get("total_steps") or 0
        return min(1.0, (self.progress.get("step") or 0) / total) if total else 0.0


class WorkerPresence(models.Model):
    """A Celery worker seen recently: which queues it serves and on what device.

    Not team-owned: workers serve every team, and a page shows only the hostname and device.
    """

    name = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list)
    device = models.CharField(max_length=100, blank=True)
    last_seen = models.DateTimeField()

    class Meta:
        db_table = "training_workerpresence"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.device})"
