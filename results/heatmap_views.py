"""The Grad-CAM overlay route: ask for a map (POST), then fetch it (GET) until it is there.

GET answers with the PNG once a worker wrote it; otherwise with a JSON status, the map's job's:
202 while queued or running (a dead worker's job is requeued by the jobs layer's reaper), 200
with ``none`` (never asked for) or ``failed`` with the worker's message (a POST queues it
again). Any member of the run's team may ask (``CAN_EXPLAIN``): a map changes no data. Another
team's run or image is a 404, an unknown label a 400, before anything is queued.
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods

from jobs.models import Job, JobStatus
from labeling.models import Instance
from teams.access import CAN_EXPLAIN, get_visible_or_404, require_role

from . import heatmaps
from .models import Heatmap


@login_required
@require_http_methods(["GET", "POST"])
def heatmap(request: HttpRequest, pk: int, instance: int, label: str) -> HttpResponse:
    jobs = Job.objects.filter(kind__in=heatmaps.JOB_KINDS).select_related("team")
    job = get_visible_or_404(jobs, request.user, pk=pk)
    image = get_object_or_404(Instance.objects.of_team(job.team), pk=instance)
    if request.method == "POST":
        require_role(request.user, job.team, CAN_EXPLAIN)
    try:
        run = heatmaps.model_run(job)
        heatmaps.class_index(run, label)
    except heatmaps.HeatmapRequestError as exc:
        return _status({"status": "error", "error": str(exc)}, status=400)
    if request.method == "POST":
        row = heatmaps.request_heatmap(run, image, label, owner=request.user)
        return _status(_state(row), status=202 if row.pending else 200)
    row = heatmaps.find(run, image, label)
    if row is not None and heatmaps.is_ready(row):
        path = heatmaps.png_path(run, image.pk, label)
        response = FileResponse(path.open("rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=86400"
        return response
    if row is None or row.status == JobStatus.SUCCEEDED:  # never asked, or its file is gone
        return _status({"status": "none"}, status=200)
    return _status(_state(row), status=202 if row.pending else 200)


def _state(row: Heatmap) -> dict:
    state = {"status": row.status}
    if row.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        state["error"] = row.error
    return state


def _status(body: dict, status: int) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"  # the same URL answers with the PNG later
    return response
