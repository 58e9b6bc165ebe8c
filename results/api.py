"""``/api/runs/``: training and evaluation runs with their test metrics, and each run's scored
images, read-only, for notebooks. The same runs, numbers and access as the results pages
(results/queries.py): another team's run is a 404. Jobs are launched, cancelled and registered
under ``/api/jobs/``; the registry's list is ``/api/models/`` (training/api.py); clustering runs
are curation's, under ``/api/curation/runs/``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from jobs.models import Job, JobStatus
from teams.pagination import MAX_PAGE_SIZE
from training import run_filters
from training.engine.config import TASKS
from training.engine.metrics import to_jsonable

from . import queries
from .serializers import (
    RunDetailSerializer,
    RunPredictionPageSerializer,
    RunRecord,
    RunSerializer,
)

SPLITS = ["train", "val", "test"]
SUBSETS = ["task", "multi_disease"]


def label_sets_of(jobs: list[Job]) -> dict[int, object]:
    """Each run's label set (an evaluation's own, else its training run's), in two queries
    whatever the number of runs: the list's counterpart of ``queries.label_set_of``."""
    from curation.models import LabelSet

    wanted = {job.pk: job.config.get("label_set") for job in jobs}
    sources = {job.pk: job.config.get("source_job") for job in jobs if not wanted[job.pk]}
    sources = {pk: source for pk, source in sources.items() if source}
    if sources:
        parents = Job.objects.filter(pk__in=set(sources.values())).values_list(
            "pk", "team_id", "config"
        )
        parent_sets = {(pk, team): config.get("label_set") for pk, team, config in parents}
        teams = {job.pk: job.team_id for job in jobs}
        for pk, source in sources.items():
            wanted[pk] = parent_sets.get((source, teams[pk]))
    found = LabelSet.objects.filter(pk__in={pk for pk in wanted.values() if pk})
    by_key = {(row.pk, row.team_id): row for row in found}
    return {job.pk: by_key.get((wanted[job.pk], job.team_id)) for job in jobs}


@extend_schema_view(
    retrieve=extend_schema(
        description="One run: its test metrics with support and PPV per label (counted from its "
        "predictions, as its page does), the confusion matrix, the patient-level split, its "
        "configuration, and which run files are missing."
    ),
    list=extend_schema(
        description="Training and evaluation runs of your teams, newest first, with their test "
        "metrics as on the run page (support and PPV: one run's detail).",
        parameters=[
            OpenApiParameter("task", str, enum=list(TASKS), description="Only this task's runs."),
            OpenApiParameter("status", str, enum=JobStatus.values, description="Only runs in it."),
            OpenApiParameter("kind", str, enum=list(queries.RUN_KINDS)),
            OpenApiParameter("team", str, description="Only this team's (id or slug)."),
        ],
    ),
)
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs newest first. A list shows each run's test metrics from its job row; one run adds
    what its page counts from the predictions (support, PPV), the split and its config."""

    serializer_class = RunSerializer
    queryset = Job.objects.none()  # the schema's model; get_queryset is the caller's runs

    def get_queryset(self):
        return queries.runs(self.request.user).order_by("-created_at", "-id")

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer

    def list(self, request):
        params = request.query_params
        runs = run_filters.by_task(run_filters.by_team(self.get_queryset(), params), params)
        status = run_filters.choice(params, "status", JobStatus.values)
        kind = run_filters.choice(params, "kind", queries.RUN_KINDS)
        runs = runs.filter(status=status) if status else runs
        runs = runs.filter(kind=kind) if kind else runs
        jobs = self.paginate_queryset(runs)
        label_sets = label_sets_of(jobs)
        records = [RunRecord(job, label_sets[job.pk]) for job in jobs]
        return self.get_paginated_response(self.get_serializer(records, many=True).data)

    def retrieve(self, request, pk=None):
        job = self.get_object()
        record = RunRecord(job, queries.label_set_of(job), queries.artifacts_for(job))
        return Response(self.get_serializer(record).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("split", str, enum=SPLITS, description="Only this split."),
            OpenApiParameter("subset", str, enum=SUBSETS, description="Only this subset."),
            OpenApiParameter("limit", int, description=f"Per page (at most {MAX_PAGE_SIZE})."),
            OpenApiParameter("page_size", int, description="Another name for limit."),
            OpenApiParameter("offset", int, description="The first result's index."),
        ],
        responses=RunPredictionPageSerializer,
    )  # fmt: skip
    @action(detail=True, methods=["get"])
    def predictions(self, request, pk=None):
        """The run's scored images (its predictions.jsonl, like the CSV export): image, split,
        subset, true labels and one probability per class; paginated like every list."""
        job = self.get_object()
        records = queries.artifacts_for(job).predictions
        split = run_filters.choice(request.query_params, "split", SPLITS)
        subset = run_filters.choice(request.query_params, "subset", SUBSETS)
        records = [r for r in records if (split is None or r.get("split") == split)
                   and (subset is None or r.get("subset") == subset)]  # fmt: skip
        page = self.paginate_queryset(records)
        images = queries.instances_by_uid(job.team, {r.get("image_id", "") for r in page})
        rows = []
        for record in page:
            image = images.get(record.get("image_id", ""))
            rows.append({
                "image_id": record.get("image_id", ""), "instance": image.pk if image else None,
                "study": image.study_id if image else None, "split": record.get("split", ""),
                "subset": record.get("subset", ""), "labels": list(record.get("labels") or []),
                "probabilities": record["probabilities"],
            })  # fmt: skip
        return self.get_paginated_response(to_jsonable(rows))
