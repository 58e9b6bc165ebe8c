"""``/api/jobs/``: list, create (through training/launch.py, as the forms and commands do),
cancel, retry, predictions and the model registry."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from jobs import registry
from jobs import services as job_services
from jobs.models import Job
from teams.access import CAN_TRAIN, TeamScopedViewSetMixin, require_role, writable_team

from . import model_registry, run_filters
from .engine.config import TASKS
from .launch import InvalidConfig, MissingInput, launch_job
from .modelcard import model_card
from .models import CurrentModel
from .serializers import (
    JobCreateSerializer,
    JobDetailSerializer,
    JobRegistrySerializer,
    JobSerializer,
    PredictionSerializer,
    RegisteredModelSerializer,
)
from .views import weights_response


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

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind",
                str,
                description="Only jobs of this kind. Without it, the kinds hidden "
                "from the job list (Grad-CAM maps) are left out.",
            )
        ]
    )
    def list(self, request, *args, **kwargs):
        kind = request.query_params.get("kind")
        jobs = self.filter_queryset(self.get_queryset())
        jobs = jobs.filter(kind=kind) if kind else jobs.exclude(kind__in=registry.hidden_kinds())
        page = self.paginate_queryset(jobs)
        if page is None:
            return Response(self.get_serializer(jobs, many=True).data)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def create(self, request):
        form = JobCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        team = writable_team(request.user, data.get("team"), CAN_TRAIN, request.team)
        try:
            job = launch_job(team, request.user, data["kind"], data["config"], name=data["name"])
        except MissingInput as exc:
            raise NotFound(str(exc)) from None
        except InvalidConfig as exc:
            raise ValidationError({"config": exc.errors}) from None
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = self.get_object()
        require_role(request.user, job.team, CAN_TRAIN)
        return self._transition(job_services.request_cancel, job)

    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = self.get_object()
        require_role(request.user, job.team, CAN_TRAIN)
        return self._transition(job_services.retry_by_user, job)

    @extend_schema(responses={200: PredictionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def predictions(self, request, pk=None):
        """The job's stored per-image predictions (paginated)."""
        job = self.get_object()
        rows = job.predictions.select_related("instance").order_by("instance_id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(PredictionSerializer(page, many=True).data)

    @extend_schema(request=JobRegistrySerializer, responses={200: JobSerializer})
    def partial_update(self, request, pk=None):
        """Registry: rename and tag a finished training job."""
        job = self.get_object()
        require_role(request.user, job.team, CAN_TRAIN)
        form = JobRegistrySerializer(job, data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            job = model_registry.describe_run(
                job, data.get("name", job.name), data.get("tags", job.tags)
            )
        except job_services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data)

    @action(detail=True, methods=["post"], url_path="mark-current")
    def mark_current(self, request, pk=None):
        """Registry: make this run the team's current model for its task."""
        job = self.get_object()
        require_role(request.user, job.team, CAN_TRAIN)
        try:
            current = model_registry.mark_current(job, request.user)
        except job_services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response({"task": current.task, "job": job.pk})

    @action(detail=True, methods=["get"])
    def card(self, request, pk=None):
        """Registry: the model card (data snapshot, split, config, metrics with CIs, use)."""
        try:
            return Response(model_card(self.get_object()))
        except job_services.JobStateError as exc:
            raise NotFound(str(exc)) from None

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"])
    def weights(self, request, pk=None):
        """Registry: the run's best.pt, streamed."""
        job = self.get_object()
        try:
            model_registry.registered_run(job)
        except job_services.JobStateError as exc:
            raise NotFound(str(exc)) from None
        return weights_response(job)

    def _transition(self, change, job) -> Response:
        try:
            job = change(job)
        except job_services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data)


def label_set_versions(jobs) -> dict[int, int]:
    """Label-set id to version for these training jobs' sets (their own team's only), at once."""
    from curation.models import LabelSet

    wanted = {(job.config.get("label_set"), job.team_id) for job in jobs}
    rows = LabelSet.objects.filter(pk__in={pk for pk, _team in wanted} - {None})
    return {pk: version for pk, team, version in rows.values_list("pk", "team_id", "version")
            if (pk, team) in wanted}  # fmt: skip


@extend_schema_view(
    retrieve=extend_schema(description="One model of the registry (its id is its run's)."),
    list=extend_schema(
        description="The model registry: your teams' training runs that succeeded, newest "
        "first, with their headline test figures.",
        parameters=[
            OpenApiParameter("task", str, enum=list(TASKS), description="Only this task's models."),
            OpenApiParameter("current", bool, description="Only current (or only other) models."),
            OpenApiParameter("team", str, description="Only this team's (id or slug)."),
        ],
    ),
)
class RegisteredModelViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """``/api/models/``: the model registry, read-only: the training runs that succeeded, as on
    the Models page. Renaming, tagging, marking current, the card and the weights are under
    ``/api/jobs/{id}/``; a model's per-label metrics and predictions under ``/api/runs/{id}/``."""

    queryset = model_registry.registered_runs().order_by("-finished_at", "-id")
    serializer_class = RegisteredModelSerializer

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .annotate(current=Exists(CurrentModel.objects.filter(job=OuterRef("pk"))))
        )

    def list(self, request):
        params = request.query_params
        models = run_filters.by_team(self.get_queryset(), params)
        models = run_filters.by_current(run_filters.by_task(models, params), params)
        page = self.paginate_queryset(models)
        return self.get_paginated_response(self._represent(page))

    def retrieve(self, request, pk=None):
        return Response(self._represent([self.get_object()])[0])

    def _represent(self, jobs) -> list[dict]:
        context = {**self.get_serializer_context(), "label_set_versions": label_set_versions(jobs)}
        return RegisteredModelSerializer(jobs, many=True, context=context).data
