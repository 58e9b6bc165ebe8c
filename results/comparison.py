"""Runs side by side: which runs can be compared, their numbers, and why they may not line up.

Every number is the one the run's own page shows, read from the same metrics block: the binary
task's accuracy, AUC, sensitivity and specificity (scalars), per-label rates and AUCs of the
single-disease and multi-label tasks, and the multiple-diseases block (task 3) of a
single-disease run. A failed, cancelled, queued or running run has no such numbers and is
refused, not shown as a column of dashes. Warnings name the runs and the values that differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from jobs.models import Job, JobStatus
from training.configs import task_label

from . import artifacts, queries, reference

MAX_COMPARED = 6
BINARY = "normal_abnormal"


class CompareError(ValueError):
    """A malformed request (not a run id, too many runs): the message says which."""


def requested_ids(values: Iterable[str]) -> list[int]:
    """The ``runs`` parameters as ids, in order, without repeats."""
    ids = []
    for value in values:
        if not value.strip().isdigit():
            raise CompareError(_("%(value)s is not a run number.") % {"value": repr(value)})
        ids.append(int(value))
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_COMPARED:
        raise CompareError(_("At most %(max)s runs can be compared at once; %(count)s were "
                             "chosen.") % {"max": MAX_COMPARED, "count": len(ids)})  # fmt: skip
    return ids


def refusal(job: Job) -> str | None:
    """Why this run cannot be compared, from its row alone (None: it can): the run list's
    ticks and the compare page agree on it."""
    if job.status == JobStatus.SUCCEEDED:
        if (job.metrics or {}).get("test"):
            return None
        return _("It has no test report: evaluate the run to compare it.")
    reasons = {
        JobStatus.QUEUED: _("It is queued: compare it once it has finished."),
        JobStatus.RUNNING: _("It is still running: compare it once it has finished."),
        JobStatus.FAILED: _("It failed: a failed run has no results to compare."),
        JobStatus.CANCELLED: _("It was cancelled: a cancelled run has no results to compare."),
    }  # fmt: skip
    return reasons.get(job.status, _("It has not finished."))


def candidates(user) -> QuerySet[Job]:
    """The runs the compare page's picker offers: finished, with a test report."""
    return queries.runs(user).filter(status=JobStatus.SUCCEEDED, metrics__has_key="test")[:100]


# --- numbers ---------------------------------------------------------------------------------


@dataclass
class Compared:
    """One compared run: its row, artifacts, and the metrics block its run page reports."""

    job: Job
    run: artifacts.RunArtifacts
    subset: str
    block: dict
    label_set: object | None
    names: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.job.pk)

    @property
    def task(self) -> str:
        return self.run.task

    @property
    def multi(self) -> dict:
        return (self.run.metrics.get("multi_disease") or {}).get("test") or {}


def load(job: Job) -> Compared:
    run = queries.artifacts_for(job)
    subset = artifacts.default_subset(run)
    label_set = queries.label_set_of(job)
    names = queries.display_names(label_set, run.class_names)
    return Compared(job, run, subset, artifacts.report_block(run, subset), label_set, names)


