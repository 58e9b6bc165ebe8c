from rest_framework import serializers

from .models import Instance, Report, Study


class ReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = Report
        fields = ["findings", "diagnosis", "source", "updated_at"]
        read_only_fields = fields


class StudySerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    report = ReportSerializer(read_only=True)
    instance_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Study
        fields = [
            "id",
            "team",
            "study_uid",
            "accession_number",
            "patient_id",
            "patient_sex",
            "patient_age",
            "study_date",
            "description",
            "instance_count",
            "report",
        ]
        read_only_fields = fields


class InstanceSerializer(serializers.ModelSerializer):
    study_uid = serializers.CharField(source="study.study_uid", read_only=True)
    series_uid = serializers.CharField(source="series.series_uid", read_only=True)

    class Meta:
        model = Instance
        fields = [
            "id",
            "study",
            "study_uid",
            "series_uid",
            "sop_uid",
            "rows",
            "columns",
            "photometric",
            "bits_stored",
            "transfer_syntax",
            "view_position",
            "decode_error",
        ]
        read_only_fields = fields
