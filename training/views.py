"""Job pages: launch, queue, one job's live progress, the model registry. Thin: jobs start
through training/launch.py, state changes in services, and run files are found through
training/runs.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jobs import errors as job_errors
from jobs import registry
from jobs import services as job_services
from jobs.models import Job, JobStatus
from teams.access import CAN_TRAIN, get_visible_or_404, require_role, role_in

from . import display, model_registry
from .engine.config import TASKS
from .forms import (
    EvaluateForm,
    LaunchForm,
    PredictForm,
    RegistryForm,
    RunJobForm,
    add_config_errors,
)
from .launch import (
    InvalidConfig,
    MissingInput,
    SplitCounts,
    launch_job,
    shortfall_message,
    split_counts,
)
from .modelcard import model_card, to_markdown
from .models import CurrentModel, JobKind
from .runs import RunFolder


def _label_set_names(team) -> dict[int, str]:
    return {label_set.pk: str(label_set) for label_set in _label_sets(team)}


def _label_sets(team):
    from curation.models import LabelSet

    return LabelSet.objects.of_team(team).order_by("-version") if team else []


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    """The team's jobs, newest first. Kinds registered as hidden (Grad-CAM maps, one per image
    someone looked at) only with ``?all=1``."""
    show_all = request.GET.get("all") == "1"
    hidden = registry.hidden_kinds()
    jobs = Job.objects.of_team(request.team) if request.team else Job.objects.none()
    if not show_all:
        jobs = jobs.exclude(kind__in=hidden)
    jobs = jobs.select_related("owner")[:200]
    waiting = {}
    for job in jobs:
        if job.status == JobStatus.QUEUED:
            waiting[job.pk] = job_services.queue_position(job)
    rows = [(job, waiting.get(job.pk)) for job in jobs]
    return render(
        request,
        "training/job_list.html",
        {
            "rows": rows,
            "workers": job_services.online_workers(),
            "show_all": show_all,
            "hidden_kinds": ", ".join(registry.label_for(kind) for kind in hidden),
        },
    )


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_visible_or_404(Job.objects.select_related("owner", "team"), request.user, pk=pk)
    can_act = role_in(request.user, job.team) in CAN_TRAIN
    return render(
        request,
        "training/job_detail.html",
        {
            "job": job,
            "can_act": can_act,
            "position": job_services.queue_position(job),
            "job_strings": _job_strings(),
            "explanation": job_errors.explain(job),
            "can_retry": job_errors.retry_can_help(job),
            "settings": display.config_rows(job.config, _label_set_names(job.team)),
        },
    )


def _job_strings() -> dict:
    """What the live page (training/static/training/job.js) writes, in the UI's language."""
    return {
        "status": dict(JobStatus.choices),
        "cancelling": _("cancelling"),
        "position": _("(#%(position)s in queue)"),
        "phases": {
            "prepare": _("preparing: exporting the data and building the model"),
            "train": _("training"),
            "validate": _("validating"),
            "test": _("testing"),
            "done": _("done"),
            "stopped": _("stopped"),
        },  # fmt: skip
        "epoch": _("epoch %(epoch)s of %(epochs)s"),
        "step": _("batch %(step)s of %(total)s (%(percent)s)"),
        "rate": _("%(rate)s images/s"),
        "eta": _("about %(eta)s left"),
        "eta_pending": _("time left: known after the second batch"),
        "offline": _("the server did not answer; retrying…"),
        "units": {"h": _("h"), "min": _("min"), "s": _("s")},
        "chart": {
            "step": _("step"),
            "loss": _("training loss"),
            "val": _("validation"),
            "series": display.validation_series(),
        },
        "metrics": {key: display.metric_name(key) for key in display.METRIC_NAMES},
    }


