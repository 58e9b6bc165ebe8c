"""Evaluation metrics of the paper, in plain numpy (no scikit-learn needed on a bare GPU box).

Conventions: `scores` are probabilities (n × L, or 1-D for one label); `targets` are class
indices (n ints) for single-label tasks; `truth` is a boolean multi-hot matrix (n × L) for
multi-label tasks. Undefined values (a label without positives, say) are NaN, never a guess;
`to_jsonable` turns them into None for JSON.

The three contract functions (DESIGN.md) are `image_average_precision`, `top_k_sensitivity`
and `sensitivity_specificity`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den is 0 (an undefined rate, not a zero rate)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


# --- single-label classification ------------------------------------------------------------


def confusion_matrix(pred: Sequence[int], targets: Sequence[int], n_labels: int) -> np.ndarray:
    """Counts with true labels on rows and predicted labels on columns."""
    pred = np.asarray(pred, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    flat = np.bincount(targets * n_labels + pred, minlength=n_labels * n_labels)
    return flat.reshape(n_labels, n_labels)


def sensitivity_specificity(
    pred: Sequence[int], targets: Sequence[int], n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-label sensitivity TP/(TP+FN) and specificity TN/(TN+FP), one label against the rest."""
    cm = confusion_matrix(pred, targets, n_labels)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    return _safe_ratio(tp, tp + fn), _safe_ratio(tn, tn + fp)


def top_k_sensitivity(scores: np.ndarray, targets: Sequence[int], k: int = 3) -> np.ndarray:
    """Per label: share of its images whose true label is among the k highest scores (paper: k=3)."""
    scores = np.asarray(scores, dtype=float)
    targets = np.asarray(targets, dtype=np.int64)
    n_labels = scores.shape[1]
    # Rank of the true label = number of labels scoring strictly higher; ties favour the truth.
    true_scores = scores[np.arange(len(targets)), targets]
    hit = (scores > true_scores[:, None]).sum(axis=1) < k
    hits = np.bincount(targets, weights=hit, minlength=n_labels)
    counts = np.bincount(targets, minlength=n_labels)
    return _safe_ratio(hits, counts)


def accuracy(pred: Sequence[int], targets: Sequence[int]) -> float:
    pred = np.asarray(pred)
    return float(np.mean(pred == np.asarray(targets))) if len(pred) else math.nan


# --- ROC ---------------------------------------------------------------------------------------


def roc_curve(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, ...]:
    """ROC points (fpr, tpr, thresholds) at every distinct score, highest threshold first.

    The same points as scikit-learn's `roc_curve(..., drop_intermediate=False)`: a leading
    (0, 0) point with threshold +inf, then one point per distinct score (predict positive when
    score >= threshold).
    """
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positives[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1] if len(s) else np.array([], int)
    tps = np.cumsum(p)[last_of_run]
    fps = (last_of_run + 1) - tps
    tpr = _safe_ratio(np.r_[0, tps], p.sum())
    fpr = _safe_ratio(np.r_[0, fps], (~p).sum())
    return fpr, tpr, np.r_[np.inf, s[last_of_run]]


def roc_auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids, so tied scores count one half); NaN for one class."""
    positives = np.asarray(positives, dtype=bool)
    if positives.all() or not positives.any():
        return math.nan
    fpr, tpr, _ = roc_curve(scores, positives)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def one_vs_rest(targets: np.ndarray, n_labels: int) -> np.ndarray:
    """Class indices to a boolean n × L matrix; a multi-hot matrix passes through."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        return targets.astype(bool)
    return np.eye(n_labels, dtype=bool)[targets.astype(np.int64)]


