"""Grad-CAM overlays: asked for by a page, computed once by a worker, then served from a file.

A request makes (or re-queues) the ``Heatmap`` row and sends its id to the ``default`` queue once
the row is committed; the worker (results/tasks.py) claims the row with a conditional update,
scores the image with the run's best checkpoint exactly as evaluation does, and writes a
coloured PNG with alpha to ``<run folder>/gradcam/<instance>-<class index>.png``. A later
request for the same (run, image, label) finds the file and computes nothing.

An evaluation or prediction job explains its scores with the training run it used, so heatmaps
are kept under that run, shared by every job that used it.

Torch is imported inside ``compute`` only: the web process imports this module.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from jobs.models import Job, JobStatus
from training.engine.config import ConfigError
from training.engine.files import atomic_write
from training.jobs import job_folder
from training.models import JobKind

from .models import Heatmap

log = logging.getLogger("results.heatmaps")

TASK = "results.compute_heatmap"
QUEUE = "default"  # one image's forward and backward pass: any worker, no GPU needed
# A row still queued or running this long after it was asked for lost its worker (or never had
# one): asking again re-queues it.
STALE_AFTER = timedelta(minutes=5)
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
    return job_folder(run) / "run" / "best.pt"


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
    return job_folder(run) / "gradcam" / f"{instance_id}-{class_index(run, label)}.png"


def find(run: Job, instance, label: str) -> Heatmap | None:
    return Heatmap.objects.filter(run=run, instance=instance, label=label).first()


def is_ready(heatmap: Heatmap) -> bool:
    return (
        heatmap.status == JobStatus.SUCCEEDED
        and png_path(heatmap.run, heatmap.instance_id, heatmap.label).is_file()
    )


def is_stale(heatmap: Heatmap) -> bool:
    """Pending for longer than any worker takes: no worker has it, or the one that had it died."""
    return heatmap.pending and heatmap.requested_at <= timezone.now() - STALE_AFTER


def stale_message() -> str:
    return _(
        "No worker has made this map in %(minutes)d minutes: is a worker on the %(queue)s queue "
        "running? Ask again to retry."
    ) % {"minutes": STALE_AFTER.total_seconds() // 60, "queue": QUEUE}


@transaction.atomic
def request_heatmap(run: Job, instance, label: str) -> Heatmap:
    """The row for (run, image, label), queued for a worker unless its PNG is there already or
    a worker was sent it a short while ago. A failed, stale or file-less row is queued again."""
    class_index(run, label)
    _, created = Heatmap.objects.get_or_create(
        team=run.team, run=run, instance=instance, label=label
    )
    heatmap = Heatmap.objects.select_for_update().get(run=run, instance=instance, label=label)
    if not created:
        if is_ready(heatmap):
            return heatmap
        if heatmap.pending and not is_stale(heatmap):
            return heatmap
    heatmap.status, heatmap.error = JobStatus.QUEUED, ""
    heatmap.requested_at, heatmap.finished_at = timezone.now(), None
    heatmap.save(update_fields=["status", "error", "requested_at", "finished_at"])
    _enqueue(heatmap.pk)
    return heatmap


def _enqueue(heatmap_id: int) -> None:
    from celery import current_app as app

    transaction.on_commit(lambda: app.send_task(TASK, args=[heatmap_id], queue=QUEUE))


# --- the worker's side -------------------------------------------------------------------------


def claim(heatmap_id: int) -> Heatmap | None:
    """QUEUED -> RUNNING for exactly one worker; None for a redelivered or finished request."""
    claimed = Heatmap.objects.filter(pk=heatmap_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING
    )
    if not claimed:
        return None
    return Heatmap.objects.select_related("run", "instance__team").get(pk=heatmap_id)


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


def succeed(heatmap_id: int) -> None:
    Heatmap.objects.filter(pk=heatmap_id, status=JobStatus.RUNNING).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now(), computations=F("computations") + 1
    )


def fail(heatmap_id: int, exc: BaseException) -> None:
    """One line a reader can act on: our own errors as they are, others with their type."""
    if isinstance(exc, (HeatmapRequestError, ConfigError)):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}"
    Heatmap.objects.filter(pk=heatmap_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), error=" ".join(message.split())[:500]
    )


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
