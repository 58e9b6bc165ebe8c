"""Curation REST API. Reads are scoped by ``TeamScopedViewSetMixin``; every write goes to the
caller's active team (or ``team`` in the body) through ``writable_team`` and one service call.

Service errors map to HTTP: ``ConflictError`` (a stale version) is 409, any other
``CurationError`` is 400 with the service's message.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from teams.access import (
    CAN_CURATE,
    CAN_FREEZE,
    TeamScopedViewSetMixin,
    require_role,
    writable_team,
)
from teams.middleware import active_team

from . import services
from .models import ClusterRun, ImageReview, Label, LabelSet, ProposedCluster
from .serializers import (
    AutoLabelSerializer,
    ClusterDetailSerializer,
    ClusterRunSerializer,
    ClusterSerializer,
    CuesSerializer,
    DistanceSettingsSerializer,
    FreezeSerializer,
    LabelRenameSerializer,
    LabelSerializer,
    LabelSetSerializer,
    MergeSerializer,
    OutlierChoicesSerializer,
    RenameSerializer,
    ReviewDecisionSerializer,
    ReviewSerializer,
    SampleSerializer,
    SplitSerializer,
    StartRunSerializer,
    UnmappedDecisionSerializer,
    VerdictSerializer,
)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class ServiceErrors:
    """Turn a service's refusal into a response the client can show as it is."""

    def handle_exception(self, exc):
        if isinstance(exc, services.ConflictError):
            exc = Conflict(str(exc))
        elif isinstance(exc, services.CurationError):
            exc = ValidationError({"detail": str(exc)})
        return super().handle_exception(exc)


def _team(request):
    return writable_team(request.user, request.data.get("team"), CAN_CURATE, _active(request))


def _active(request):
    """The active team; token-authenticated callers are only known once DRF has run."""
    return getattr(request, "team", None) or active_team(request)


def _valid(serializer_class, request):
    form = serializer_class(data=request.data)
    form.is_valid(raise_exception=True)
    return form.validated_data


