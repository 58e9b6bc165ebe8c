"""Results rows: Grad-CAM overlays asked for from the study page, computed by a worker.

The dashboard itself reads runs and changes nothing; a heatmap is the one thing it asks a worker
to make. Each map is a ``gradcam`` job (results/jobs.py): the row names what to draw (run, image,
label) and points at the job that draws it, whose status is the map's status; the PNG it
produced lives in the run's folder (results/heatmaps.py).
"""

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from jobs.models import Job, JobStatus
from labeling.models import Instance
from teams.models import TeamOwned

# Errors whose message is written for a reader; the job row stores them as "<type>: <message>".
READABLE_ERRORS = ("HeatmapRequestError", "ConfigError", "JobInputError")


class Heatmap(TeamOwned):
    """A Grad-CAM map of one image for one class of one trained run."""

    run = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="heatmaps")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="heatmaps")
    label = models.CharField(_("label"), max_length=100)
    # The job that makes (or made) the map: a new one only when a made map's file was deleted.
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="heatmap")
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
    def status(self) -> str:
        return self.job.status

    @property
    def pending(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def error(self) -> str:
        """Why the map could not be made, in one line a reader can act on; "" unless it ended
        without a map. Our own errors read as they are, others keep their type."""
        if self.status == JobStatus.CANCELLED:
            return self.job.error or gettext("The map was cancelled.")
        if self.status != JobStatus.FAILED:
            return ""
        kind, sep, message = self.job.error.partition(": ")
        text = message if sep and kind in READABLE_ERRORS else self.job.error
        return " ".join(text.split())[:500]
