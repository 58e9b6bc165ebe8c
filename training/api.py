from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from lab.access import CAN_TRAIN, TeamScopedViewSetMixin, require_role, writable_team

from . import services
from .models import Job
from .serializers import (
    JobCreateSerializer,
    JobDetailSerializer,
    JobSerializer,
    PredictionSerializer,
)


class JobViewSet(
    TeamScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Job.objects.select_related("owner").order_by("-created_at", "-id")
    serializer_class = JobSerializer

    def get_serializer_class(self):
        return JobDetailSerializer if self.action == "retrieve" else JobSerializer

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def create(self, request):
        form = JobCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        team = writable_team(request.user, data.get("team"), CAN_TRAIN, request.team)
        try:
            problems = services.check_job_inputs(team, data["kind"], data["config"])
        except services.MissingInput as exc:
            raise NotFound(str(exc)) from None
        if problems:
            raise ValidationError({"config": {k: [v] for k, v in problems.items()}})
        job = services.create_job(
            team, request.user, data["kind"], data["config"], name=data["name"]
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        require_role(request.user, job.team, CAN_TRAIN)
        return self._transition(services.request_cancel, job)

    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = self.get_object()
        require_role(request.user, job.team, CAN_TRAIN)
        return self._transition(services.retry, job)

    @extend_schema(responses={200: PredictionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def predictions(self, request, pk=None):
        """The job's stored per-image predictions (paginated)."""
        job = self.get_object()
        rows = job.predictions.select_related("instance").order_by("instance_id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(PredictionSerializer(page, many=True).data)

    def _transition(self, change, job) -> Response:
        try:
            job = change(job)
        except services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data)
