from django.conf import settings
from django.db.models import Count
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from teams.access import CAN_IMPORT, TeamScopedViewSetMixin, writable_team

from . import reports, uploads
from .models import Instance, Study
from .serializers import InstanceSerializer, StudySerializer


class StudyViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = (
        Study.objects.select_related("team", "report")
        .annotate(instance_count=Count("instances"))
        .order_by("-study_date", "-id")
    )
    serializer_class = StudySerializer


class InstanceViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Instance.objects.select_related("study", "series").order_by("id")
    serializer_class = InstanceSerializer


class UploadSerializer(serializers.Serializer):
    # An empty file is one result among the others ("the file is empty"), not a 400 for all.
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True), allow_empty=False
    )
    team = serializers.CharField(required=False, help_text="team id or slug (default: active)")


class ReportsUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)  # refused below, in plain words
    team = serializers.CharField(required=False, help_text="team id or slug (default: active)")


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _check_size(request) -> None:
    """Refuse before Django spools the body to disk."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ValidationError({"detail": "Content-Length is not a number"}) from None
    if length > settings.UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(
            f"the upload is {length} bytes; one request may carry at most "
            f"{settings.UPLOAD_MAX_BYTES} (CXR_UPLOAD_MAX_MB)"
        )


class UploadView(APIView):
    """DICOM files and zip archives into a team: one result per file (imported, duplicate, or
    rejected with the reason; a ``note`` on images that are not chest radiographs), and a
    summary line per zip archive in ``archives``."""

    parser_classes = [MultiPartParser]

    @extend_schema(request=UploadSerializer, responses={201: dict})
    def post(self, request):
        _check_size(request)
        team = writable_team(request.user, request.data.get("team"), CAN_IMPORT, request.team)
        form = UploadSerializer(data={"files": request.FILES.getlist("files")})
        form.is_valid(raise_exception=True)
        outcomes = [uploads.ingest_upload(team, upload) for upload in form.validated_data["files"]]
        summary = uploads.summarise(team, outcomes)
        imported = summary["counts"]["imported"] > 0
        return Response(summary, status=status.HTTP_201_CREATED if imported else status.HTTP_200_OK)


class ReportsUploadView(APIView):
    """A CSV or JSONL reports file (UTF-8 or GB18030), matched to studies by accession number or
    StudyInstanceUID; unknown keys are listed, never dropped silently."""

    parser_classes = [MultiPartParser]

    @extend_schema(request=ReportsUploadSerializer, responses={200: dict})
    def post(self, request):
        _check_size(request)
        team = writable_team(request.user, request.data.get("team"), CAN_IMPORT, request.team)
        form = ReportsUploadSerializer(data={"file": request.FILES.get("file")})
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        if not upload.size:
            raise ValidationError({"file": [gettext("the file is empty")]})
        try:
            result = reports.import_reports(team, upload.read(), source=upload.name or "")
        except reports.ReportFileError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        return Response(result.as_dict())
