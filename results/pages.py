"""What each results page shows, computed from a run's artifacts (views only render these).

A run page is Table II of the paper for the run's task (plus AUC with its CI, support, PPV and a
reference column), its confusion matrix, ROC curves, AP CDF and training curves. Every number
comes from the engine's metrics.json; support and PPV are counted from the same predictions the
engine scored. Galleries list the cases behind a number; comparisons are compare.py's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.core.paginator import Paginator
from django.utils.translation import gettext as _

from jobs.models import Job
from training.display import validation_series

from . import artifacts, queries, reference

GALLERY_PAGE = 48


@dataclass
class LabelRow:
    """One label's line of the run table (rates in 0..1, None when undefined)."""

    key: str
    name: str
    specificity: float | None
    sensitivity: float | None
    top3: float | None
    auc: float | None
    ci: tuple[float | None, float | None] | None
    support: int | None
    ppv: float | None
    paper: list = field(default_factory=list)
    benchmarks: tuple = ()


def _value(block: dict, metric: str, key: str) -> float | None:
    values = block.get(metric)
    value = values.get(key) if isinstance(values, dict) else None  # task 1 has scalars only
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def label_rows(block: dict, data: artifacts.Scored | None, names: dict, arch: str,
               keys: list[str]) -> list[LabelRow]:  # fmt: skip
    """Table II rows from a metrics block; support and PPV from the scored predictions."""
    support, ppv = artifacts.support_and_ppv(data) if data is not None and len(data) else ({}, {})
    rows = []
    for key in keys:
        ci = _value(block, "auc_ci95", key)
        rows.append(LabelRow(
            key, names.get(key, key), _value(block, "specificity", key),
            _value(block, "sensitivity", key), _value(block, "top3_sensitivity", key),
            _value(block, "auc", key), tuple(ci) if ci else None, support.get(key),
            ppv.get(key), reference.paper_rows(key, arch), reference.benchmarks(key),
        ))  # fmt: skip
    return rows


def _scored(run: artifacts.RunArtifacts, subset: str) -> artifacts.Scored | None:
    if not run.predictions:
        return None
    data = artifacts.scored(run, subset)
    return data if len(data) else None


def confusion(block: dict, keys: list[str], names: dict) -> dict | None:
    matrix = block.get("confusion_matrix")
    if not matrix or len(matrix) != len(keys):
        return None
    rows = [
        {"key": key, "name": names.get(key, key),
         "cells": [{"count": count, "pred": keys[j]} for j, count in enumerate(row)],
         "total": sum(row)}
        for key, row in zip(keys, matrix, strict=True)
    ]  # fmt: skip
    return {"rows": rows, "columns": [names.get(k, k) for k in keys], "keys": keys,
            "matrix": matrix}  # fmt: skip


def chart_strings() -> dict:
    """Axis, series and control words of the charts, in the active language."""
    return {
        "fpr": _("false positive rate"), "tpr": _("true positive rate"),
        "threshold": _("threshold"), "chance": _("chance"), "true": _("true label"),
        "predicted": _("predicted"), "count": _("images"), "ap": _("average precision"),
        "fraction": _("share of images"), "loss": _("training loss"), "val": _("validation"),
        "epoch": _("epoch"), "step": _("step"), "own": _("the run's own"),
        "series": validation_series(),
    }  # fmt: skip


def run_context(job: Job) -> dict:
    """Everything the run page shows; parts whose artifacts are missing are None."""
    run = queries.artifacts_for(job)
    label_set = queries.label_set_of(job)
    keys = run.class_names
    names = queries.display_names(label_set, keys)
    arch = run.metrics.get("arch") or job.config.get("engine", {}).get("arch", "")
    subset = artifacts.default_subset(run)
    block = artifacts.report_block(run, subset)
    data = _scored(run, subset)
    per_label = bool(block) and run.task != "normal_abnormal"
    context = {
        "job": job, "run": run, "task": run.task, "names": names, "arch": arch,
        "arch_name": reference.ARCH_NAMES.get(arch, arch), "subset": subset, "test": block,
        "label_set": label_set, "has_predictions": data is not None,
        "rows": label_rows(block, data, names, arch, keys) if per_label else [],
        "confusion": confusion(block, keys, names) if block else None,
        "paper_binary": reference.PAPER_BINARY, "paper_mean_ap": reference.PAPER_MEAN_AP,
        "multi": None,
    }  # fmt: skip
    charts = {"names": names, "roc": {}, "confusion": None, "apCdf": None, "threshold": None,
              "history": _history(job, run)}  # fmt: skip
    if data is not None:
        charts["roc"] = artifacts.roc_curves(data)
        if run.task in ("normal_abnormal", "multi_label"):
            charts["threshold"] = artifacts.threshold_data(data)
    if context["confusion"]:
        charts["confusion"] = {"keys": keys, "matrix": context["confusion"]["matrix"]}
    if run.task == "multi_label" and block.get("ap_cdf"):
        charts["apCdf"] = block["ap_cdf"]
    multi = (run.metrics.get("multi_disease") or {}).get("test")
    if multi:
        multi_data = _scored(run, "multi_disease")
        context["multi"] = {"block": multi, "rows": label_rows(multi, multi_data, names, arch, keys),
                            "has_predictions": multi_data is not None}  # fmt: skip
        charts["apCdf"] = multi.get("ap_cdf")
        if multi_data is not None:
            charts["threshold"] = artifacts.threshold_data(multi_data)
    context["charts"] = charts
    context["chart_strings"] = chart_strings()
    return context


