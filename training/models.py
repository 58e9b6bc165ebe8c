"""Training rows: per-image predictions of a job, and the run a team uses now for each task."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from jobs.models import Job
from labeling.models import Instance
from teams.models import TeamOwned


class JobKind(models.TextChoices):
    """The job kinds this app runs (training/jobs.py)."""

    TRAIN = "train", _("train")
    EVALUATE = "evaluate", _("evaluate")
    PREDICT = "predict", _("predict")


class Prediction(TeamOwned):
    """One image's probabilities from one job, over that run's class names.

    Rows come from a training job's test split, an evaluation, or a prediction job on new
    images; the study page shows them beside the images.
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="predictions")
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="predictions")
    split = models.CharField(_("split"), max_length=10, blank=True)  # "" for new images
    probabilities = models.JSONField(_("probabilities"))  # {class name: probability}
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "instance"], name="one_prediction_per_image")
        ]
        verbose_name = _("prediction")
        verbose_name_plural = _("predictions")

    def __str__(self) -> str:
        return f"{self.job_id}/{self.instance_id}"

    def top(self, count: int = 3) -> list[tuple[str, float]]:
        """The most probable classes first: what a reader scans beside the image."""
        ranked = sorted(self.probabilities.items(), key=lambda item: item[1], reverse=True)
        return ranked[:count]


class CurrentModel(TeamOwned):
    """The run a team uses now for one task: at most one per team and task."""

    task = models.CharField(_("task"), max_length=40)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="current_for")
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "task"], name="one_current_model_per_task")
        ]
        verbose_name = _("current model")
        verbose_name_plural = _("current models")

    def __str__(self) -> str:
        return f"{self.task}: job {self.job_id}"
