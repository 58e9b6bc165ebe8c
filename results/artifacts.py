"""A run's engine outputs read back for the dashboard: metrics, predictions, config, cases.

Pure: numpy and the engine's metric functions, never Django, so the same reading serves the
run page, the case gallery, the exports and the benchmark. The engine writes into a job's
``RunFolder`` (training/runs.py): ``metrics.json`` (per-split reports), ``predictions.jsonl`` (one
line per scored image: image_id, split, subset, probabilities, true labels) and ``config.json``.
A crashed job leaves some of them out or half-written; ``load_run`` says which instead of failing.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.engine import metrics as engine_metrics
from training.runs import RunFolder

_NAMED = RunFolder(Path())
ARTIFACTS = tuple(path.name for path in (_NAMED.metrics, _NAMED.predictions, _NAMED.config))
OUTCOMES = ("tp", "fp", "fn", "tn")
ROC_POINTS = 400  # per curve on the page: enough to hover every visible threshold


class CaseQueryError(ValueError):
    """A gallery request that names a label, class, outcome or threshold the run does not have."""


@dataclass
class RunArtifacts:
    """What one run folder holds; ``missing`` / ``problems`` say what could not be read."""

    folder: Path | None
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    predictions: list[dict] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def task(self) -> str:
        return self.metrics.get("task") or self.config.get("task") or ""

    @property
    def class_names(self) -> list[str]:
        return list(self.metrics.get("class_names") or [])

    def subsets(self) -> set[str]:
        return {record.get("subset", "") for record in self.predictions}


def load_run(folder: RunFolder | None, fallback_metrics: dict | None = None) -> RunArtifacts:
    """Read a job's engine outputs; a missing or unreadable file is recorded, never raised.

    ``fallback_metrics`` (the job row's copy) stands in for a lost metrics.json.
    """
    run = RunArtifacts(folder.run if folder else None)
    if folder is None or not folder.run.is_dir():
        run.missing = list(ARTIFACTS)
    else:
        run.metrics = _read_json(folder.metrics, run)
        run.config = _read_json(folder.config, run)
        path = folder.predictions
        if path.is_file():
            stat = path.stat()
            records, bad = _read_predictions(str(path), stat.st_mtime_ns, stat.st_size)
            run.predictions = records
            if bad:
                run.problems.append(f"{path.name}: {bad} unreadable line(s) skipped")
        else:
            run.missing.append(path.name)
    if not run.metrics and fallback_metrics:
        run.metrics = dict(fallback_metrics)
    return run


def _read_json(path: Path, run: RunArtifacts) -> dict:
    if not path.is_file():
        run.missing.append(path.name)
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        run.problems.append(f"{path.name}: unreadable ({exc.__class__.__name__})")
        return {}
    if not isinstance(data, dict):
        run.problems.append(f"{path.name}: not a JSON object")
        return {}
    return data


@functools.lru_cache(maxsize=16)
def _read_predictions(path: str, mtime_ns: int, size: int) -> tuple[list[dict], int]:
    """Parsed once per file version (mtime and size in the key): pages of one run reuse it."""
    records, bad = [], 0
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1  # a job killed mid-write leaves a torn last line
                continue
            if isinstance(record, dict) and isinstance(record.get("probabilities"), dict):
                records.append(record)
            else:
                bad += 1
    return records, bad


# --- scored subsets ------------------------------------------------------------------------------


@dataclass
class Scored:
    """One subset of a run's predictions as arrays, with the decisions the run made on it.

    ``truth`` and ``decided`` are n × L booleans over ``names`` (one-vs-rest for single-label
    tasks); ``target`` / ``predicted`` are class indices for single-label tasks, else None.
    """

    task: str
    names: list[str]
    image_ids: list[str]
    labels: list[list[str]]  # true label keys as the label set has them
    scores: np.ndarray
    truth: np.ndarray
    decided: np.ndarray
    thresholds: np.ndarray | None
    target: np.ndarray | None = None
    predicted: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def single_label(self) -> bool:
        return self.target is not None


def default_subset(run: RunArtifacts) -> str:
    """The subset a run's own test report was computed on."""
    subsets = run.subsets()
    return "task" if "task" in subsets or not subsets else sorted(subsets)[0]


def report_block(run: RunArtifacts, subset: str) -> dict:
    """The metrics block the engine wrote for a subset's test split."""
    if subset == "multi_disease":
        return (run.metrics.get("multi_disease") or {}).get("test") or {}
    return run.metrics.get("test") or {}


def scored(run: RunArtifacts, subset: str = "", split: str = "test") -> Scored:
    """The subset's test predictions, with truth and decisions as the engine made them."""
    subset = subset or default_subset(run)
    names = run.class_names or _names_from(run.predictions)
    rows = [r for r in run.predictions if r.get("subset") == subset and r.get("split") == split]
    scores = np.array(
        [[float(r["probabilities"].get(n, math.nan)) for n in names] for r in rows], dtype=float
    ).reshape(len(rows), len(names))
    labels = [list(r.get("labels") or []) for r in rows]
    block = report_block(run, subset)
    task = "multi_disease" if subset == "multi_disease" else run.task
    if task == "normal_abnormal":
        return _binary(names, rows, labels, scores, block)
    if task == "single_disease":
        return _single(names, rows, labels, scores)
    return _multi(task, names, rows, labels, scores, block)


def _names_from(records: list[dict]) -> list[str]:
    return list(records[0]["probabilities"]) if records else []


def _ids(rows: list[dict]) -> list[str]:
    return [str(r.get("image_id", "")) for r in rows]


def _binary(names, rows, labels, scores, block) -> Scored:
    """Task 1: abnormal unless "normal" is the only label; abnormal when p >= the threshold."""
    target = np.array([0 if lab == ["normal"] else 1 for lab in labels], dtype=np.int64)
    threshold = float(block.get("threshold") or 0.5)
    predicted = (scores[:, 1] >= threshold).astype(np.int64) if len(rows) else target[:0]
    eye = np.eye(2, dtype=bool)
    return Scored("normal_abnormal", names, _ids(rows), labels, scores, eye[target],
                  eye[predicted], np.array([1 - threshold, threshold]), target, predicted)  # fmt: skip


def _single(names, rows, labels, scores) -> Scored:
    """Task 2: the one true label against the arg-max class."""
    index = {n: i for i, n in enumerate(names)}
    target = np.array([index.get(lab[0], -1) if lab else -1 for lab in labels], dtype=np.int64)
    keep = target >= 0
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    labels = [lab for lab, k in zip(labels, keep, strict=True) if k]
    scores, target = scores[keep], target[keep]
    predicted = scores.argmax(axis=1) if len(rows) else target
    eye = np.eye(len(names), dtype=bool)
    return Scored("single_disease", names, _ids(rows), labels, scores, eye[target],
                  eye[predicted], None, target, predicted)  # fmt: skip


def _multi(task, names, rows, labels, scores, block) -> Scored:
    """Task 3 and multi-label runs: every label thresholded on its own."""
    truth = np.array([[n in lab for n in names] for lab in labels], dtype=bool).reshape(
        len(rows), len(names)
    )
    chosen = block.get("thresholds") or {}
    thresholds = np.array([float(chosen.get(n) or 0.5) for n in names])
    return Scored(task, names, _ids(rows), labels, scores, truth, scores >= thresholds,
                  thresholds)  # fmt: skip


# --- cases behind a number ---------------------------------------------------------------------


@dataclass(frozen=True)
class CaseQuery:
    """Which cases a gallery shows: a confusion cell (true, pred), or one label's outcome
    (tp / fp / fn / tn), optionally at another threshold than the run's (a ROC point)."""

    true: str = ""
    pred: str = ""
    label: str = ""
    outcome: str = ""
    threshold: float | None = None


@dataclass
class Case:
    image_id: str
    labels: list[str]
    probabilities: list[tuple[str, float]]  # most probable first
    confidence: float  # the probability the gallery is sorted by


def select_cases(data: Scored, query: CaseQuery) -> list[Case]:
    """The cases behind one number, most confident first."""
    if query.true or query.pred:
        mask, key = _confusion_cell(data, query)
        descending = True
    else:
        mask, key = _label_outcome(data, query)
        descending = query.outcome in ("tp", "fp")
    rows = np.flatnonzero(mask)
    confidence = data.scores[rows, key] if len(rows) else np.zeros(0)
    order = np.argsort(-confidence if descending else confidence, kind="mergesort")
    return [_case(data, int(rows[i]), float(confidence[i])) for i in order]


def outcome_counts(data: Scored, label: str, threshold: float | None = None) -> dict[str, int]:
    """TP / FP / FN / TN counts of one label (the tabs of a label's gallery)."""
    return {
        outcome: int(
            _label_outcome(data, CaseQuery(label=label, outcome=outcome, threshold=threshold))[
                0
            ].sum()
        )  # fmt: skip
        for outcome in OUTCOMES
    }


def _confusion_cell(data: Scored, query: CaseQuery) -> tuple[np.ndarray, int]:
    if not data.single_label:
        raise CaseQueryError("true/pred: this subset has no confusion matrix (several labels)")
    true, pred = _index(data, query.true, "true"), _index(data, query.pred, "pred")
    return (data.target == true) & (data.predicted == pred), pred


def _label_outcome(data: Scored, query: CaseQuery) -> tuple[np.ndarray, int]:
    j = _index(data, query.label, "label")
    if query.outcome not in OUTCOMES:
        raise CaseQueryError(f"outcome: {query.outcome!r} is not one of {OUTCOMES}")
    decided = data.decided[:, j]
    if query.threshold is not None:
        if not 0 <= query.threshold <= 1:
            raise CaseQueryError(f"threshold: {query.threshold} is not between 0 and 1")
        decided = data.scores[:, j] >= query.threshold
    truth = data.truth[:, j]
    mask = {"tp": truth & decided, "fp": ~truth & decided, "fn": truth & ~decided,
            "tn": ~truth & ~decided}[query.outcome]  # fmt: skip
    return mask, j


def _index(data: Scored, name: str, field_name: str) -> int:
    if name not in data.names:
        raise CaseQueryError(f"{field_name}: {name!r} is not one of the run's classes")
    return data.names.index(name)


def _case(data: Scored, row: int, confidence: float) -> Case:
    ranked = sorted(zip(data.names, data.scores[row].tolist(), strict=True),
                    key=lambda item: -item[1])  # fmt: skip
    return Case(data.image_ids[row], data.labels[row], ranked, confidence)


# --- numbers and curves for the page -------------------------------------------------------------


def support_and_ppv(data: Scored) -> tuple[dict[str, int], dict[str, float | None]]:
    """Per label: test images holding it, and the share of its positive calls that are right."""
    tp = (data.truth & data.decided).sum(axis=0)
    called = data.decided.sum(axis=0)
    support = data.truth.sum(axis=0)
    return (
        {n: int(s) for n, s in zip(data.names, support, strict=True)},
        {n: (float(t / c) if c else None) for n, t, c in zip(data.names, tp, called, strict=True)},
    )


def roc_curves(data: Scored) -> dict[str, dict]:
    """One-vs-rest ROC points per label (thinned for the page), each with its threshold."""
    curves = {}
    for j, name in enumerate(data.names):
        truth = data.truth[:, j]
        if not len(truth) or truth.all() or not truth.any():
            continue
        fpr, tpr, thr = engine_metrics.roc_curve(data.scores[:, j], truth)
        keep = _thin(len(fpr), ROC_POINTS)
        curves[name] = {
            "fpr": np.round(fpr[keep], 4).tolist(),
            "tpr": np.round(tpr[keep], 4).tolist(),
            # +inf (nothing called positive) is shown as 1: no probability reaches above it
            "threshold": np.round(np.minimum(thr[keep], 1.0), 4).tolist(),
        }
    return curves


def _thin(count: int, limit: int) -> np.ndarray:
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def threshold_data(data: Scored) -> dict:
    """Scores and truth for the live threshold control (the browser recounts sens / spec)."""
    return {
        "names": data.names,
        "scores": np.round(data.scores, 4).tolist(),
        "truth": data.truth.astype(int).tolist(),
        "thresholds": None if data.thresholds is None else np.round(data.thresholds, 4).tolist(),
    }


def disagreements(data: Scored, confidence: float = 0.8) -> list[dict]:
    """Images where the run confidently contradicts the report-derived label: a present label
    scored at most 1 - confidence, or an absent one scored at least confidence."""
    found = []
    for row in range(len(data)):
        for j, name in enumerate(data.names):
            score, present = float(data.scores[row, j]), bool(data.truth[row, j])
            if present and score <= 1 - confidence:
                found.append(_disagreement(data, row, name, "missed", 1 - score))
            elif not present and score >= confidence:
                found.append(_disagreement(data, row, name, "unreported", score))
    return sorted(found, key=lambda item: -item["strength"])


def _disagreement(data: Scored, row: int, label: str, kind: str, strength: float) -> dict:
    return {"image_id": data.image_ids[row], "label": label, "kind": kind,
            "strength": strength, "score": float(data.scores[row, data.names.index(label)]),
            "labels": data.labels[row]}  # fmt: skip
