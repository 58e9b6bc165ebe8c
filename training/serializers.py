"""The API's shapes: jobs, predictions, registry edits, and each kind's config fields.

``parse_config`` turns a kind's config into its typed config (training/configs.py); it is the one
parser behind training/launch.py, whichever of the form, the API or a command launched the job.
"""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.models import Job

from .configs import JOB_CONFIGS, InvalidConfig, JobConfig, engine_errors
from .models import JobKind, Prediction


class JobSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True, default=None)
    fraction_done = serializers.FloatField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "id", "kind", "name", "status", "owner", "config", "queue", "attempts",
            "max_attempts", "cancel_requested", "created_at", "started_at", "finished_at",
            "heartbeat_at", "worker", "device", "progress", "fraction_done", "metrics", "error",
        ]  # fmt: skip
        read_only_fields = [f for f in fields if f not in ("kind", "name", "config")]


class JobDetailSerializer(JobSerializer):
    """One job, with what its live page draws: the progress points and the log's tail."""

    log_tail = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "history", "log_tail", "queue_position", "traceback"]
        read_only_fields = fields

    def get_log_tail(self, job: Job) -> str:
        return "\n".join(job.log.splitlines()[-200:])

    def get_queue_position(self, job: Job) -> int | None:
        from jobs.services import queue_position

        return queue_position(job)


class TrainConfigSerializer(serializers.Serializer):
    """A training job's config: a frozen label set and engine settings, checked field by field
    before any job exists."""

    label_set = serializers.IntegerField(min_value=1)
    engine = serializers.DictField(required=False, default=dict)
    gpus = serializers.IntegerField(
        min_value=1, max_value=64, required=False, help_text="GPUs for one job: torchrun above 1"
    )

    def validate_engine(self, engine: dict) -> dict:
        errors = engine_errors(engine)
        if errors:
            raise serializers.ValidationError(errors)
        return engine


class EvaluateConfigSerializer(serializers.Serializer):
    """Evaluate a finished training job on its own test split, or on another frozen label set
    (with the same labels) of the team."""

    source_job = serializers.IntegerField(min_value=1)
    label_set = serializers.IntegerField(min_value=1, required=False)
    eval_crops = serializers.ChoiceField(
        choices=["five", "center"], required=False,
        help_text="five: corners + centre, averaged (the paper); default: the run's own",
    )  # fmt: skip
    device = serializers.ChoiceField(choices=["auto", "cpu", "cuda"], required=False)


class PredictConfigSerializer(EvaluateConfigSerializer):
    """Predict with a finished training job on images it did not learn from: the given studies,
    a label set's images, or (neither given) every decoded, non-quarantined image of the team;
    narrowed to images this run has not scored yet (``images``) or ingested since a date."""

    studies = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_empty=False,
        max_length=10000,
    )  # fmt: skip
    images = serializers.ChoiceField(
        choices=["all", "unpredicted"], required=False,
        help_text="unpredicted: only images without a prediction from the source run",
    )  # fmt: skip
    since = serializers.DateField(required=False, help_text="only images ingested on or after")

    def validate_since(self, since) -> str:
        return since.isoformat()  # the config is stored as JSON


CONFIG_SERIALIZERS = {
    JobKind.TRAIN: TrainConfigSerializer,
    JobKind.EVALUATE: EvaluateConfigSerializer,
    JobKind.PREDICT: PredictConfigSerializer,
}


def parse_config(kind: str, data: object) -> JobConfig:
    """A kind's config, checked field by field, as its typed config; InvalidConfig otherwise."""
    form = CONFIG_SERIALIZERS[kind](data=data)
    if not form.is_valid():
        raise InvalidConfig(form.errors)
    values = dict(form.validated_data)
    if values.get("studies") is not None:
        values["studies"] = tuple(values["studies"])
    return JOB_CONFIGS[kind](**values)


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=list(CONFIG_SERIALIZERS))
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    team = serializers.CharField(required=False, help_text="team id or slug (default: active)")
    config = serializers.DictField(
        help_text="train: {label_set, engine, gpus}; evaluate: {source_job, label_set, "
        "eval_crops, device}; predict: {source_job, label_set, studies, images, since, "
        "eval_crops, device}"
    )

    def validate(self, data: dict) -> dict:
        """The config parsed into its kind's typed config (training/configs.py), once."""
        try:
            return {**data, "config": parse_config(data["kind"], data["config"])}
        except InvalidConfig as exc:
            raise serializers.ValidationError({"config": exc.errors}) from None