@login_required
def launch(request: HttpRequest) -> HttpResponse:
    team = request.team
    if team is None:
        return redirect("home")
    require_role(request.user, team, CAN_TRAIN)
    label_sets = _label_sets(team)
    gpu_online = job_services.gpu_worker_online()
    if request.method == "POST":
        form = LaunchForm(request.POST, label_sets=label_sets)
        jobs = _launch(request, team, form) if form.is_valid() else []
        if jobs:
            messages.success(request, _("%(count)d job(s) queued.") % {"count": len(jobs)})
            if form.left_out:
                messages.info(request, _("Left out, below the minimum: %(labels)s.")
                              % {"labels": ", ".join(form.left_out)})  # fmt: skip
            return redirect("training:job-detail", pk=jobs[0].pk)
    else:
        preset = request.GET.get("preset") or ("paper-resnet101" if gpu_online else "cpu")
        initial = LaunchForm.initial_for(preset)
        if request.GET.get("from"):  # rerun with an edited config
            source = get_visible_or_404(Job, request.user, pk=request.GET["from"])
            initial.update(preset="", **source.config.get("engine", {}))
            initial.update(label_set=str(source.config.get("label_set")), name=source.name)
            initial["gpus"] = source.config.get("gpus", 1)
        form = LaunchForm(initial=initial, label_sets=label_sets)
    return render(
        request,
        "training/launch.html",
        {"form": form, "gpu_online": gpu_online, "has_label_sets": bool(len(label_sets)),
         **_counts_context(team, form, label_sets)},
    )  # fmt: skip


def _counts_context(team, form: LaunchForm, label_sets) -> dict:
    """Each task's per-label train / val / test counts on the form's label set."""
    chosen = form["label_set"].value() or (str(label_sets[0].pk) if len(label_sets) else None)
    label_set = next((ls for ls in label_sets if str(ls.pk) == str(chosen)), None)
    if label_set is None:
        return {"split_counts": [], "counts_label_set": None}
    try:  # the split depends on the seed: the form's, when it holds a number
        engine = {"seed": int(form["seed"].value())}
    except (TypeError, ValueError):
        engine = {}
    counts = [split_counts(team, label_set.pk, task, engine) for task in TASKS]
    return {"split_counts": counts, "counts_label_set": label_set,
            "chosen_task": form["task"].value() or TASKS[0]}  # fmt: skip


def _check_split(team, form: LaunchForm) -> SplitCounts | None:
    """The job's split, checked before anything is queued: None with the form's error set when
    a label falls below the minimum; labels left out when the form asks."""
    data = form.cleaned_data
    counts = split_counts(team, int(data["label_set"]), data["task"], form.engine(),
                          leave_out_short=data["leave_out_short"])  # fmt: skip
    message = shortfall_message(counts)
    if message:
        form.add_error(None, message)
        return None
    if counts.left_out:
        form.leave_out(counts.kept, counts.left_out)
    return counts


def _launch(request, team, form: LaunchForm) -> list[Job]:
    """One job per architecture (both of a comparison, or none); [] with the form's errors set."""
    try:
        if _check_split(team, form) is None:
            return []
        with transaction.atomic():
            return [
                launch_job(team, request.user, JobKind.TRAIN, form.config(arch),
                           name=form.job_name(arch))
                for arch in form.archs()
            ]  # fmt: skip
    except MissingInput as exc:
        raise Http404(str(exc)) from None
    except InvalidConfig as exc:
        add_config_errors(form, exc.errors)
        return []


@login_required
@require_POST
def job_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    job = get_visible_or_404(Job, request.user, pk=pk)
    require_role(request.user, job.team, CAN_TRAIN)
    if action == "retry" and job.status == JobStatus.FAILED and not job_errors.retry_can_help(job):
        messages.error(request, _("A retry would fail the same way: rerun the job with an "
                                  "edited config instead."))  # fmt: skip
        return redirect("training:job-detail", pk=job.pk)
    change = {"cancel": job_services.request_cancel, "retry": job_services.retry_by_user}[action]
    try:
        change(job)
    except job_services.JobStateError as exc:
        messages.error(request, str(exc))
    else:
        if action == "cancel" and job.status == JobStatus.RUNNING:
            messages.info(request, _("Cancelling: the job stops after its current batch."))
    return redirect("training:job-detail", pk=job.pk)


# --- the model registry -----------------------------------------------------------------------


def _model(request: HttpRequest, pk: int) -> Job:
    """A finished training job of the caller's teams; anything else is a 404."""
    runs = Job.objects.filter(kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED)
    return get_visible_or_404(runs.select_related("team"), request.user, pk=pk)


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    team = request.team
    runs = (
        Job.objects.of_team(team).filter(kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED)[:200]
        if team
        else []
    )
    current = dict(CurrentModel.objects.of_team(team).values_list("job_id", "task")) if team else {}
    rows = [(job, current.get(job.pk), model_registry.run_task(job)) for job in runs]
    return render(request, "training/model_list.html", {"rows": rows})


@login_required
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _model(request, pk)
    return render(request, "training/model_detail.html", _model_context(request, job))


