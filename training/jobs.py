"""What each kind of job does once a worker has claimed it.

Training, evaluation and prediction export a frozen label set from the team's training cache
into the engine's dataset format (once per job, so a resumed job sees the same data and split),
then call the engine with a progress callback that writes to the job row and stops the engine
when the user cancels.

A job's files sit in its ``RunFolder`` (training/runs.py), which pages use too; this module is
the worker's. torch is imported inside the runners only, so that registering them at start-up
keeps the web process free of torch (tests/lab/test_web_imports.py).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils import timezone

from jobs.models import Job
from jobs.registry import runner
from jobs.services import JobCancelled, JobInputError
from jobs.worker import JobContext
from training.engine.config import SERVER, ConfigError, fields_owned_by, from_dict
from training.engine.metrics import to_jsonable

from . import services
from .configs import stored_config
from .export import Entry, export_dataset
from .models import JobKind
from .runs import RunFolder

log = logging.getLogger("training.jobs")

# Engine fields the platform sets itself (the Config declares them); a job's config may not point
# them elsewhere.
SERVER_FIELDS = fields_owned_by(SERVER)


def label_set_entries(job) -> tuple[list[Entry], list[str], str, int]:
    """The images a job trains on: a frozen label set's vectors, without unreviewed conflicts."""
    from curation.models import LabelSet

    label_set_id = stored_config(job).label_set
    label_set = LabelSet.objects.filter(team=job.team, pk=label_set_id).first()
    if label_set is None:
        raise JobInputError(f"label set {label_set_id!r} does not exist in this team")
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
    folder = RunFolder.of(job)
    if folder.dataset_meta.exists():
        log.info("reusing the dataset exported by an earlier attempt")
        return folder.dataset
    entries, names, content_hash, conflicts = label_set_entries(job)
    if conflicts:
        log.warning("%d images with unreviewed normal + disease labels left out", conflicts)
    log.info("exporting %d images of the label set for training", len(entries))
    return _export(job, entries, names, content_hash)


def _export(job, entries: list[Entry], names: list[str], content_hash: str) -> Path:
    dataset = RunFolder.of(job).dataset
    summary = export_dataset(job.team, entries, names, content_hash, dataset)
    log.info(
        "exported %d images of %d patients (%d undecodable, %d quarantined left out)",
        summary.count, summary.patients, summary.skipped_undecodable, summary.skipped_quarantined,
    )  # fmt: skip
    return dataset


def engine_config(job, command: str):
    engine = stored_config(job).engine
    values = {k: v for k, v in engine.items() if k not in SERVER_FIELDS}
    values.update(dataset=str(prepare_dataset(job)), output=str(RunFolder.of(job).run))
    if command == "train":
        values["resume"] = "auto"  # a requeued job continues from its last checkpoint
    # "imagenet" means torchvision's files in the weights folder; nothing else leaves the server.
    imagenet = engine.get("weights") == "imagenet"
    values["weights"] = str(settings.WEIGHTS_DIR) if imagenet else "none"
    return from_dict(values)


def _engine_job(context: JobContext, command: str) -> dict:
    # A phase before the first batch, so that the page says what the job does meanwhile.
    context.report({"phase": "prepare", "epoch": 0, "epochs": 0, "step": 0, "total_steps": 0},
                   keep=False, now=True)  # fmt: skip
    config = engine_config(context.job, command)
    gpus = stored_config(context.job).gpus or 1
    if gpus > 1:
        result = _train_under_torchrun(context, config, gpus)
    else:
        from training.engine import runner as engine

        def progress(point) -> None:
            context.report(point.to_dict(), keep=point.phase in {"train", "validate"})

        result = engine.run(config, command, progress=progress, check=context.check)
    _store_test_predictions(context.job)
    metrics = _summary(result)
    metrics["patient_split"] = _split_summary(context.job)
    return {"metrics": metrics, "output_dir": str(RunFolder.of(context.job).root)}


