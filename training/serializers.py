from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from training.engine.config import ConfigError, from_dict

from .models import Job, JobKind

# What a user may set on the engine from the browser or the API; the server sets the rest.
USER_ENGINE_FIELDS = (
    "task", "arch", "weights", "epochs", "batch_size", "eval_batch_size", "accumulate", "lr",
    "optimizer", "momentum", "weight_decay", "schedule", "warmup_epochs", "early_stop_patience",
    "balance", "min_count", "min_fraction", "majority_fraction", "crop", "flip",
    "affine_degrees", "affine_scale", "eval_crops", "seed", "deterministic", "amp",
    "channels_last", "compile", "device", "split_fractions", "min_per_label_eval", "log_every",
)  # fmt: skip


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


class TrainConfigSerializer(serializers.Serializer):
    """A training job's config: a frozen label set and engine settings, checked field by field
    before any job exists."""

    label_set = serializers.IntegerField(min_value=1)
    engine = serializers.DictField(required=False, default=dict)

    def validate_engine(self, engine: dict) -> dict:
        unknown = sorted(set(engine) - set(USER_ENGINE_FIELDS))
        if unknown:
            raise serializers.ValidationError(_("unknown or server-set fields: %s") % unknown)
        if engine.get("weights", "none") not in ("none", "imagenet"):
            raise serializers.ValidationError({"weights": _("must be none or imagenet")})
        try:
            # Validate with a placeholder dataset: the real one is exported by the job.
            from_dict({**engine, "weights": "none", "dataset": "pending"}).validate()
        except ConfigError as exc:
            field, _sep, message = str(exc).partition(": ")
            raise serializers.ValidationError({field: message or str(exc)}) from None
        return engine


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[JobKind.TRAIN])
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    team = serializers.CharField(required=False, help_text="team id or slug (default: active)")
    config = TrainConfigSerializer()