def per_label_auc(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """One-vs-rest AUC for every label (targets: class indices or multi-hot)."""
    scores = np.asarray(scores, dtype=float)
    truth = one_vs_rest(targets, scores.shape[1])
    return np.array([roc_auc(scores[:, j], truth[:, j]) for j in range(scores.shape[1])])


def youden_threshold(scores: np.ndarray, positives: np.ndarray) -> float:
    """Threshold maximising sensitivity + specificity - 1 (chosen on validation, applied to test)."""
    positives = np.asarray(positives, dtype=bool)
    if positives.all() or not positives.any():
        return math.nan
    fpr, tpr, thresholds = roc_curve(scores, positives)
    j = tpr - fpr
    j[0] = -np.inf  # the +inf threshold predicts nothing positive: never a useful choice
    return float(thresholds[int(np.argmax(j))])


def bootstrap_auc_ci(
    scores: np.ndarray,
    positives: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the AUC (resamples images with replacement)."""
    scores = np.asarray(scores, dtype=float)
    positives = np.asarray(positives, dtype=bool)
    if positives.all() or not positives.any():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(scores), len(scores))
        auc = roc_auc(scores[idx], positives[idx])
        if not math.isnan(auc):  # a resample holding one class only has no AUC
            aucs.append(auc)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(aucs, [tail, 100 - tail])
    return float(lo), float(hi)


# --- per-image average precision (the paper's task 3) --------------------------------------------


def image_average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """The paper's per-image AP over the ranked label list.

    Labels are ranked by descending score; the i-th true label found at rank r_i contributes
    precision i / r_i, and AP is their mean. Three true labels ranked 1, 2 and 4 give
    (1/1 + 2/2 + 3/4) / 3 = 0.9167. Ties keep label order (stable sort).
    """
    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    if scores.ndim != 1 or scores.shape != truth.shape:
        raise ValueError(f"scores {scores.shape} and truth {truth.shape} must be equal 1-D shapes")
    if not truth.any():
        raise ValueError("truth has no true label: average precision is undefined")
    ranked_truth = truth[np.argsort(-scores, kind="mergesort")]
    ranks = np.flatnonzero(ranked_truth) + 1
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def per_image_average_precision(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """AP of every image (rows); NaN for an image without true labels."""
    truth = np.asarray(truth, dtype=bool)
    return np.array(
        [
            image_average_precision(s, t) if t.any() else math.nan
            for s, t in zip(scores, truth, strict=True)
        ]
    )


def mean_average_precision(scores: np.ndarray, truth: np.ndarray) -> float:
    """Mean of the per-image AP over images with at least one true label (paper: 0.829)."""
    ap = per_image_average_precision(scores, truth)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else math.nan


def cdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF (sorted values, share of values <= each), NaN ignored: the paper's AP plot."""
    v = np.sort(np.asarray(values, dtype=float)[np.isfinite(values)])
    return v, np.arange(1, len(v) + 1) / max(len(v), 1)


# --- bundles written to metrics.json ---------------------------------------------------------------


def per_label(names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {name: float(v) for name, v in zip(names, values, strict=True)}


def binary_report(p_positive: np.ndarray, positives: np.ndarray, threshold: float) -> dict:
    """Task 1: AUC with its bootstrap CI, and the thresholded confusion counts."""
    positives = np.asarray(positives, dtype=bool)
    pred = np.asarray(p_positive) >= threshold
    sens, spec = sensitivity_specificity(pred.astype(int), positives.astype(int), 2)
    return {
        "n": len(positives),
        "auc": roc_auc(p_positive, positives),
        "auc_ci95": list(bootstrap_auc_ci(p_positive, positives)),
        "threshold": threshold,
        "accuracy": accuracy(pred, positives),
        "sensitivity": float(sens[1]),
        "specificity": float(spec[1]),
        "confusion_matrix": confusion_matrix(pred.astype(int), positives.astype(int), 2).tolist(),
    }


def multiclass_report(scores: np.ndarray, targets: np.ndarray, names: Sequence[str]) -> dict:
    """Task 2: arg-max prediction, per-label sensitivity / specificity / top-3, AUC and CI."""
    scores = np.asarray(scores, dtype=float)
    targets = np.asarray(targets, dtype=np.int64)
    pred = scores.argmax(axis=1)
    sens, spec = sensitivity_specificity(pred, targets, len(names))
    truth = one_vs_rest(targets, len(names))
    auc = per_label_auc(scores, targets)
    return {
        "n": len(targets),
        "accuracy": accuracy(pred, targets),
        "macro_auc": float(np.nanmean(auc)) if np.isfinite(auc).any() else math.nan,
        "sensitivity": per_label(names, sens),
        "specificity": per_label(names, spec),
        "top3_sensitivity": per_label(names, top_k_sensitivity(scores, targets, 3)),
        "auc": per_label(names, auc),
        "auc_ci95": {
            n: list(bootstrap_auc_ci(scores[:, j], truth[:, j], n_boot=200))
            for j, n in enumerate(names)
        },
        "confusion_matrix": confusion_matrix(pred, targets, len(names)).tolist(),
    }


def multilabel_report(
    scores: np.ndarray, truth: np.ndarray, names: Sequence[str], thresholds: np.ndarray
) -> dict:
    """Task 3: per-image AP, its CDF and mean; per-label AUC and thresholded sens / spec."""
    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    ap = per_image_average_precision(scores, truth)
    x, f = cdf(ap)
    pred = scores >= np.asarray(thresholds)[None, :]
    tp, fn = (pred & truth).sum(0), (~pred & truth).sum(0)
    tn, fp = (~pred & ~truth).sum(0), (pred & ~truth).sum(0)
    auc = per_label_auc(scores, truth)
    return {
        "n": len(truth),
        "mean_ap": float(np.nanmean(ap)) if np.isfinite(ap).any() else math.nan,
        "ap_cdf": {"ap": x.tolist(), "fraction": f.tolist()},
        "macro_auc": float(np.nanmean(auc)) if np.isfinite(auc).any() else math.nan,
        "auc": per_label(names, auc),
        "thresholds": per_label(names, thresholds),
        "sensitivity": per_label(names, _safe_ratio(tp, tp + fn)),
        "specificity": per_label(names, _safe_ratio(tn, tn + fp)),
    }


def to_jsonable(value: object) -> object:
    """Replace NaN / inf by None and numpy scalars by Python ones, recursively, for JSON."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