def _train_under_torchrun(context: JobContext, config, gpus: int) -> dict:
    """One job on several GPUs: the engine under torchrun in a child process group, its log
    lines relayed as progress; a cancel terminates it (its last checkpoint stays)."""
    from training import torchrun

    _check_gpus(config.device, gpus)
    folder = RunFolder.of(context.job)
    config_file = folder.engine_config
    config_file.write_text(json.dumps(config.to_dict(), indent=1))
    engine_log = logging.getLogger("training.engine")

    def on_line(level: str, message: str) -> None:
        engine_log.log(logging.getLevelName(level) if level in LEVELS else logging.INFO, message)

    def on_progress(point: dict) -> None:
        context.report(point, keep=point["phase"] in {"train", "validate"})

    def check() -> None:
        if context.should_stop():
            raise JobCancelled("cancelled on request")

    log.info("starting the engine on %d processes: %s", gpus,
             " ".join(torchrun.command(gpus, config_file)))  # fmt: skip
    outcome = torchrun.run(torchrun.command(gpus, config_file), env=_child_env(),
                           cwd=settings.BASE_DIR, on_line=on_line, on_progress=on_progress,
                           check=check, parser=torchrun.ProgressParser(config.epochs))  # fmt: skip
    if outcome.returncode == 2 and outcome.error:
        raise ConfigError(outcome.error)
    if outcome.returncode != 0:
        raise RuntimeError(f"torchrun on {gpus} processes exited with status "
                           f"{outcome.returncode}: {' | '.join(outcome.tail[-3:])}")  # fmt: skip
    return json.loads(folder.metrics.read_text())


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_gpus(device: str, gpus: int) -> None:
    """A job that asks for n GPUs on a worker with fewer fails at once, saying so."""
    if device == "cpu":
        return  # n CPU processes with gloo: tests and laptops
    import torch

    available = torch.cuda.device_count()
    if (device.startswith("cuda") or available) and available < gpus:
        raise JobInputError(f"gpus: the job asks for {gpus} GPUs; this worker has {available}")


def _child_env() -> dict[str, str]:
    paths = [str(settings.BASE_DIR), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}  # fmt: skip


def _split_summary(job) -> dict:
    """Patient-level split counts for the model card, computed where torch is at hand."""
    from training import inference

    return inference.split_summary(json.loads(RunFolder.of(job).config.read_text()))


def _store_test_predictions(job) -> None:
    """The test split's predictions into the database, where dashboards and study pages read."""
    records = [r for r in _read_jsonl(RunFolder.of(job).predictions) if r.get("split") == "test"]
    stored = services.store_predictions(job, records)
    log.info("stored %d test predictions", stored)


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    with staging.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    staging.replace(path)


def _summary(result: dict) -> dict:
    """What the job row keeps: the engine's reports without the long per-step history, with
    NaN (an AUC without positives, say) as null, since JSON columns refuse NaN."""
    return to_jsonable({key: value for key, value in result.items() if key != "history"})


@runner(JobKind.TRAIN, queue="gpu", label=JobKind.TRAIN.label, permanent=(ConfigError,))
def train(context: JobContext) -> dict:
    return _engine_job(context, "train")


# --- evaluation and prediction with a finished training job ------------------------------------


def source_run(job) -> Job:
    """The finished training job an evaluation or prediction uses, with its best checkpoint."""
    source_id = stored_config(job).source_job
    source = services.usable_source(job.team, source_id)
    if source is None:
        raise JobInputError(
            f"source_job: {source_id!r} is not a finished training job of this team"
        )
    if not RunFolder.of(source).best.is_file():
        raise JobInputError(f"source_job: job {source.pk} has no best.pt checkpoint on disk")
    return source


def _load_source(job, source):
    """The source run's best checkpoint on the job's device, scored with the job's crops (the
    run's own when the job does not say)."""
    from dataclasses import replace

    from training import inference

    config = stored_config(job)
    trained = inference.load_trained(RunFolder.of(source).best, config.device or "auto")
    if config.eval_crops:
        trained.config = replace(trained.config, eval_crops=config.eval_crops)
    return trained


def _seen_patients(source) -> set[str]:
    from training import inference

    run_config = json.loads(RunFolder.of(source).config.read_text())
    return inference.seen_patients(run_config)


def _chunk_reporter(context: JobContext, phase: str):
    def report(done: int, total: int) -> None:
        context.report({"phase": phase, "epoch": 1, "epochs": 1, "step": done,
                        "total_steps": total}, keep=False)  # fmt: skip

    return report


@runner(JobKind.EVALUATE, queue="gpu", label=JobKind.EVALUATE.label, permanent=(ConfigError,))
def evaluate(context: JobContext) -> dict:
    """A run on its own test split (the engine's evaluate), or on another frozen label set."""
    job = context.job
    source, options = source_run(job), stored_config(job)
    if options.label_set:
        return _evaluate_on_label_set(context, source)
    context.report({"phase": "test", "epoch": 1, "epochs": 1, "step": 0, "total_steps": 1})
    folder, trained_by = RunFolder.of(job), RunFolder.of(source)
    config = from_dict({
        "dataset": str(trained_by.dataset), "output": str(folder.run),
        "checkpoint": str(trained_by.best), "weights": "none",
        "eval_crops": options.eval_crops or "five",
        "device": options.device or "auto",
    })  # fmt: skip
    folder.run.mkdir(parents=True, exist_ok=True)  # the engine writes predictions first
    from training.engine import runner as engine

    result = engine.run(config, "evaluate")
    _store_test_predictions(job)
    context.report({"phase": "done", "epoch": 1, "epochs": 1, "step": 1, "total_steps": 1})
    return {"metrics": _summary(result), "output_dir": str(folder.root)}


