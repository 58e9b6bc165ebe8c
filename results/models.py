"""Results rows: Grad-CAM overlays asked for from the study page, computed by a worker.

The dashboard itself reads runs and changes nothing; a heatmap is the one thing it asks a worker
to make. The row says where that work stands (queued, running, succeeded, failed with a
message); the PNG it produced lives in the run's folder (results/heatmaps.py).
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs.models import Job, JobStatus
from labeling.models import Instance
from teams.models import TeamOwned


class Heatmap(TeamOwned):
    """A Grad-CAM map of one image for one class of one trained run."""

    run = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="heatmaps")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="heatmaps")
    label = models.CharField(_("label"), max_length=100)
    status = models.CharField(
        _("status"), max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    error = models.TextField(_("error"), blank=True)
    requested_at = models.DateTimeField(default=timezone.now)  # set again on each requeue
    finished_at = models.DateTimeField(null=True, blank=True)
    computations = models.PositiveIntegerField(default=0)  # a cache hit adds none

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "instance", "label"], name="one_heatmap_per_run_image_label"
            )
        ]
        verbose_name = _("heatmap")
        verbose_name_plural = _("heatmaps")

    def __str__(self) -> str:
        return f"{self.run_id}/{self.instance_id}/{self.label} ({self.status})"

    @property
    def pending(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)
