"""Job pages: launch, queue, one job's live progress. Thin: services change state."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from lab.access import CAN_TRAIN, get_visible_or_404, require_role, role_in

from . import services
from .forms import LaunchForm
from .models import Job, JobStatus


def _label_sets(team):
    from curation.models import LabelSet

    return LabelSet.objects.of_team(team).order_by("-version") if team else []


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = Job.objects.of_team(request.team).select_related("owner")[:200] if request.team else []
    waiting = {}
    for job in jobs:
        if job.status == JobStatus.QUEUED:
            waiting[job.pk] = services.queue_position(job)
    rows = [(job, waiting.get(job.pk)) for job in jobs]
    return render(
        request,
        "training/job_list.html",
        {"rows": rows, "workers": services.online_workers()},
    )


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_visible_or_404(Job.objects.select_related("owner", "team"), request.user, pk=pk)
    can_act = role_in(request.user, job.team) in CAN_TRAIN
    strings = {
        "status": dict(JobStatus.choices),
        "position": _("(#%(position)s in queue)"),
        "phase": _(
            "%(phase)s · epoch %(epoch)s of %(epochs)s · step %(step)s of %(total)s · ETA %(eta)s"
        ),
        "offline": _("the server did not answer; retrying…"),
    }
    return render(
        request,
        "training/job_detail.html",
        {
            "job": job,
            "can_act": can_act,
            "position": services.queue_position(job),
            "job_strings": strings,
        },
    )


@login_required
def launch(request: HttpRequest) -> HttpResponse:
    team = request.team
    if team is None:
        return redirect("home")
    require_role(request.user, team, CAN_TRAIN)
    label_sets = _label_sets(team)
    gpu_online = services.gpu_worker_online()
    if request.method == "POST":
        form = LaunchForm(request.POST, label_sets=label_sets)
        if form.is_valid():
            jobs = _launch(request, team, form)
            messages.success(request, _("%(count)d job(s) queued.") % {"count": len(jobs)})
            return redirect("training:job-detail", pk=jobs[0].pk)
    else:
        preset = request.GET.get("preset") or ("paper-resnet101" if gpu_online else "cpu")
        initial = LaunchForm.initial_for(preset)
        if request.GET.get("from"):  # rerun with an edited config
            source = get_visible_or_404(Job, request.user, pk=request.GET["from"])
            initial.update(preset="", **source.config.get("engine", {}))
            initial.update(label_set=str(source.config.get("label_set")), name=source.name)
        form = LaunchForm(initial=initial, label_sets=label_sets)
    return render(
        request,
        "training/launch.html",
        {"form": form, "gpu_online": gpu_online, "has_label_sets": bool(len(label_sets))},
    )


def _launch(request, team, form: LaunchForm) -> list[Job]:
    jobs = []
    for arch in form.archs():
        engine = {**form.engine(), "arch": arch}
        name = form.cleaned_data["name"] or f"{engine['task']} {arch}"
        config = {"label_set": int(form.cleaned_data["label_set"]), "engine": engine}
        jobs.append(services.create_job(team, request.user, "train", config, name=name))
    return jobs


@login_required
@require_POST
def job_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    job = get_visible_or_404(Job, request.user, pk=pk)
    require_role(request.user, job.team, CAN_TRAIN)
    change = {"cancel": services.request_cancel, "retry": services.retry}[action]
    try:
        change(job)
    except services.JobStateError as exc:
        messages.error(request, str(exc))
    return redirect("training:job-detail", pk=job.pk)
