"""The paper's three tasks as data: which images, which targets, which loss, which report.

- normal_abnormal (task 1): every image; normal when "normal" is its only label, else abnormal.
- single_disease (task 2): images with exactly one label; softmax over the whole label set. Its
  model also runs the paper's task 3: images with two or more labels are scored, labels ranked
  by probability, thresholded (`multi_disease` in the reports).
- multi_label (beyond the paper): every image, one sigmoid output per label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import metrics
from .config import ConfigError
from .data import SPLIT_NAMES, Dataset
from .splits import task_classes


@dataclass
class Task:
    name: str
    class_names: list[str]
    members: np.ndarray  # N bool: images this task trains and evaluates on
    targets: np.ndarray  # N ints (class index), or N × K multi-hot for multi_label
    majority: int | None  # class the paper undersamples (normal), if any

    @property
    def multi_label(self) -> bool:
        return self.targets.ndim == 2

    @property
    def activation(self) -> str:
        return "sigmoid" if self.multi_label else "softmax"

    @property
    def primary_metric(self) -> str:
        """Validation metric for best-checkpoint choice and early stopping (higher is better)."""
        return {"normal_abnormal": "auc", "single_disease": "macro_auc"}.get(self.name, "mean_ap")

    def target_tensor(self, device: torch.device) -> torch.Tensor:
        if self.multi_label:
            return torch.as_tensor(self.targets, dtype=torch.float32, device=device)
        return torch.as_tensor(self.targets, dtype=torch.long, device=device)

    def loss(self, class_weights: np.ndarray | None, device: torch.device) -> nn.Module:
        if self.multi_label:
            pos_weight = (
                None if class_weights is None else torch.tensor(class_weights, device=device)
            )
            return nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        weight = None if class_weights is None else torch.tensor(class_weights, device=device)
        return nn.CrossEntropyLoss(weight=weight.float() if weight is not None else None)


def make_task(name: str, ds: Dataset) -> Task:
    """The task's images and classes, from splits.task_classes (shared with the web's counts)."""
    try:
        classes = task_classes(name, ds.labels, ds.label_names, ds.normal_label)
    except ValueError as exc:
        raise ConfigError(f"task: {exc}") from None
    return Task(classes.name, classes.class_names, classes.members, classes.targets,
                classes.majority)  # fmt: skip


def check_coverage(task: Task, split: np.ndarray, fractions: list[float]) -> None:
    """Every class must have examples in every split the run needs: fail before training."""
    for code, split_name in enumerate(SPLIT_NAMES):
        if fractions[code] == 0:
            continue
        rows = task.members & (split == code)
        if task.multi_label:
            present = task.targets[rows].any(axis=0)
        else:
            present = np.bincount(task.targets[rows], minlength=len(task.class_names)) > 0
        missing = [n for n, ok in zip(task.class_names, present, strict=True) if not ok]
        if missing:
            raise ConfigError(f"label {missing[0]!r} has no examples in the {split_name} split "
                              f"of task {task.name}")  # fmt: skip


def class_weight_vector(task: Task, train_rows: np.ndarray) -> np.ndarray:
    """Inverse-frequency class weights (softmax tasks) or negatives/positives (sigmoid)."""
    if task.multi_label:
        pos = task.targets[train_rows].sum(axis=0).astype(float)
        return np.where(pos > 0, (len(train_rows) - pos) / np.maximum(pos, 1), 1.0)
    from .data import class_weights

    return class_weights(task.targets[train_rows], len(task.class_names))


def thresholds_from(task: Task, val_probs: np.ndarray, val_targets: np.ndarray) -> np.ndarray:
    """Youden thresholds chosen on validation, per output (defaults where undefined)."""
    k = val_probs.shape[1] if val_probs.size else len(task.class_names)
    default = 0.5 if task.multi_label or k == 2 else 1 / k
    if val_probs.size == 0:  # e.g. no multi-label image in validation: nothing to choose from
        return np.full(k, default)
    truth = metrics.one_vs_rest(val_targets, k) if len(val_targets) else np.zeros((0, k), bool)
    out = np.array([metrics.youden_threshold(val_probs[:, j], truth[:, j]) for j in range(k)])
    return np.where(np.isfinite(out), out, default)


def quick_metric(task: Task, probs: np.ndarray, targets: np.ndarray) -> float:
    """The primary validation metric alone (no bootstrap): cheap enough for every epoch."""
    if len(targets) == 0:
        return math.nan
    if task.name == "normal_abnormal":
        return metrics.roc_auc(probs[:, 1], targets == 1)
    if task.name == "single_disease":
        auc = metrics.per_label_auc(probs, targets)
        return float(np.nanmean(auc)) if np.isfinite(auc).any() else math.nan
    return metrics.mean_average_precision(probs, targets)


def report(task: Task, probs: np.ndarray, targets: np.ndarray, thresholds: np.ndarray) -> dict:
    """The full metrics block for one split."""
    if task.name == "normal_abnormal":
        return metrics.binary_report(probs[:, 1], targets == 1, float(thresholds[1]))
    if task.name == "single_disease":
        return metrics.multiclass_report(probs, targets, task.class_names)
    return metrics.multilabel_report(probs, targets, task.class_names, thresholds)