def _number(value) -> float | None:
    """A reported figure; a per-label mapping (or NaN, or nothing) is no single figure."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _per_label(block: dict, metric: str, key: str) -> float | None:
    values = block.get(metric)
    return _number(values.get(key)) if isinstance(values, dict) else None


def _cells(runs: list[Compared], values: list[float | None]) -> list[dict]:
    """One cell per run, with its difference from the first run of the line."""
    base = values[0]
    return [
        {"run": item.id, "value": value,
         "delta": None if i == 0 or value is None or base is None else value - base}
        for i, (item, value) in enumerate(zip(runs, values, strict=True))
    ]  # fmt: skip


# (metric, heading, format): "pct" is a rate shown in percent, "num3" an AUC or AP.
OVERALL = (
    ("accuracy", lambda: _("Accuracy") + " (%)", "pct"),
    ("auc", lambda: _("AUC"), "num3"),
    ("sensitivity", lambda: _("Sensitivity") + " (%)", "pct"),
    ("specificity", lambda: _("Specificity") + " (%)", "pct"),
    ("macro_auc", lambda: _("mean AUC"), "num3"),
    ("mean_ap", lambda: _("Mean AP"), "num3"),
)
PER_LABEL = (
    ("specificity", lambda: _("Specificity") + " (%)", "pct"),
    ("sensitivity", lambda: _("Sensitivity") + " (%)", "pct"),
    ("top3_sensitivity", lambda: _("Top-3 sensitivity") + " (%)", "pct"),
    ("auc", lambda: _("AUC"), "num3"),
)


def overall_rows(runs: list[Compared]) -> list[dict]:
    """The run-wide figures any of the runs reports (scalars only: a binary run's AUC, a
    per-label run's mean AUC), and task 3's mean AP of single-disease runs."""
    rows = []
    for metric, heading, fmt in OVERALL:
        values = [_number(item.block.get(metric)) for item in runs]
        if any(v is not None for v in values):
            rows.append({"metric": metric, "heading": heading(), "format": fmt,
                         "cells": _cells(runs, values)})  # fmt: skip
    multi = [_number(item.multi.get("mean_ap")) for item in runs]
    if any(v is not None for v in multi):
        rows.append({"metric": "multi_mean_ap", "format": "num3", "cells": _cells(runs, multi),
                     "heading": _("Mean AP, images with two or more labels")})  # fmt: skip
    return rows


def label_table(runs: list[Compared], subset: str, title: str,
                block_of: Callable[[Compared], dict]) -> dict | None:  # fmt: skip
    """Per label, each metric's value in every run that reports the subset (None if none)."""
    runs = [item for item in runs if block_of(item)]
    if not runs:
        return None
    keys: list[str] = []
    for item in runs:
        keys += [k for k in item.run.class_names if k not in keys]
    metrics = [
        (metric, heading(), fmt) for metric, heading, fmt in PER_LABEL
        if any(isinstance(block_of(item).get(metric), dict) for item in runs)
    ]  # fmt: skip
    rows = []
    for key in keys:
        cells = [
            {"metric": metric, "format": fmt,
             "values": _cells(runs, [_per_label(block_of(item), metric, key) for item in runs])}
            for metric, _heading, fmt in metrics
        ]  # fmt: skip
        rows.append({"key": key, "name": _name(runs, key), "cells": cells})
    return {"subset": subset, "title": title, "runs": runs, "rows": rows,
            "metrics": [{"metric": m, "heading": h} for m, h, _f in metrics]}  # fmt: skip


def _name(runs: list[Compared], key: str) -> str:
    """The label's name in the first run whose label set knows it."""
    for item in runs:
        if item.names.get(key, key) != key:
            return item.names[key]
    return key


def roc_curves(runs: list[Compared]) -> tuple[dict, list[str]]:
    """Each run's ROC curves of its reported subset, and the labels the picker offers. A binary
    run's curve is its "abnormal" one (its "normal" curve is the same line mirrored)."""
    curves, keys = {}, []
    for item in runs:
        data = artifacts.scored(item.run, item.subset) if item.run.predictions else None
        found = artifacts.roc_curves(data) if data is not None and len(data) else {}
        if item.task == BINARY:
            found = {k: v for k, v in found.items() if k == "abnormal"}
        curves[item.id] = found
        keys += [k for k in item.run.class_names if k in found and k not in keys]
    return curves, keys


def compare_context(runs: list[Compared]) -> dict:
    from .pages import chart_strings  # the run page's chart words, one list for both pages

    per_label = [item for item in runs if item.task != BINARY]
    tables = [
        label_table(per_label, "task", _("Per label"), lambda item: item.block),
        label_table(runs, "multi_disease", _("Multiple diseases (images with two or more labels)"),
                    lambda item: item.multi),
    ]  # fmt: skip
    curves, keys = roc_curves(runs)
    names = {key: _name(runs, key) for key in keys}
    return {
        "runs": runs, "columns": [column(item) for item in runs],
        "overall": overall_rows(runs), "tables": [t for t in tables if t],
        "warnings": warnings(runs), "roc_labels": [(k, names[k]) for k in keys],
        "chart_strings": chart_strings(),
        "charts": {"names": names, "roc": curves,
                   "runs": [{"id": item.id, "name": f"#{item.id} {item.job.name}"}
                            for item in runs]},
    }  # fmt: skip


def column(item: Compared) -> dict:
    """What a run's column heading says: the run, its task, architecture and data."""
    arch = item.run.metrics.get("arch") or item.job.config.get("engine", {}).get("arch", "")
    return {
        "job": item.job, "task": task_label(item.task), "arch": reference.ARCH_NAMES.get(arch, arch),
        "label_set": item.label_set, "n": _count(item.block.get("n")),
        "external": item.subset == "external",
    }  # fmt: skip


# --- warnings ----------------------------------------------------------------------------------


def _by_run(runs: list[Compared], value: Callable[[Compared], object], sep: str = ", ") -> str:
    """ "#1 80/10/10, #2 60/20/20": each run's value, by run number."""
    return sep.join(f"#{item.id} {value(item)}" for item in runs)


def _differ(values: Iterable) -> bool:
    return len({repr(v) for v in values}) > 1


def _label_set_name(item: Compared) -> str:
    if item.label_set is None:
        return _("unknown label set")
    return _("label set v%(version)s") % {"version": item.label_set.version}


def warnings(runs: list[Compared]) -> list[str]:
    """Why these runs' numbers may not line up, each naming the runs and their values; runs of
    one task on one label set with one split get none."""
    found = []
    same_task = not _differ(item.task for item in runs)
    if not same_task:
        found.append(_("These runs are of different tasks (%(runs)s): their numbers measure "
                       "different things on different test images.")
                     % {"runs": _by_run(runs, lambda item: task_label(item.task))})  # fmt: skip
    same_data = not _differ(
        (item.label_set.pk if item.label_set else None, item.run.metrics.get("label_set_hash"))
        for item in runs
    )
    if not same_data:
        found.append(_("These runs used different label sets (%(runs)s): their test images and "
                       "labels differ.") % {"runs": _by_run(runs, _label_set_name)})  # fmt: skip
    lacking = _lacking_labels(runs)
    if lacking:
        found.append(_("These runs have different labels (%(runs)s); a label a run lacks shows "
                       "— in its column.") % {"runs": lacking})  # fmt: skip
    split = _split_differences(runs, compare_counts=same_task and same_data)
    if split:
        found.append(_("These runs split their data differently (%(details)s): they were tested "
                       "on different images.") % {"details": "; ".join(split)})  # fmt: skip
    return found


def _lacking_labels(runs: list[Compared]) -> str:
    """ "#2 lacks emphysema, bronchitis": per-label runs without some label another one has
    (a binary run's two classes are no labels)."""
    labelled = [item for item in runs if item.task != BINARY]
    every = list(dict.fromkeys(k for item in labelled for k in item.run.class_names))

    def lacks(item: Compared) -> str:
        missing = [_name(runs, k) for k in every if k not in item.run.class_names]
        return _("lacks %(labels)s") % {"labels": ", ".join(missing)}

    short = [item for item in labelled if set(every) - set(item.run.class_names)]
    return _by_run(short, lacks, sep="; ")


def _fractions(item: Compared) -> str | None:
    shares = item.run.config.get("split_fractions")
    if not isinstance(shares, list):
        return None
    return "/".join(f"{share * 100:g}" for share in shares)


def _split_differences(runs: list[Compared], compare_counts: bool) -> list[str]:
    """The split settings (and, for one task on one label set, the test counts) that differ
    among the runs that record them: "split fractions: #1 80/10/10, #2 60/20/20"."""
    settings = [
        (_("split fractions"), _fractions),
        (_("seed"), lambda item: item.run.config.get("seed")),
        (_("minimum per label in validation and test"),
         lambda item: item.run.config.get("min_per_label_eval")),
    ]  # fmt: skip
    if compare_counts:
        settings.append((_("test images"), lambda item: _count(item.block.get("n"))))
    details = []
    for heading, value in settings:
        known = [item for item in runs if value(item) is not None]
        if _differ(value(item) for item in known):
            details.append(_("%(setting)s: %(runs)s") % {"setting": heading,
                                                          "runs": _by_run(known, value)})  # fmt: skip
    return details


def _count(value) -> int | None:
    number = _number(value)
    return None if number is None else int(number)