class JobRegistrySerializer(serializers.ModelSerializer):
    """What the model registry lets a user change on a finished training job."""

    tags = serializers.ListField(
        child=serializers.RegexField(r"^[\w.:+-]{1,40}$"), max_length=20, required=False
    )

    class Meta:
        model = Job
        fields = ["name", "tags"]


class PredictionSerializer(serializers.ModelSerializer):
    sop_uid = serializers.CharField(source="instance.sop_uid", read_only=True)
    study = serializers.IntegerField(source="instance.study_id", read_only=True)

    class Meta:
        model = Prediction
        fields = ["instance", "sop_uid", "study", "split", "probabilities", "created"]


# --- the model registry, read-only (/api/models/) ------------------------------------------------

HEADLINE = ("n", "accuracy", "auc", "macro_auc", "mean_ap")


class HeadlineSerializer(serializers.Serializer):
    """A test report's one-number figures; a per-label figure (a dict) is null here."""

    n = serializers.IntegerField(allow_null=True)
    accuracy = serializers.FloatField(allow_null=True)
    auc = serializers.FloatField(allow_null=True, help_text="task 1 only")
    macro_auc = serializers.FloatField(allow_null=True)
    mean_ap = serializers.FloatField(allow_null=True)


def headline(block: dict | None) -> dict | None:
    if not block:
        return None
    values = {name: block.get(name) for name in HEADLINE}
    return {name: None if isinstance(value, dict | list) else value
            for name, value in values.items()}  # fmt: skip


class RegisteredModelSerializer(serializers.ModelSerializer):
    """A model of the registry: a training job that succeeded, named, tagged, maybe current.

    Its id is its run's: ``/api/runs/{id}/`` has the per-label metrics and predictions.
    """

    task = serializers.SerializerMethodField()
    architecture = serializers.SerializerMethodField()
    label_set = serializers.SerializerMethodField()
    label_set_version = serializers.SerializerMethodField()
    current = serializers.BooleanField(read_only=True, help_text="the team's model for its task")
    best_epoch = serializers.SerializerMethodField()
    test = serializers.SerializerMethodField()
    multi_disease = serializers.SerializerMethodField()
    card = serializers.SerializerMethodField()
    weights = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "team", "name", "tags", "task", "architecture", "label_set",
            "label_set_version", "current", "best_epoch", "test", "multi_disease", "created_at",
            "finished_at", "card", "weights",
        ]  # fmt: skip
        read_only_fields = fields

    def get_task(self, job: Job) -> str:
        return job.metrics.get("task") or job.config.get("engine", {}).get("task", "")

    def get_architecture(self, job: Job) -> str:
        return job.metrics.get("arch") or job.config.get("engine", {}).get("arch", "")

    def get_label_set(self, job: Job) -> int | None:
        return job.config.get("label_set")

    def get_label_set_version(self, job: Job) -> int | None:
        return self.context.get("label_set_versions", {}).get(job.config.get("label_set"))

    def get_best_epoch(self, job: Job) -> int | None:
        return job.metrics.get("best_epoch")

    @extend_schema_field(HeadlineSerializer(allow_null=True))
    def get_test(self, job: Job) -> dict | None:
        return headline(job.metrics.get("test"))

    @extend_schema_field(HeadlineSerializer(allow_null=True))
    def get_multi_disease(self, job: Job) -> dict | None:
        """Task 2 runs also score the paper's task 3 (images with several labels)."""
        return headline((job.metrics.get("multi_disease") or {}).get("test"))

    def get_card(self, job: Job) -> str:
        return self._url("job-card", job)

    def get_weights(self, job: Job) -> str:
        return self._url("job-weights", job)

    def _url(self, name: str, job: Job) -> str:
        path = reverse(name, args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path