def _model_context(request: HttpRequest, job: Job, form: RegistryForm | None = None,
                   **run_forms: RunJobForm) -> dict:  # fmt: skip
    """The model page; ``run_forms`` replace the blank evaluation and prediction forms."""
    form = form or RegistryForm(initial={"name": job.name, "tags": ", ".join(job.tags)})
    gpu_online = job_services.gpu_worker_online()
    return {
        "job": job,
        "card": model_card(job),
        "form": form,
        "evaluate_form": run_forms.get("evaluate")
        or EvaluateForm(run=job, gpu_online=gpu_online, label_sets=_label_sets(job.team)),
        "predict_form": run_forms.get("predict") or PredictForm(run=job, gpu_online=gpu_online),
        "can_act": role_in(request.user, job.team) in CAN_TRAIN,
        "has_weights": RunFolder.of(job).best.is_file(),
        "settings": display.config_rows(job.config, _label_set_names(job.team)),
        "names": display.label_names(
            _label_sets(job.team).filter(pk=job.config.get("label_set")).first()
        ),
    }


@login_required
@require_POST
def model_evaluate(request: HttpRequest, pk: int) -> HttpResponse:
    """Evaluate the run on its test split or another label set; on to the live job page."""
    job = _model(request, pk)
    require_role(request.user, job.team, CAN_TRAIN)
    form = EvaluateForm(request.POST, run=job, gpu_online=job_services.gpu_worker_online(),
                        label_sets=_label_sets(job.team))  # fmt: skip
    return _launch_with_run(request, job, JobKind.EVALUATE, form)


@login_required
@require_POST
def model_predict(request: HttpRequest, pk: int) -> HttpResponse:
    """Predict with the run on chosen images of its team; on to the live job page."""
    job = _model(request, pk)
    require_role(request.user, job.team, CAN_TRAIN)
    form = PredictForm(request.POST, run=job, gpu_online=job_services.gpu_worker_online())
    return _launch_with_run(request, job, JobKind.PREDICT, form)


def _launch_with_run(request: HttpRequest, run: Job, kind: str, form: RunJobForm) -> HttpResponse:
    if form.is_valid():
        name = form.cleaned_data["name"] or f"{kind} {run.name or f'#{run.pk}'}"
        try:
            job = launch_job(run.team, request.user, kind, form.config(), name=name,
                             queue=form.queue())  # fmt: skip
        except MissingInput as exc:
            raise Http404(str(exc)) from None
        except InvalidConfig as exc:  # e.g. a label set with other labels
            add_config_errors(form, exc.errors, {"label_set": "target"})
        else:
            messages.success(request, _("Job %(job)s queued.") % {"job": job.pk})
            return redirect("training:job-detail", pk=job.pk)
    context = _model_context(request, run, **{kind: form})
    return render(request, "training/model_detail.html", context, status=400)


@login_required
@require_POST
def model_edit(request: HttpRequest, pk: int) -> HttpResponse:
    job = _model(request, pk)
    require_role(request.user, job.team, CAN_TRAIN)
    form = RegistryForm(request.POST)
    if not form.is_valid():
        context = _model_context(request, job, form)
        return render(request, "training/model_detail.html", context, status=400)
    model_registry.describe_run(job, form.cleaned_data["name"], form.cleaned_data["tags"])
    messages.success(request, _("Saved."))
    return redirect("training:model-detail", pk=job.pk)


@login_required
@require_POST
def model_current(request: HttpRequest, pk: int) -> HttpResponse:
    job = _model(request, pk)
    require_role(request.user, job.team, CAN_TRAIN)
    current = model_registry.mark_current(job, request.user)
    messages.success(
        request, _("Job %(job)s is now the current model for %(task)s.")
        % {"job": job.pk, "task": current.task},
    )  # fmt: skip
    return redirect("training:model-detail", pk=job.pk)


@login_required
def model_weights(request: HttpRequest, pk: int) -> FileResponse:
    return weights_response(_model(request, pk))


def weights_response(job: Job) -> FileResponse:
    """best.pt streamed from disk (never read into memory), named after the job."""
    path = RunFolder.of(job).best
    if not path.is_file():
        raise Http404("this run has no best.pt on disk")
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"job-{job.pk}-best.pt")


@login_required
def model_card_markdown(request: HttpRequest, pk: int) -> HttpResponse:
    text = to_markdown(model_card(_model(request, pk)))
    return HttpResponse(text, content_type="text/markdown; charset=utf-8")
