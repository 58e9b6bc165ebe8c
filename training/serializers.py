from rest_framework import serializers

from .configs import engine_errors
from .models import Job, JobKind


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
        from .services import queue_position

        return queue_position(job)


class TrainConfigSerializer(serializers.Serializer):
    """A training job's config: a frozen label set and engine settings, checked field by field
    before any job exists."""

    label_set = serializers.IntegerField(min_value=1)
    engine = serializers.DictField(required=False, default=dict)

    def validate_engine(self, engine: dict) -> dict:
        errors = engine_errors(engine)
        if errors:
            raise serializers.ValidationError(errors)
        return engine


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[JobKind.TRAIN])
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    team = serializers.CharField(required=False, help_text="team id or slug (default: active)")
    config = TrainConfigSerializer()
