"""What each kind of job does once a worker has claimed it.

Training, evaluation and prediction export a frozen label set from the team's training cache
into the engine's dataset format (once per job, so a resumed job sees the same data and split),
then call the engine with a progress callback that writes to the job row and stops the engine
when the user cancels.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from training.engine import runner as engine
from training.engine.config import from_dict

from .export import Entry, JobInputError, export_dataset
from .tasks import JobContext, runner

log = logging.getLogger("training.jobs")

# Engine fields the platform sets itself; a job's config may not point them elsewhere.
SERVER_FIELDS = ("dataset", "output", "resume", "checkpoint", "weights")


def job_folder(job) -> Path:
    return settings.RUNS_DIR / str(job.team_id) / f"job-{job.pk}"


def label_set_entries(job) -> tuple[list[Entry], list[str], str, int]:
    """The images a job trains on: a frozen label set's vectors, without unreviewed conflicts."""
    from curation.models import LabelSet

    label_set = LabelSet.objects.filter(team=job.team, pk=job.config.get("label_set")).first()
    if label_set is None:
        raise JobInputError(
            f"label set {job.config.get('label_set')!r} does not exist in this team"
        )
    rows = label_set.images.select_related("instance__study").filter(instance__isnull=False)
    entries, conflicts = [], 0
    for row in rows:
        if row.conflict:
            conflicts += 1
        else:
            entries.append(Entry(row.instance, tuple(row.labels)))
    names = [label["key"] for label in label_set.labels]
    return entries, names, label_set.content_hash, conflicts


def prepare_dataset(job) -> Path:
    folder = job_folder(job)
    dataset = folder / "dataset"
    if (dataset / "meta.json").exists():
        log.info("reusing the dataset exported by an earlier attempt")
        return dataset
    entries, names, content_hash, conflicts = label_set_entries(job)
    if conflicts:
        log.warning("%d images with unreviewed normal + disease labels left out", conflicts)
    summary = export_dataset(job.team, entries, names, content_hash, dataset)
    log.info(
        "exported %d images of %d patients (%d undecodable, %d quarantined left out)",
        summary.count, summary.patients, summary.skipped_undecodable, summary.skipped_quarantined,
    )  # fmt: skip
    return dataset


def engine_config(job, command: str):
    folder = job_folder(job)
    values = {k: v for k, v in job.config.get("engine", {}).items() if k not in SERVER_FIELDS}
    values.update(dataset=str(prepare_dataset(job)), output=str(folder / "run"))
    if command == "train":
        values["resume"] = "auto"  # a requeued job continues from its last checkpoint
    # "imagenet" means torchvision's files in the weights folder; nothing else leaves the server.
    imagenet = job.config.get("engine", {}).get("weights") == "imagenet"
    values["weights"] = str(settings.WEIGHTS_DIR) if imagenet else "none"
    return from_dict(values)


def _engine_job(context: JobContext, command: str) -> dict:
    config = engine_config(context.job, command)

    def progress(point) -> None:
        context.report(point.to_dict(), keep=point.phase in {"train", "validate"})

    result = engine.run(config, command, progress=progress)
    return {"metrics": _summary(result), "output_dir": str(job_folder(context.job))}


def _summary(result: dict) -> dict:
    """What the job row keeps: the engine's reports without the long per-step history."""
    return {key: value for key, value in result.items() if key != "history"}


@runner("train")
def train(context: JobContext) -> dict:
    return _engine_job(context, "train")
