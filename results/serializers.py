"""The results API's shapes (results/api.py): runs with their test metrics as the run page shows
them, and a run's scored images.

A run's metrics come from the same place as its page: ``metrics.json`` in its folder (the job
row's copy in lists, which is the same report without the training history), per label through
``pages.label_rows``, the function behind the page's table. Numbers are rates in 0..1; an
undefined one (an AUC without positives, say) is null.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.models import Job
from training.engine.metrics import to_jsonable

from . import artifacts, pages, queries

# One-number figures of a test report; a figure the report has per label is null here.
SUMMARY = ("n", "accuracy", "auc", "auc_ci95", "sensitivity", "specificity", "threshold",
           "macro_auc", "mean_ap")  # fmt: skip


def _rate(**kwargs) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, **kwargs)


def _interval() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(allow_null=True), allow_null=True, min_length=2,
        max_length=2, help_text="95% bootstrap interval of the AUC: [low, high]",
    )  # fmt: skip


class LabelMetricsSerializer(serializers.Serializer):
    """One row of the run page's table (the paper's Table II, with AUC, support and PPV)."""

    key = serializers.CharField()
    name = serializers.CharField(help_text="the label's name in the request's language")
    specificity = _rate()
    sensitivity = _rate()
    top3_sensitivity = _rate(help_text="single-disease task only")
    auc = _rate()
    auc_ci95 = _interval()
    support = serializers.IntegerField(
        allow_null=True, help_text="test images with the label (run detail only)"
    )
    ppv = _rate(help_text="share of the label's positive calls that are right (run detail only)")


class MetricsSerializer(serializers.Serializer):
    """A test report: its one-number figures, and per label the run page's rows."""

    subset = serializers.CharField(
        help_text="task: the run's own test images; multi_disease: the paper's task 3 images "
        "(two or more labels) scored by a single-disease model"
    )
    n = serializers.IntegerField(allow_null=True, help_text="test images")
    accuracy = _rate()
    auc = _rate(help_text="normal vs abnormal only (else per label)")
    auc_ci95 = _interval()
    sensitivity = _rate(help_text="normal vs abnormal only (else per label)")
    specificity = _rate(help_text="normal vs abnormal only (else per label)")
    threshold = _rate(help_text="normal vs abnormal: the decision threshold on P(abnormal)")
    macro_auc = _rate()
    mean_ap = _rate(help_text="mean per-image average precision (multi-label reports)")
    labels = LabelMetricsSerializer(many=True)


@dataclass
class RunRecord:
    """What the API says about one run; ``run`` (its artifacts) only for the detail."""

    job: Job
    label_set: object | None
    run: artifacts.RunArtifacts | None = None
    metrics: dict = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = self.run.metrics if self.run is not None else (self.job.metrics or {})

    @property
    def class_names(self) -> list[str]:
        return list(self.metrics.get("class_names") or [])

    @property
    def task(self) -> str:
        engine = self.job.config.get("engine", {})
        return self.metrics.get("task") or engine.get("task", "")

    def names(self) -> dict[str, str]:
        return queries.display_names(self.label_set, self.class_names)

    def block(self, which: str) -> dict | None:
        """A test report as the API shows it (``task``: the run's own, as on its page;
        ``multi_disease``: the paper's task 3 images); None when the run has none."""
        source = self.run or artifacts.RunArtifacts(None, metrics=self.metrics)
        subset = artifacts.default_subset(source) if which == "task" else which
        report = artifacts.report_block(source, subset)
        if not report:
            return None
        per_label = subset == "multi_disease" or self.task != "normal_abnormal"
        rows = (pages.label_rows(report, self._scored(subset), self.names(), "", self.class_names)
                if per_label else [])  # fmt: skip
        summary = {name: report.get(name) for name in SUMMARY}
        summary = {name: None if isinstance(value, dict) else value
                   for name, value in summary.items()}  # fmt: skip
        if isinstance(summary["auc_ci95"], list) and len(summary["auc_ci95"]) != 2:
            summary["auc_ci95"] = None
        labels = [{"key": row.key, "name": row.name, "specificity": row.specificity,
                   "sensitivity": row.sensitivity, "top3_sensitivity": row.top3,
                   "auc": row.auc, "auc_ci95": list(row.ci) if row.ci else None,
                   "support": row.support, "ppv": row.ppv} for row in rows]  # fmt: skip
        return to_jsonable({"subset": subset, **summary, "labels": labels})

    def _scored(self, subset: str) -> artifacts.Scored | None:
        if self.run is None or not self.run.predictions:
            return None
        data = artifacts.scored(self.run, subset)
        return data if len(data) else None


