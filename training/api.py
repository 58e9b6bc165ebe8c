from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from lab.access import CAN_TRAIN, TeamScopedViewSetMixin, require_role, writable_team

from . import services
from .models import Job
from .serializers import JobCreateSerializer, JobDetailSerializer, JobSerializer


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
        if not _label_set_exists(team, data["config"]["label_set"]):
            raise NotFound("no such label set in this team")
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

    def _transition(self, change, job) -> Response:
        try:
            job = change(job)
        except services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data)


def _label_set_exists(team, label_set_id: int) -> bool:
    from curation.models import LabelSet

    return LabelSet.objects.filter(team=team, pk=label_set_id).exists()