def _history(job: Job, run: artifacts.RunArtifacts) -> list[dict]:
    """Per-epoch curves from metrics.json; while a job runs, the row's progress points."""
    if run.metrics.get("history"):
        return run.metrics["history"]
    return [
        {"step": point.get("step"), "epoch": point.get("epoch"), "train_loss": point.get("loss"),
         **{f"val_{k}": v for k, v in (point.get("val") or {}).items()}}
        for point in job.history
    ]  # fmt: skip


def model_card(job: Job) -> dict:
    """The run's model card (training.modelcard) from its artifacts, for any run: a failed or
    unfinished one gets a card that says what is missing instead of an error."""
    from training.modelcard import run_card

    run = queries.artifacts_for(job)
    # metrics.json first; the row adds what the worker counted (the patient-level split).
    metrics = {**(job.metrics or {}), **run.metrics}
    label_set = queries.label_set_of(job)
    missing = []
    if job.status != "succeeded":
        missing.append(_("The job has not succeeded (%(status)s).")
                       % {"status": job.get_status_display()})  # fmt: skip
    missing += [_("%(file)s is missing from the run folder.") % {"file": name}
                for name in run.missing]  # fmt: skip
    missing += run.problems
    if not metrics.get("test"):
        missing.append(_("No test metrics."))
    if label_set is None:
        missing.append(_("No label set: the data snapshot is unknown."))
    return run_card(job, metrics, label_set, missing)


# --- galleries -------------------------------------------------------------------------------------


def case_query(params) -> artifacts.CaseQuery:
    """A gallery's query from GET parameters; a malformed threshold is a CaseQueryError."""
    raw = params.get("threshold", "")
    try:
        threshold = float(raw) if raw != "" else None
    except ValueError:
        raise artifacts.CaseQueryError(f"threshold: {raw!r} is not a number") from None
    if threshold is not None and math.isnan(threshold):
        raise artifacts.CaseQueryError("threshold: NaN is not a threshold")
    return artifacts.CaseQuery(
        true=params.get("true", ""), pred=params.get("pred", ""),
        label=params.get("label", ""), outcome=params.get("outcome", ""), threshold=threshold,
    )  # fmt: skip


def gallery_context(job: Job, params) -> dict:
    """The cases behind one number, a page of them with their images (one query)."""
    run = queries.artifacts_for(job)
    subset = params.get("subset") or artifacts.default_subset(run)
    names = queries.display_names(queries.label_set_of(job), run.class_names)
    query = case_query(params)
    if not run.predictions:
        return {"job": job, "run": run, "names": names, "query": query, "subset": subset,
                "page": None, "cases": [], "counts": None, "total": 0}  # fmt: skip
    data = artifacts.scored(run, subset)
    cases = artifacts.select_cases(data, query)
    page = Paginator(cases, GALLERY_PAGE).get_page(params.get("page"))
    images = queries.instances_by_uid(job.team, (case.image_id for case in page.object_list))
    shown = [_shown_case(case, images.get(case.image_id), names) for case in page.object_list]
    counts = None
    if query.label:
        counts = artifacts.outcome_counts(data, query.label, query.threshold)
    return {"job": job, "run": run, "names": names, "query": query, "subset": subset,
            "page": page, "cases": shown, "counts": counts, "total": len(cases)}  # fmt: skip


def _shown_case(case: artifacts.Case, instance, names: dict) -> dict:
    return {
        "image_id": case.image_id, "instance": instance, "confidence": case.confidence,
        "labels": [names.get(k, k) for k in case.labels],
        "probabilities": [
            {"name": names.get(k, k), "p": p, "top": i < 3, "true": k in case.labels}
            for i, (k, p) in enumerate(case.probabilities)
        ],
    }  # fmt: skip


# --- review queue ---------------------------------------------------------------------------------


REVIEW_LIMIT = 200  # disagreements listed, and sent to the review queue at once


def _confident(run: artifacts.RunArtifacts, confidence: float) -> tuple[list[dict], bool]:
    """The strongest disagreements of a run's main subset, and whether it has predictions."""
    data = _scored(run, artifacts.default_subset(run))
    if data is None:
        return [], False
    return artifacts.disagreements(data, confidence)[:REVIEW_LIMIT], True


def disagreements_to_review(job: Job, confidence: float,
                            chosen: set[tuple[str, str]] | None = None) -> list:  # fmt: skip
    """The listed disagreements (or the ``chosen`` (image, label) pairs among them) as the
    curation review queue takes them; recomputed here, never read back from the browser."""
    from curation.services import Disagreement

    found, _has = _confident(queries.artifacts_for(job), confidence)
    return [
        Disagreement(item["image_id"], item["label"], item["kind"], item["score"],
                     tuple(item["labels"]))
        for item in found
        if chosen is None or (item["image_id"], item["label"]) in chosen
    ]  # fmt: skip


def disagreement_context(job: Job, confidence: float) -> dict:
    """Test images where the run confidently contradicts the report-derived labels."""
    run = queries.artifacts_for(job)
    names = queries.display_names(queries.label_set_of(job), run.class_names)
    found, has_predictions = _confident(run, confidence)
    images = queries.instances_by_uid(job.team, {item["image_id"] for item in found})
    reviews = _reviews(job.team, [i.pk for i in images.values()])
    for item in found:
        item["instance"] = images.get(item["image_id"])
        item["name"] = names.get(item["label"], item["label"])
        item["true_names"] = [names.get(k, k) for k in item["labels"]]
        item["review"] = reviews.get(item["instance"].pk) if item["instance"] else None
    return {"job": job, "run": run, "items": found, "confidence": confidence,
            "has_predictions": has_predictions}  # fmt: skip


def _reviews(team, instance_ids: list[int]) -> dict:
    from curation.models import ImageReview

    rows = ImageReview.objects.of_team(team).filter(instance_id__in=instance_ids)
    return {row.instance_id: row for row in rows}
