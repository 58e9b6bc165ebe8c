"""Patient-level splits, the three tasks' classes and the per-label counts they give: numpy only.

The web process imports this module (the launch form shows each label's train / val / test
counts and refuses a run that cannot have the paper's minimums) and so does the engine, which
splits with the very same function: the counts the form shows are the counts the run gets.
Importing it pulls in numpy and nothing else, never torch (tests/lab/test_web_imports.py).

The paper's minimums: every class of a task needs `min_per_label` (5, the paper's emphysema
case: 5 validation, 5 test) examples in the validation and the test split, and as many in
training. Fewer and the run's per-label figures mean nothing; none at all and it cannot run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")
TASKS = ("normal_abnormal", "single_disease", "multi_label")
MIN_PER_LABEL = 5  # per split, the paper's minimum (emphysema: 5 validation, 5 test)


class SplitError(RuntimeError):
    """A split broke an invariant (a patient on two sides): a bug, never a user error."""


def patient_split(
    patient_ids: np.ndarray,
    labels: np.ndarray,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    min_per_label: int = MIN_PER_LABEL,
) -> np.ndarray:
    """Seeded train / val / test codes per image, all images of one patient on the same side.

    Patients are shuffled and dealt out until each side holds its share of images. Then, rarest
    label first, whole patients move from train to val / test until each holds `min_per_label`
    images of the label, or a third of the label's images when it is rarer than that (the
    paper's emphysema case: 5 validation, 5 test, the rest train). Single-label images are
    counted first, since the single-disease task sees only those. The order of the images does
    not matter: the same patients with the same labels get the same sides.
    """
    uniq, inverse = np.unique(patient_ids, return_inverse=True)
    rng = np.random.default_rng(seed)
    per_patient = np.bincount(inverse, minlength=len(uniq))
    order = rng.permutation(len(uniq))
    cum = np.cumsum(per_patient[order]) / len(patient_ids)
    side = np.full(len(uniq), TEST, dtype=np.int8)
    side[order[cum <= fractions[0] + 1e-9]] = TRAIN
    side[order[(cum > fractions[0] + 1e-9) & (cum <= fractions[0] + fractions[1] + 1e-9)]] = VAL
    if not (side == TRAIN).any():
        side[order[0]] = TRAIN
    # Per patient and label: images where it is the only label (what task 2 trains on), then
    # all images; the minimum is met for the first, then topped up for the second.
    single = labels & (labels.sum(axis=1, keepdims=True) == 1)
    for per_image in (single, labels):
        counts = np.zeros((len(uniq), labels.shape[1]), dtype=np.int64)
        np.add.at(counts, inverse, per_image.astype(np.int64))
        _top_up(side, counts, min_per_label, fractions, rng)
    split = side[inverse]
    check_disjoint(split, patient_ids)
    return split


def _top_up(side: np.ndarray, counts: np.ndarray, minimum: int, fractions: Sequence[float],
            rng: np.random.Generator) -> None:  # fmt: skip
    """Move train patients (rarest label first) until val and test hold their minimum."""
    for j in np.argsort(counts.sum(axis=0), kind="stable"):
        wanted = min(minimum, int(counts[:, j].sum()) // 3)
        for target in (VAL, TEST):
            if fractions[target] == 0:
                continue
            have = counts[side == target, j].sum()
            for p in rng.permutation(np.flatnonzero((side == TRAIN) & (counts[:, j] > 0))):
                if have >= wanted:
                    break
                side[p] = target
                have += counts[p, j]


def check_disjoint(split: np.ndarray, patient_ids: np.ndarray) -> None:
    """Raise SplitError when any patient has images in two splits."""
    for a in range(3):
        for b in range(a + 1, 3):
            shared = np.intersect1d(patient_ids[split == a], patient_ids[split == b])
            if len(shared):
                raise SplitError(f"patient {shared[0]} is in both {SPLIT_NAMES[a]} "
                                 f"and {SPLIT_NAMES[b]}")  # fmt: skip


# --- label subsets --------------------------------------------------------------------------------


def keep_columns(label_names: Sequence[str], keep: Sequence[str]) -> list[int]:
    """Column indices of the labels kept, in the label set's order; empty `keep` keeps all.

    Raises ValueError naming a kept label the set does not have.
    """
    if not keep:
        return list(range(len(label_names)))
    unknown = [name for name in keep if name not in label_names]
    if unknown:
        raise ValueError(f"label {unknown[0]!r} is not among the labels {list(label_names)}")
    wanted = set(keep)
    return [j for j, name in enumerate(label_names) if name in wanted]


# --- the tasks' classes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskClasses:
    """Which images a task uses and the class of each (the numpy half of engine/tasks.py)."""

    name: str
    class_names: list[str]
    members: np.ndarray  # N bool
    targets: np.ndarray  # N ints, or N × K bool for multi_label
    majority: int | None

    def counts(self, split: np.ndarray) -> np.ndarray:
        """Images per class (rows) and split (columns: train, val, test)."""
        out = np.zeros((len(self.class_names), 3), dtype=np.int64)
        for code in (TRAIN, VAL, TEST):
            rows = self.members & (split == code)
            if self.targets.ndim == 2:
                out[:, code] = self.targets[rows].sum(axis=0)
            else:
                out[:, code] = np.bincount(self.targets[rows], minlength=len(self.class_names))
        return out


def task_classes(
    name: str, labels: np.ndarray, label_names: Sequence[str], normal_label: str
) -> TaskClasses:
    """The paper's three tasks on an N × L label matrix.

    normal_abnormal: every image, normal when normal is its only label (an image with no label
    left is abnormal: it was not normal); single_disease: images with exactly one label;
    multi_label: every image, a multi-hot target (an image with no label left is a negative for
    each). Raises ValueError for an unknown task or a missing normal label.
    """
    if normal_label not in label_names:
        raise ValueError(f"normal label {normal_label!r} is not among {list(label_names)}")
    normal = list(label_names).index(normal_label)
    n_labels = labels.sum(axis=1)
    everyone = np.ones(len(labels), bool)
    if name == "normal_abnormal":
        is_normal = labels[:, normal] & (n_labels == 1)
        return TaskClasses(name, ["normal", "abnormal"], everyone,
                           (~is_normal).astype(np.int64), majority=0)  # fmt: skip
    if name == "single_disease":
        return TaskClasses(name, list(label_names), n_labels == 1,
                           labels.argmax(axis=1).astype(np.int64), majority=normal)  # fmt: skip
    if name == "multi_label":
        return TaskClasses(name, list(label_names), everyone, labels.copy(), None)
    raise ValueError(f"task {name!r} is not one of {TASKS}")


# --- what the launch form and the engine check ------------------------------------------------------


@dataclass(frozen=True)
class Shortfall:
    """A class with fewer examples in one split than the minimum."""

    label: str
    split: str
    count: int
    minimum: int


def shortfalls(
    classes: TaskClasses, split: np.ndarray, fractions: Sequence[float], minimum: int
) -> list[Shortfall]:
    """Every class below `minimum` in a split the run uses, fewest first."""
    counts = classes.counts(split)
    found = [
        Shortfall(classes.class_names[j], SPLIT_NAMES[code], int(counts[j, code]), minimum)
        for j in range(len(classes.class_names))
        for code in (TRAIN, VAL, TEST)
        if fractions[code] > 0 and counts[j, code] < minimum
    ]
    return sorted(found, key=lambda s: s.count)


@dataclass(frozen=True)
class Plan:
    """A task's split over a label subset, its counts, and what still falls short."""

    kept: list[str]  # label names used, in the set's order
    left_out: list[str]
    classes: TaskClasses
    split: np.ndarray
    counts: np.ndarray  # classes × 3
    short: list[Shortfall]


