"""Results pages: runs, one run's numbers and charts, the cases behind a number, comparisons,
the review queue of confident disagreements, and downloads. Thin: pages.py computes.

The dashboard changes one thing only: a curator sends a run's confident disagreements to the
curation review queue (curation.services.queue_model_disagreements); viewers get a 403.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from curation.services import queue_model_disagreements
from teams.access import CAN_CURATE, require_role, role_in
from training.modelcard import to_markdown

from . import artifacts, comparison, exports, pages, queries
from .summary import task_of


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = queries.runs(request.user)
    if request.team is not None:
        runs = runs.filter(team=request.team)
    rows = [(job, task_of(job), comparison.refusal(job)) for job in runs[:200]]
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
    """Two to six runs side by side. Another team's run (or none) is a 404; a malformed list or
    a run without results (failed, running...) is refused with a 400 that says which and why."""
    context = {"candidates": comparison.candidates(request.user)}
    try:
        ids = comparison.requested_ids(request.GET.getlist("runs"))
    except comparison.CompareError as exc:
        context["error"] = str(exc)
        return render(request, "results/compare.html", context, status=400)
    found = {job.pk: job for job in queries.runs(request.user).filter(pk__in=ids)}
    if any(pk not in found for pk in ids):
        raise Http404(_("No such run."))
    chosen = [found[pk] for pk in ids]
    context["chosen"] = ids
    refused = [(job, reason) for job in chosen if (reason := comparison.refusal(job))]
    if refused:
        context["refused"] = refused
        context["others"] = [pk for pk in ids if pk not in {job.pk for job, _r in refused}]
        return render(request, "results/compare.html", context, status=400)
    if len(chosen) < 2:
        context["need_more"] = True
        return render(request, "results/compare.html", context)
    context.update(comparison.compare_context([comparison.load(job) for job in chosen]))
    return render(request, "results/compare.html", context)


def _confidence(params) -> float:
    """The page's confidence (default 0.8); anything but a number in [0.5, 1) is a ValueError."""
    try:
        confidence = float(params.get("confidence", "0.8"))
    except ValueError:
        raise ValueError(_("confidence must be a number")) from None
    if not 0.5 <= confidence < 1:
        raise ValueError(_("confidence must be at least 0.5 and below 1"))
    return confidence


@login_required
def disagreements(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    try:
        confidence = _confidence(request.GET)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    context = pages.disagreement_context(job, confidence)
    context["can_curate"] = role_in(request.user, job.team) in CAN_CURATE
    return render(request, "results/disagreements.html", context)


@login_required
@require_POST
def send_disagreements(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the listed disagreements (all, or the ticked ones) to the curation review queue."""
    job = queries.run_or_404(request.user, pk)
    require_role(request.user, job.team, CAN_CURATE)
    try:
        confidence = _confidence(request.POST)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    query = urlencode({"confidence": confidence})
    page = f"{reverse('results:disagreements', args=[job.pk])}?{query}"
    chosen = None
    if request.POST.get("scope") != "all":
        chosen = {tuple(value.split("|", 1)) for value in request.POST.getlist("item")
                  if "|" in value}  # fmt: skip
    found = pages.disagreements_to_review(job, confidence, chosen) if chosen != set() else []
    if not found:
        # Like the other page forms: the refusal is a message on the page it came from.
        messages.error(request, _("Nothing was sent: tick disagreements listed on this page, or "
                                  "send them all."))  # fmt: skip
        return redirect(page)
    queued = queue_model_disagreements(job.team, request.user, run_id=job.pk,
                                       run_name=job.name, found=found)  # fmt: skip
    messages.success(request, _(
        "Review queue: %(created)s new, %(added)s with new evidence, %(reopened)s reopened, "
        "%(unchanged)s already there.") % queued.__dict__)  # fmt: skip
    return redirect(page)


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


@login_required
def model_card_json(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    response = JsonResponse(pages.model_card(job), encoder=DjangoJSONEncoder,
                            json_dumps_params={"indent": 1, "ensure_ascii": False})  # fmt: skip
    response["Content-Disposition"] = f'attachment; filename="run-{job.pk}-model-card.json"'
    return response


@login_required
def model_card_markdown(request: HttpRequest, pk: int) -> HttpResponse:
    job = queries.run_or_404(request.user, pk)
    body = to_markdown(pages.model_card(job))
    return _download(body, "text/markdown; charset=utf-8", f"run-{job.pk}-model-card.md")
