"""Grad-CAM overlays: asked for by a page, computed once by a worker, then served from a file.

A request makes the ``Heatmap`` row and a ``gradcam`` job for it (or re-queues the job when it
failed); the jobs layer claims, beats and reaps it like any job, and its runner (results/jobs.py)
scores the image with the run's best checkpoint exactly as evaluation does, and writes a
coloured PNG with alpha to ``<run folder>/gradcam/<instance>-<class index>.png``. A later
request for the same (run, image, label) finds the file and computes nothing. The map's status
is its job's: a dead worker's map is requeued by the reaper, like any job's.

An evaluation or prediction job explains its scores with the training run it used, so heatmaps
are kept under that run, shared by every job that used it.

Torch is imported inside ``compute`` only: the web process imports this module.
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils.translation import gettext as _

from jobs import services as job_services
from jobs.models import Job, JobStatus
from training.engine.files import atomic_write
from training.models import JobKind
from training.runs import RunFolder

from .models import Heatmap

KIND = "gradcam"
# The task name of maps queued before they were jobs: results/tasks.py runs such a message's row.
TASK = "results.compute_heatmap"
JOB_KINDS = (JobKind.TRAIN, JobKind.EVALUATE, JobKind.PREDICT)


class HeatmapRequestError(ValueError):
    """A request that cannot be served as asked (unknown label, a run without a model): 400."""


def model_run(job: Job) -> Job:
    """The finished training run whose checkpoint scored this job's images."""
    run = job
    if job.kind != JobKind.TRAIN:
        run = Job.objects.filter(
            team=job.team, pk=job.config.get("source_job"), kind=JobKind.TRAIN
        ).first()
    if run is None or run.status != JobStatus.SUCCEEDED or not checkpoint(run).is_file():
        raise HeatmapRequestError(_("This run has no trained model to explain its scores with."))
    return run


def checkpoint(run: Job) -> Path:
    return RunFolder.of(run).best


def class_names(run: Job) -> list[str]:
    return list((run.metrics or {}).get("class_names") or [])


def class_index(run: Job, label: str) -> int:
    names = class_names(run)
    if label not in names:
        raise HeatmapRequestError(
            _("Unknown label %(label)s: this run's classes are %(names)s.")
            % {"label": label, "names": ", ".join(names) or "—"}
        )
    return names.index(label)


def png_path(run: Job, instance_id: int, label: str) -> Path:
    """Keyed by the class index, not the label text: a file name never holds user text."""
    return RunFolder.of(run).gradcam_png(instance_id, class_index(run, label))


def find(run: Job, instance, label: str) -> Heatmap | None:
    return (
        Heatmap.objects.select_related("job")
        .filter(run=run, instance=instance, label=label)
        .first()
    )


def is_ready(heatmap: Heatmap) -> bool:
    return (
        heatmap.status == JobStatus.SUCCEEDED
        and png_path(heatmap.run, heatmap.instance_id, heatmap.label).is_file()
    )


@transaction.atomic
def request_heatmap(run: Job, instance, label: str, owner=None) -> Heatmap:
    """The row for (run, image, label) with a job making its map, unless its PNG is there
    already or its job is still queued or running. A failed or cancelled job is queued again;
    a made map whose file is gone gets a new job."""
    class_index(run, label)
    heatmap, created = Heatmap.objects.get_or_create(
        run=run, instance=instance, label=label,
        defaults={"team": run.team, "job": lambda: _new_job(run, instance, label, owner)},
    )  # fmt: skip
    if created:
        return heatmap
    heatmap = Heatmap.objects.select_for_update().select_related("job").get(pk=heatmap.pk)
    if heatmap.pending or is_ready(heatmap):
        return heatmap
    if heatmap.status == JobStatus.SUCCEEDED:
        heatmap.job = _new_job(run, instance, label, owner)
        heatmap.save(update_fields=["job"])
    else:
        heatmap.job = job_services.retry(heatmap.job)
    return heatmap


def _new_job(run: Job, instance, label: str, owner) -> Job:
    """The config says what the map is of, for a reader of the job; the runner reads the row."""
    config = {"run": run.pk, "instance": instance.pk, "label": label}
    return job_services.create_job(run.team, owner, KIND, config, name=label)


