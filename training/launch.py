"""Launching a job: the one way the launch forms, ``POST /api/jobs/`` and the ``train`` /
``evaluate`` commands start training, evaluation and prediction.

``launch_job`` parses the config into its kind's typed config (unless the caller's serializer
already has), checks what it refers to in the team, and queues the job through the jobs layer.
Field problems raise ``InvalidConfig`` (a 400, or the field's error on a form); a reference to
something the team does not have raises ``MissingInput`` (a 404: another team's objects are
never confirmed to exist).

``split_counts`` tells the launch form, before anything is queued, how many images of each
label a training job's train / val / test splits will hold for its task: the engine's own split
(training/engine/splits.py, numpy only: the web never imports torch) on the images the job
would export. The form refuses a job with a label below the paper's minimum, naming it and its
count (``shortfall_message``), or leaves such labels out (the engine's ``labels`` setting).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from jobs import services as job_services
from jobs.models import Job

from .configs import JOB_CONFIGS, InvalidConfig, JobConfig
from .engine import splits
from .engine.config import Config as EngineConfig
from .serializers import parse_config
from .services import MissingInput, check_job_inputs

__all__ = ["InvalidConfig", "MissingInput", "SplitCounts", "launch_job", "split_counts"]


def launch_job(team, user, kind: str, data: Mapping | JobConfig, *, name: str = "",
               queue: str = "") -> Job:  # fmt: skip
    """Queue a job of ``kind`` for ``team`` with the config ``data`` (raw, or parsed already)."""
    if kind not in JOB_CONFIGS:
        raise InvalidConfig({"kind": [f"{kind!r} is not one of {sorted(JOB_CONFIGS)}"]})
    config = data if type(data) is JOB_CONFIGS[kind] else parse_config(kind, data)
    stored = config.stored()
    problems = check_job_inputs(team, kind, stored)  # raises MissingInput
    if problems:  # e.g. a run that did not succeed, a label set with other labels
        raise InvalidConfig({field: [message] for field, message in problems.items()})
    return job_services.create_job(team, user, kind, stored, name=name, queue=queue)


# --- what a training job's split will hold, before it is queued ------------------------------------


@dataclass(frozen=True)
class SplitCounts:
    """One task's classes with their train / val / test counts on a label set, computed with the
    engine's own split (training/engine/splits.py), so they are the counts the run gets."""

    task: str
    rows: list[tuple[str, str, list[int]]]  # (key, name in the UI's language, [train, val, test])
    minimum: int
    kept: list[str]  # label keys the run trains on
    left_out: list[str]  # label names
    short: list[splits.Shortfall]


def _label_set_arrays(team, label_set_id: int) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """(label keys, patient ids, N × L labels, names by key) of the images a job would export:
    not an unreviewed conflict, not quarantined, decoded into the cache (training/export.py)."""
    from curation.models import LabelSet, LabelSetImage

    label_set = LabelSet.objects.filter(team=team, pk=label_set_id).first()
    if label_set is None:
        raise MissingInput(f"label set {label_set_id} does not exist in this team")
    keys = [label["key"] for label in label_set.labels]
    chinese = (get_language() or "").startswith("zh")
    names = {lb["key"]: lb.get("zh" if chinese else "en") or lb["key"] for lb in label_set.labels}
    rows = (
        LabelSetImage.objects.filter(label_set=label_set, conflict=False, instance__isnull=False)
        .filter(instance__quarantined=False, instance__cache_row__isnull=False)
        .values_list("instance__study__patient_id", "labels")
    )
    column = {key: j for j, key in enumerate(keys)}
    patients, matrix = [], np.zeros((len(rows), len(keys)), dtype=bool)
    for i, (patient, labels) in enumerate(rows):
        patients.append(patient)
        matrix[i, [column[key] for key in labels if key in column]] = True
    return keys, np.array(patients, dtype=str), matrix, names


def _engine_value(engine: Mapping, name: str):
    return engine.get(name, getattr(EngineConfig(), name))


def split_counts(team, label_set_id: int, task: str, engine: Mapping | None = None, *,
                 leave_out_short: bool = False) -> SplitCounts:  # fmt: skip
    """The task's per-class counts on a label set, with the engine fields (``labels``, seed,
    split fractions, minimum) a job would use; ``leave_out_short`` first leaves out the labels
    below the minimum, as the launch form offers."""
    engine = engine or {}
    keys, patients, matrix, names = _label_set_arrays(team, label_set_id)
    options = {
        "fractions": _engine_value(engine, "split_fractions"),
        "seed": _engine_value(engine, "seed"),
        "minimum": _engine_value(engine, "min_per_label_eval"),
    }
    if not len(patients):
        planned = None
    elif leave_out_short:
        planned = splits.plan_leaving_out_short(task, patients, matrix, keys, **options)
    else:
        keep = _engine_value(engine, "labels")
        planned = splits.plan(task, patients, matrix, keys, keep=keep, **options)
    if planned is None:
        return SplitCounts(task, [], options["minimum"], keys, [], [])
    task_names = {"normal": _("normal"), "abnormal": _("abnormal")}
    rows = [
        (key, str(task_names[key]) if task == "normal_abnormal" else names.get(key, key),
         [int(n) for n in planned.counts[j]])
        for j, key in enumerate(planned.classes.class_names)
    ]  # fmt: skip
    return SplitCounts(task, rows, options["minimum"], planned.kept,
                       [names.get(key, key) for key in planned.left_out], planned.short)  # fmt: skip


def shortfall_message(counts: SplitCounts) -> str:
    """One sentence naming the first class below the minimum, with its count; "" when none."""
    if not counts.short:
        return ""
    short = counts.short[0]
    name = dict((key, name) for key, name, _c in counts.rows).get(short.label, short.label)
    split = {"train": pgettext("split", "training"), "val": pgettext("split", "validation"),
             "test": pgettext("split", "test")}[short.split]  # fmt: skip
    return _(
        "“%(label)s” has %(count)d images in the %(split)s split of this task, fewer than the "
        "%(minimum)d it needs: leave out the labels below the minimum, or curate more images."
    ) % {"label": name, "count": short.count, "split": split, "minimum": short.minimum}