def plan(
    task: str,
    patient_ids: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    normal_label: str = "normal",
    *,
    keep: Sequence[str] = (),
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    minimum: int = MIN_PER_LABEL,
) -> Plan:
    """Split and count exactly as the engine will for a task, on the labels in `keep`."""
    columns = keep_columns(label_names, keep)
    names = [label_names[j] for j in columns]
    sub = labels[:, columns]
    split = patient_split(patient_ids, sub, fractions, seed, minimum)
    classes = task_classes(task, sub, names, normal_label)
    left_out = [name for name in label_names if name not in names]
    return Plan(names, left_out, classes, split, classes.counts(split),
                shortfalls(classes, split, fractions, minimum))  # fmt: skip


def plan_leaving_out_short(
    task: str,
    patient_ids: np.ndarray,
    labels: np.ndarray,
    label_names: Sequence[str],
    normal_label: str = "normal",
    **options,
) -> Plan:
    """Leave out the labels below the minimum until every kept one meets it (or only normal is
    left). Leaving one out changes which images are single-label and how patients are dealt,
    so the split is made again after each round. The normal label is never left out, and the
    normal-vs-abnormal task's two classes are not labels to leave out."""
    keep = list(label_names)
    while True:
        result = plan(task, patient_ids, labels, label_names, normal_label, keep=keep, **options)
        if task == "normal_abnormal":
            return result
        short = {s.label for s in result.short} - {normal_label}
        fewer = [name for name in keep if name not in short]
        if not short or len(fewer) < 2:  # nothing to leave out, or nothing left to train
            return result
        keep = fewer