# --- the worker's side (the ``gradcam`` runner in results/jobs.py) ------------------------------


def make(heatmap: Heatmap) -> Path:
    """The map's PNG, computed unless a previous attempt of the job already wrote it (a worker
    killed between writing the file and recording the job's end)."""
    path = png_path(heatmap.run, heatmap.instance_id, heatmap.label)
    if not path.is_file():
        compute(heatmap)
        Heatmap.objects.filter(pk=heatmap.pk).update(computations=F("computations") + 1)
    return path


def compute(heatmap: Heatmap) -> Path:
    """Grad-CAM of the cached image with the run's best checkpoint, written as an RGBA PNG."""
    from labeling.services import cached_image
    from training.engine.gradcam import colour, grad_cam

    image = cached_image(heatmap.instance)
    if image is None:
        raise HeatmapRequestError(_("This image has no decoded pixels to explain."))
    trained = _trained(str(checkpoint(heatmap.run)), checkpoint(heatmap.run).stat().st_mtime_ns)
    if heatmap.label not in trained.class_names:
        raise HeatmapRequestError(
            _("Unknown label %(label)s: this run's classes are %(names)s.")
            % {"label": heatmap.label, "names": ", ".join(trained.class_names)}
        )
    index = trained.class_names.index(heatmap.label)
    heat = grad_cam(trained.model, trained.config.arch, image, index, trained.config.crop)
    path = png_path(heatmap.run, heatmap.instance_id, heatmap.label)
    _write_png(path, colour(heat))
    return path


@functools.lru_cache(maxsize=2)
def _trained(path: str, _mtime_ns: int):
    """A worker keeps the last runs' models loaded: a page asks for several labels in a row."""
    from training import inference

    return inference.load_trained(path)


def _write_png(path: Path, rgba) -> None:
    """A reader sees the whole PNG or none."""
    from PIL import Image

    atomic_write(path, lambda out: Image.fromarray(rgba, "RGBA").save(out, format="PNG"))


# --- what the study page's viewer needs --------------------------------------------------------


def viewer_options(study, predictions: list[dict], chosen: dict | None = None) -> dict | None:
    """The runs that scored this study's images, with their labels, for the viewer's Grad-CAM
    control (json_script); None when no run can explain any image.

    ``chosen`` ({"run": job id, "label": key}, from a case gallery's link) preselects a run and
    label when that job is one of them; anything else is ignored.
    """
    from . import queries

    jobs = {p.job_id: p.job for entry in predictions for p in entry["predictions"]}
    runs: dict[int, Job] = {}
    model_of: dict[str, int] = {}
    for job in jobs.values():
        try:
            run = model_run(job)
        except HeatmapRequestError:
            continue
        if class_names(run):
            runs.setdefault(run.pk, run)
            model_of[str(job.pk)] = run.pk
    if not runs:
        return None
    chosen = chosen or {}
    selected = {}
    if chosen.get("run") in model_of:
        run = runs[model_of[chosen["run"]]]
        selected = {"run": run.pk, "label": chosen.get("label") or ""}
        if selected["label"] not in class_names(run):
            selected["label"] = ""
    choices = []
    for run in runs.values():
        names = queries.display_names(queries.label_set_of(run), class_names(run))
        choices.append({
            "id": run.pk,
            "name": f"{run.name or run.get_kind_display()} #{run.pk}",
            "labels": [{"key": key, "name": name} for key, name in names.items()],
        })  # fmt: skip
    sentinels = {"pk": 900000001, "instance": 900000002, "label": "LABEL"}
    url = reverse("results:heatmap", kwargs=sentinels)
    return {
        "runs": choices,
        "selected": selected,
        "instances": dict(study.instances.values_list("sop_uid", "pk")),
        "url": url.replace("900000001", "{run}")
        .replace("900000002", "{instance}")
        .replace("LABEL", "{label}"),
        "strings": {
            "pending": _("Computing the Grad-CAM map…"),
            "shown": _("Grad-CAM map shown."),
            "failed": _("The Grad-CAM map could not be made:"),
            "noImage": _("This image is not in the database; no map can be made for it."),
            "network": _("The server did not answer; try again."),
        },
    }