class RunSerializer(serializers.Serializer):
    """A training or evaluation run, with its test metrics as on its page."""

    id = serializers.IntegerField(source="job.pk")
    kind = serializers.CharField(source="job.kind", help_text="train or evaluate")
    name = serializers.CharField(source="job.name")
    tags = serializers.ListField(child=serializers.CharField(), source="job.tags")
    status = serializers.CharField(source="job.status")
    team = serializers.IntegerField(source="job.team_id")
    owner = serializers.CharField(source="job.owner.username", default=None, allow_null=True)
    task = serializers.CharField()
    architecture = serializers.SerializerMethodField()
    label_set = serializers.IntegerField(source="label_set.pk", default=None, allow_null=True)
    label_set_version = serializers.IntegerField(
        source="label_set.version", default=None, allow_null=True
    )
    source_job = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(source="job.created_at")
    started_at = serializers.DateTimeField(source="job.started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="job.finished_at", allow_null=True)
    metrics = serializers.SerializerMethodField()
    multi_disease = serializers.SerializerMethodField()
    page = serializers.SerializerMethodField()
    predictions = serializers.SerializerMethodField()

    def get_architecture(self, record: RunRecord) -> str:
        engine = record.job.config.get("engine", {})
        return record.metrics.get("arch") or engine.get("arch", "")

    def get_source_job(self, record: RunRecord) -> int | None:
        """An evaluation's training run."""
        return record.job.config.get("source_job")

    @extend_schema_field(MetricsSerializer(allow_null=True))
    def get_metrics(self, record: RunRecord) -> dict | None:
        return record.block("task")

    @extend_schema_field(MetricsSerializer(allow_null=True))
    def get_multi_disease(self, record: RunRecord) -> dict | None:
        return record.block("multi_disease")

    def get_page(self, record: RunRecord) -> str:
        """The run's page in the browser."""
        return self._url(reverse("results:run", args=[record.job.pk]))

    def get_predictions(self, record: RunRecord) -> str:
        return self._url(reverse("run-predictions", args=[record.job.pk]))

    def _url(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class RunDetailSerializer(RunSerializer):
    """One run: also support and PPV per label (counted from its predictions), the confusion
    matrix, the patient-level split, its configuration, and which run files are missing."""

    confusion_matrix = serializers.SerializerMethodField()
    best_epoch = serializers.IntegerField(source="metrics.best_epoch", default=None)
    split = serializers.JSONField(
        source="job.metrics.patient_split", default=None, help_text="the patient-level split"
    )
    split_counts = serializers.JSONField(source="metrics.split_counts", default=None)
    config = serializers.JSONField(source="job.config")
    missing = serializers.ListField(child=serializers.CharField(), source="run.missing")
    problems = serializers.ListField(child=serializers.CharField(), source="run.problems")

    def get_confusion_matrix(self, record: RunRecord) -> list[list[int]] | None:
        """Rows: true class, columns: predicted, in the order of the metrics' labels."""
        matrix = (record.metrics.get("test") or {}).get("confusion_matrix")
        return matrix if isinstance(matrix, list) else None


class RunPredictionSerializer(serializers.Serializer):
    """One scored image of a run (a line of its predictions.jsonl, as the CSV export has it)."""

    image_id = serializers.CharField(help_text="SOP Instance UID")
    instance = serializers.IntegerField(allow_null=True, help_text="/api/instances/{id}/")
    study = serializers.IntegerField(allow_null=True, help_text="/api/studies/{id}/")
    split = serializers.CharField()
    subset = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField(), help_text="true label keys")
    probabilities = serializers.DictField(child=serializers.FloatField(allow_null=True))


class RunPredictionPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RunPredictionSerializer(many=True)
