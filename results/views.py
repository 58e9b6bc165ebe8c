"""Results pages: runs, one run's numbers and charts, the cases behind a number, comparisons,
the review queue of confident disagreements, and downloads. Thin: pages.py computes."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from . import artifacts, exports, pages, queries
from .summary import task_of

MAX_COMPARED = 6


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = queries.runs(request.user)
    if request.team is not None:
        runs = runs.filter(team=request.team)
    rows = [(job, task_of(job)) for job in runs[:200]]
    return render(request, "results/run_list.html", {"rows": rows})


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    return render(request, "results/run.html", pages.run_context(job))


@login_required
def cases(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    try:
        context = pages.gallery_context(job, request.GET)
    except artifacts.CaseQueryError as exc:
        return HttpResponseBadRequest(str(exc))
    return render(request, "results/cases.html", context)


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    ids = [value for value in request.GET.getlist("runs") if value.isdigit()][:MAX_COMPARED]
    jobs = {job.pk: job for job in queries.runs(request.user).filter(pk__in=ids)}
    chosen = [jobs[int(i)] for i in dict.fromkeys(ids) if int(i) in jobs]
    context = {"candidates": queries.runs(request.user).filter(status="succeeded")[:100]}
    if len(chosen) >= 2:
        context.update(pages.compare_context(chosen))
    else:
        context["need_more"] = True
    return render(request, "results/compare.html", context)


@login_required
def disagreements(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    try:
        confidence = float(request.GET.get("confidence", "0.8"))
    except ValueError:
        return HttpResponseBadRequest(_("confidence must be a number"))
    if not 0.5 <= confidence < 1:
        return HttpResponseBadRequest(_("confidence must be at least 0.5 and below 1"))
    return render(request, "results/disagreements.html",
                  pages.disagreement_context(job, confidence))  # fmt: skip


def _download(body: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def metrics_json(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    run = queries.artifacts_for(job)
    response = JsonResponse(run.metrics, json_dumps_params={"indent": 1, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="run-{job.pk}-metrics.json"'
    return response


@login_required
def metrics_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    body = exports.metrics_csv(queries.artifacts_for(job))
    return _download(body, "text/csv; charset=utf-8", f"run-{job.pk}-metrics.csv")


@login_required
def predictions_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    body = exports.predictions_csv(queries.artifacts_for(job))
    return _download(body, "text/csv; charset=utf-8", f"run-{job.pk}-predictions.csv")