class RunViewSet(
    ServiceErrors,
    TeamScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    # A run's status, progress and times are its job's: read with it, never written on GET.
    queryset = ClusterRun.objects.select_related("created_by", "job").order_by("-created_at", "-id")
    serializer_class = ClusterRunSerializer

    @extend_schema(request=StartRunSerializer, responses={202: ClusterRunSerializer})
    def create(self, request):
        """Queue a clustering run (k, seed); poll the run for status and progress."""
        data = _valid(StartRunSerializer, request)
        run = services.start_clustering(_team(request), request.user, **data)
        return Response(ClusterRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ClusterViewSet(TeamScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Live clusters; ``?run=`` one run's, ``?sort=purity`` (the workspace's default: the least
    pure first) or ``size``. A cluster's members carry their distance and outlier flag."""

    queryset = ProposedCluster.objects.select_related("label").filter(merged_into=None)
    serializer_class = ClusterSerializer

    def get_serializer_class(self):
        return ClusterDetailSerializer if self.action == "retrieve" else ClusterSerializer

    def get_queryset(self):
        queryset = super().get_queryset()
        run = self.request.query_params.get("run")
        if self.action == "list" and run:
            if not run.isdigit():
                raise ValidationError({"run": "run must be a run id"})
            queryset = queryset.filter(run_id=int(run))
        sort = self.request.query_params.get("sort", "size")
        if sort not in services.CLUSTER_ORDER:
            raise ValidationError({"sort": f"sort is one of {', '.join(services.CLUSTER_ORDER)}"})
        return queryset.order_by(*services.CLUSTER_ORDER[sort])

    @extend_schema(responses={200: OutlierChoicesSerializer})
    @action(detail=False, methods=["get"], url_path="outlier-choices")
    def outlier_choices(self, request):
        """Images that mapping ``?clusters=1,2`` labels, for each thing done with the outliers.
        Another team's cluster is a 404, as everywhere."""
        raw = request.query_params.get("clusters", "")
        ids = [part for part in raw.split(",") if part]
        if not ids or not all(part.isdigit() for part in ids):
            raise ValidationError({"clusters": "clusters is a comma-separated list of ids"})
        found = self.get_queryset().filter(pk__in=[int(pk) for pk in ids])
        if found.count() != len(set(ids)):
            raise NotFound("no such cluster")
        teams = {c.team for c in found}
        if len(teams) != 1:
            raise ValidationError({"clusters": "ask about the clusters of one team at a time"})
        result = services.outlier_choices(teams.pop(), [c.pk for c in found])
        return Response(OutlierChoicesSerializer(result).data)


def _versions(rows) -> dict[int, int]:
    return {row["cluster"]: row["version"] for row in rows}


class ClusterActionViewSet(ServiceErrors, viewsets.ViewSet):
    """Curation actions on the clusters of one run. Each quotes the versions it read."""

    @extend_schema(request=RenameSerializer, responses={200: ClusterSerializer})
    @action(detail=False, methods=["post"])
    def rename(self, request):
        data = _valid(RenameSerializer, request)
        cluster = services.rename_cluster(
            _team(request), request.user, data["cluster"], name=data["name"],
            version=data["version"],
        )  # fmt: skip
        return Response(ClusterSerializer(cluster).data)

    @extend_schema(request=MergeSerializer, responses={200: ClusterSerializer})
    @action(detail=False, methods=["post"])
    def merge(self, request):
        data = _valid(MergeSerializer, request)
        cluster = services.merge_clusters(
            _team(request), request.user, _versions(data["clusters"]), into=data.get("into"),
            name=data["name"],
        )  # fmt: skip
        return Response(ClusterSerializer(cluster).data)

    @extend_schema(request=SplitSerializer, responses={200: ClusterSerializer})
    @action(detail=False, methods=["post"])
    def split(self, request):
        data = _valid(SplitSerializer, request)
        cluster = services.split_cluster(
            _team(request), request.user, data["cluster"], version=data["version"],
            member_ids=data["members"], target_id=data.get("target"),
            target_version=data.get("target_version"), name=data["name"],
        )  # fmt: skip
        return Response(ClusterSerializer(cluster).data)

    def _verdict(self, request, verdict: str) -> Response:
        data = _valid(VerdictSerializer, request)
        clusters = services.set_verdict(
            _team(request), request.user, _versions(data["clusters"]), verdict=verdict,
            label_id=data.get("label"), outliers=data["outliers"],
        )  # fmt: skip
        return Response(ClusterSerializer(clusters, many=True).data)

    @extend_schema(request=VerdictSerializer, responses={200: ClusterSerializer(many=True)})
    @action(detail=False, methods=["post"], url_path="map")
    def map_to_label(self, request):
        return self._verdict(request, "label")

    @extend_schema(request=VerdictSerializer, responses={200: ClusterSerializer(many=True)})
    @action(detail=False, methods=["post"], url_path="no-label")
    def no_label(self, request):
        return self._verdict(request, "no_label")

    @extend_schema(request=VerdictSerializer, responses={200: ClusterSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def ignore(self, request):
        return self._verdict(request, "ignored")

    @extend_schema(request=VerdictSerializer, responses={200: ClusterSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def reopen(self, request):
        return self._verdict(request, "open")

    @extend_schema(request=None, responses={200: dict})
    @action(detail=False, methods=["post"])
    def undo(self, request):
        entry = services.undo_last(_team(request), request.user)
        return Response({"undone": entry.summary})


class LabelViewSet(
    ServiceErrors,
    TeamScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The team's label vocabulary (English and Chinese names). PATCH renames (quote the names
    you read as ``was_en`` / ``was_zh``); DELETE refuses a label that something uses."""

    queryset = Label.objects.order_by("position", "id")
    serializer_class = LabelSerializer
    pagination_class = None

    def list(self, request, *args, **kwargs):
        if _active(request) is not None:
            services.curation_settings(_active(request))  # seeds the paper's labels once
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.add_label(
            _team(self.request), self.request.user, key=data["key"], name_en=data["name_en"],
            name_zh=data["name_zh"],
        )  # fmt: skip

    @extend_schema(request=LabelRenameSerializer, responses={200: LabelSerializer})
    def partial_update(self, request, pk=None):
        label = self.get_object()
        require_role(request.user, label.team, CAN_CURATE)
        data = _valid(LabelRenameSerializer, request)
        label = services.rename_label(label.team, request.user, label.pk, **data)
        return Response(LabelSerializer(label).data)

    def destroy(self, request, pk=None):
        label = self.get_object()
        require_role(request.user, label.team, CAN_CURATE)
        services.delete_label(label.team, request.user, label.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelSetViewSet(
    ServiceErrors,
    TeamScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = LabelSet.objects.select_related("author").order_by("-version")
    serializer_class = LabelSetSerializer

    @extend_schema(
        request=FreezeSerializer, responses={201: LabelSetSerializer, 200: LabelSetSerializer}
    )
    def create(self, request):
        """Freeze the current mapping as the next label set version (201), or return the latest
        version (200) when it already holds exactly this mapping."""
        data = _valid(FreezeSerializer, request)
        team = writable_team(request.user, request.data.get("team"), CAN_FREEZE, _active(request))
        label_set, created = services.freeze_or_reuse_label_set(
            team, request.user, note=data["note"]
        )
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(LabelSetSerializer(label_set).data, status=answer)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def compare(self, request, pk=None):
        """Changes from ``?other=<id>`` (default: the previous version) to this label set."""
        label_set = self.get_object()
        other_id = request.query_params.get("other")
        others = self.get_queryset().filter(team=label_set.team)
        if other_id:
            other = others.filter(pk=other_id).first() if other_id.isdigit() else None
            if other is None:
                raise ValidationError({"other": f"no label set {other_id} in this team"})
        else:
            other = others.filter(version__lt=label_set.version).first() or label_set
        return Response(services.compare_label_sets(other, label_set))


class StatisticsView(APIView):
    """Table I of the active team's current mapping: total, single, single %."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        team = _active(request)
        if team is None:
            return Response({"images": 0, "rows": []})
        return Response(services.live_statistics(team))


class CuesView(ServiceErrors, APIView):
    """The active team's negation / uncertainty / pseudo cue lists and scope terminators; PUT
    re-splits the stored reports and answers how many clauses were added, removed and changed
    polarity (``changed``), and how many decisions now wait for review."""

    @extend_schema(responses={200: CuesSerializer})
    def get(self, request):
        team = _active(request)
        if team is None:
            raise ValidationError({"detail": "you belong to no team"})
        return Response(_cues_data(team, services.curation_settings(team)))

    @extend_schema(request=CuesSerializer, responses={200: CuesSerializer})
    def put(self, request):
        data = _valid(CuesSerializer, request)
        team = _team(request)
        result = services.update_cues(team, request.user, **data)
        return Response({**_cues_data(team, result.settings), "changed": result.changed,
                         "added": result.added, "removed": result.removed,
                         "to_review": result.to_review})  # fmt: skip


def _cues_data(team, row) -> dict:
    """The stored lists, with the terminators in force (the defaults until edited)."""
    return {**CuesSerializer(row).data, "terminators": list(services.team_cues(team).terminators)}


class DistanceSettingsView(ServiceErrors, APIView):
    """The active team's synonym table and auto-label threshold (normalised, 0 to 1)."""

    @extend_schema(responses={200: DistanceSettingsSerializer})
    def get(self, request):
        team = _active(request)
        if team is None:
            raise ValidationError({"detail": "you belong to no team"})
        return Response(DistanceSettingsSerializer(services.curation_settings(team)).data)

    @extend_schema(request=DistanceSettingsSerializer, responses={200: DistanceSettingsSerializer})
    def put(self, request):
        data = _valid(DistanceSettingsSerializer, request)
        row = services.update_distance_settings(_team(request), request.user, **data)
        return Response(DistanceSettingsSerializer(row).data)


class UnmappedView(APIView):
    """Clause texts that match no curated cluster yet, most written first."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        team = _active(request)
        if team is None:
            return Response({"count": 0, "results": []})
        rows = services.unmapped_texts(team)
        results = [{"normalized": n, "example": e, "count": c} for n, e, c in rows[:500]]
        return Response({"count": len(rows), "results": results})


class UnmappedDecisionView(ServiceErrors, APIView):
    """Decide unmapped clause texts: a label, no label, or ignored (kept across re-clustering)."""

    @extend_schema(request=UnmappedDecisionSerializer, responses={200: dict})
    def post(self, request):
        data = _valid(UnmappedDecisionSerializer, request)
        texts = services.decide_unmapped(
            _team(request), request.user, data["texts"], verdict=data["verdict"],
            label_id=data.get("label"),
        )  # fmt: skip
        return Response({"decided": texts})


class AutoLabelView(ServiceErrors, APIView):
    """Label new reports by their nearest curated medoid within a distance."""

    @extend_schema(request=AutoLabelSerializer, responses={200: dict})
    def post(self, request):
        data = _valid(AutoLabelSerializer, request)
        result = services.auto_label_new_reports(
            _team(request), request.user, data.get("max_distance")
        )
        return Response({"matched": result.matched, "unmapped": result.unmapped})


class ReviewViewSet(
    ServiceErrors,
    TeamScopedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Per-image review: PUT the labels you accept or correct, with the version you read."""

    queryset = ImageReview.objects.select_related("instance__study__report").order_by(
        "status", "id"
    )
    serializer_class = ReviewSerializer

    @extend_schema(request=ReviewDecisionSerializer, responses={200: ReviewSerializer})
    def update(self, request, pk=None):
        review = self.get_object()
        require_role(request.user, review.team, CAN_CURATE)
        data = _valid(ReviewDecisionSerializer, request)
        review = services.review_image(review.team, request.user, review.pk, **data)
        return Response(ReviewSerializer(review).data)

    @extend_schema(request=SampleSerializer, responses={200: dict})
    @action(detail=False, methods=["post"])
    def sample(self, request):
        data = _valid(SampleSerializer, request)
        chosen = services.sample_for_second_review(_team(request), request.user, **data)
        return Response({"sampled": chosen})

    @extend_schema(responses={200: dict})
    @action(detail=False, methods=["get"])
    def agreement(self, request):
        team = _active(request)
        if team is None:
            return Response({"pairs": 0, "labels": []})
        return Response(services.agreement(team))