def _evaluate_on_label_set(context: JobContext, source) -> dict:
    """Every image of the other set whose patient the run never trained or validated on is a
    test image; the run's own validation thresholds are kept, not refitted on the test data."""
    from training import inference
    from training.engine.data import open_dataset

    job = context.job
    label_set = stored_config(job).label_set
    problem = services.vocabulary_error(source, label_set)
    if problem:
        raise JobInputError(f"label_set: {problem}")
    folder = RunFolder.of(job)
    left_out = 0
    if not folder.dataset_meta.exists():
        entries, names, content_hash, conflicts = label_set_entries(job)
        if conflicts:
            log.warning("%d images with unreviewed normal + disease labels left out", conflicts)
        seen = _seen_patients(source)
        unseen = [e for e in entries if e.instance.study.patient_id not in seen]
        left_out = len(entries) - len(unseen)
        log.info("left out %d images of patients the run trained or validated on", left_out)
        if not unseen:
            raise JobInputError(
                f"label_set: every image belongs to a patient job {source.pk} trained or "
                "validated on; nothing is left to test"
            )
        _export(job, unseen, names, content_hash)
    trained = _load_source(job, source)
    ds = open_dataset(folder.dataset)
    rows = np.arange(len(ds))
    probs = inference.score(trained, ds, rows, _chunk_reporter(context, "test"))
    thresholds = inference.thresholds_from_metrics(trained, source.metrics.get("val") or {})
    result = inference.external_report(trained, ds, rows, probs, thresholds)
    result.update(label_set=label_set, label_set_hash=ds.label_set_hash,
                  source_job=source.pk, left_out_seen_images=left_out)  # fmt: skip
    records = inference.prediction_records(ds, rows, probs, trained.class_names, "external")
    _write_jsonl(folder.predictions, records)
    folder.metrics.write_text(json.dumps(to_jsonable(result), indent=1))
    services.store_predictions(job, records)
    return {"metrics": to_jsonable(result), "output_dir": str(folder.root)}


def predict_instances(job):
    """The images a prediction job scores: chosen studies, a label set's images, or every
    decoded, non-quarantined image of the team; only those ingested since a date, or only those
    its source run has no prediction for yet, when the job says so."""
    from curation.models import LabelSetImage
    from labeling.models import Instance

    instances = Instance.objects.of_team(job.team).filter(
        quarantined=False, cache_row__isnull=False
    )
    config = stored_config(job)
    if config.since:
        start = datetime.combine(date.fromisoformat(config.since), time.min)
        instances = instances.filter(created_at__gte=timezone.make_aware(start))
    if config.images == "unpredicted":
        instances = instances.exclude(pk__in=scored_by(job.team, config.source_job))
    if config.studies:
        instances = instances.filter(study_id__in=config.studies)
    if config.label_set:
        chosen = LabelSetImage.objects.filter(team=job.team, label_set_id=config.label_set).values(
            "instance_id"
        )
        instances = instances.filter(pk__in=chosen)
    return instances.select_related("study").order_by("pk")


def scored_by(team, source_id: int):
    """Images a run has a stored prediction for: its own test split's, and those of the
    evaluation and prediction jobs that used it."""
    from django.db.models import Q

    from .models import Prediction

    made_by_run = Q(job_id=source_id) | Q(job__config__source_job=source_id)
    return Prediction.objects.filter(made_by_run, team=team).values("instance_id")


@runner(JobKind.PREDICT, queue="gpu", label=JobKind.PREDICT.label, permanent=(ConfigError,))
def predict(context: JobContext) -> dict:
    """Probabilities for images the run did not learn from, stored per image."""
    from training import inference
    from training.engine.data import open_dataset

    job = context.job
    source = source_run(job)
    folder = RunFolder.of(job)
    left_out = 0
    if not folder.dataset_meta.exists():
        seen = _seen_patients(source)
        chosen = list(predict_instances(job))
        unseen = [i for i in chosen if i.study.patient_id not in seen]
        left_out = len(chosen) - len(unseen)
        log.info("left out %d images of patients the run trained or validated on", left_out)
        if not unseen:
            raise JobInputError(
                f"no images to predict: {len(chosen)} chosen, {left_out} of them of patients "
                f"job {source.pk} trained or validated on"
            )
        meta = json.loads(RunFolder.of(source).dataset_meta.read_text())
        _export(job, [Entry(i, ()) for i in unseen], meta["label_names"], meta["label_set_hash"])
    trained = _load_source(job, source)
    ds = open_dataset(folder.dataset)
    rows = np.arange(len(ds))
    probs = inference.score(trained, ds, rows, _chunk_reporter(context, "predict"))
    records = inference.prediction_records(ds, rows, probs, trained.class_names, "predict")
    _write_jsonl(folder.predictions, records)
    stored = services.store_predictions(job, records)
    metrics = {"task": trained.task, "class_names": trained.class_names, "count": stored,
               "source_job": source.pk, "left_out_seen_images": left_out}  # fmt: skip
    return {"metrics": metrics, "output_dir": str(folder.root)}
