from rest_framework import serializers

from labeling.distance import DEFAULT_DISTANCE, DISTANCES

from .models import (
    ClusterMember,
    ClusterRun,
    ImageReview,
    Label,
    LabelSet,
    ProposedCluster,
    RunStatus,
)


class LabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "key", "name_en", "name_zh", "position"]
        read_only_fields = ["id", "position"]


class ClusterRunSerializer(serializers.ModelSerializer):
    """A run's parameters and result, and its lifecycle as its job has it."""

    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    progress = serializers.FloatField(read_only=True)
    stage = serializers.CharField(read_only=True)
    error = serializers.CharField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ClusterRun
        fields = [
            "id", "k", "seed", "distance", "synonyms", "outlier_threshold", "status",
            "progress", "stage", "timings", "loss", "silhouette", "k_curve", "n_clauses",
            "n_unique", "sampled", "error", "cues", "job", "created_by", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class StartRunSerializer(serializers.Serializer):
    k = serializers.IntegerField()
    seed = serializers.IntegerField(default=0)
    distance = serializers.ChoiceField(choices=list(DISTANCES), default=DEFAULT_DISTANCE)
    # In the distance's unit; omitted: chosen from each cluster's own spread.
    outlier_threshold = serializers.FloatField(required=False, allow_null=True, default=None)


class MemberSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClusterMember
        fields = ["id", "normalized", "example", "polarity", "count", "distance", "outlier"]
        read_only_fields = fields


class ClusterSerializer(serializers.ModelSerializer):
    label = serializers.SlugRelatedField(slug_field="key", read_only=True)

    class Meta:
        model = ProposedCluster
        fields = [
            "id", "run", "name", "polarity", "medoid_text", "verdict", "label", "version",
            "clause_count", "unique_count", "report_count", "image_count", "patient_count",
            "undecided_count", "outlier_count", "outlier_unique", "purity", "merged_into",
        ]  # fmt: skip
        read_only_fields = fields


class ClusterDetailSerializer(ClusterSerializer):
    members = MemberSerializer(many=True, read_only=True)

    class Meta(ClusterSerializer.Meta):
        fields = [*ClusterSerializer.Meta.fields, "members"]
        read_only_fields = fields


class Versioned(serializers.Serializer):
    cluster = serializers.IntegerField()
    version = serializers.IntegerField()


class RenameSerializer(Versioned):
    name = serializers.CharField(max_length=200, allow_blank=True)


class MergeSerializer(serializers.Serializer):
    clusters = Versioned(many=True)
    into = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class SplitSerializer(Versioned):
    members = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    target = serializers.IntegerField(required=False, allow_null=True)
    target_version = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class VerdictSerializer(serializers.Serializer):
    clusters = Versioned(many=True)
    label = serializers.IntegerField(required=False, allow_null=True)
    # What happens to the clusters' outliers: keep them, send them to the unmapped queue, or
    # split them off into a cluster of their own.
    outliers = serializers.ChoiceField(choices=["keep", "unmapped", "split"], default="keep")


class OutlierChoicesSerializer(serializers.Serializer):
    """Images each choice for the outliers labels (``clusters``: the ids asked about)."""

    outliers = serializers.IntegerField()
    outlier_clauses = serializers.IntegerField()
    keep = serializers.IntegerField()
    unmapped = serializers.IntegerField()
    split = serializers.IntegerField()


class DistanceSettingsSerializer(serializers.Serializer):
    """The team's synonym table (groups, the canonical form first) and the auto-label
    threshold, a normalised distance from 0 to 1; quote the version you read."""

    synonyms = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(max_length=60)),
        max_length=500,
    )
    auto_label_distance = serializers.FloatField(min_value=0.0, max_value=1.0)
    version = serializers.IntegerField()


class CuesSerializer(serializers.Serializer):
    negation = serializers.ListField(child=serializers.CharField(trim_whitespace=False))
    uncertainty = serializers.ListField(child=serializers.CharField(trim_whitespace=False))
    pseudo = serializers.ListField(child=serializers.CharField(trim_whitespace=False))
    # Left out of a PUT: kept as they are. Saving cues or terminators re-splits the reports.
    terminators = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False), required=False
    )
    auto_label_distance = serializers.FloatField(read_only=True)
    version = serializers.IntegerField()


class LabelRenameSerializer(serializers.Serializer):
    """New names, with the names the caller read (a stale rename is a conflict)."""

    name_en = serializers.CharField(max_length=100)
    name_zh = serializers.CharField(max_length=100)
    was_en = serializers.CharField(max_length=100)
    was_zh = serializers.CharField(max_length=100)


class UnmappedDecisionSerializer(serializers.Serializer):
    texts = serializers.ListField(
        child=serializers.CharField(max_length=500, trim_whitespace=False), allow_empty=False
    )
    verdict = serializers.ChoiceField(choices=["label", "no_label", "ignored"])
    label = serializers.IntegerField(required=False, allow_null=True)


class LabelSetSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = LabelSet
        fields = [
            "id", "version", "content_hash", "labels", "statistics", "note", "author",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class FreezeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AutoLabelSerializer(serializers.Serializer):
    # A normalised distance: the share of a clause's length that may differ (0 to 1).
    max_distance = serializers.FloatField(
        required=False, allow_null=True, min_value=0.0, max_value=1.0
    )


class ReviewSerializer(serializers.ModelSerializer):
    sop_uid = serializers.CharField(source="instance.sop_uid", read_only=True)
    study = serializers.IntegerField(source="instance.study_id", read_only=True)
    diagnosis = serializers.SerializerMethodField()

    class Meta:
        model = ImageReview
        fields = [
            "id", "instance", "sop_uid", "study", "diagnosis", "reason", "evidence", "proposed",
            "labels", "status", "in_second_sample", "second_labels", "version",
        ]  # fmt: skip
        read_only_fields = fields

    def get_diagnosis(self, review: ImageReview) -> str:
        report = getattr(review.instance.study, "report", None)
        return report.diagnosis if report else ""


class ReviewDecisionSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField())
    version = serializers.IntegerField()


class SampleSerializer(serializers.Serializer):
    size = serializers.IntegerField(min_value=1)
    seed = serializers.IntegerField(default=0)
