"""Scoring images with a finished run's checkpoint, outside the splits of the data it trained on.

The engine's own ``evaluate`` re-scores a run's validation and test splits; this module serves
what the platform adds on top: evaluating a run on another label set (every image whose patient
the run never saw is a test image) and predicting on new, unlabelled images. It imports torch,
numpy and the engine only, never Django, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.engine import tasks
from training.engine.checkpoints import load_checkpoint
from training.engine.config import Config, ConfigError, from_dict
from training.engine.data import (
    SPLIT_NAMES,
    TEST,
    Dataset,
    ImageStore,
    keep_labels,
    open_dataset,
    patient_split,
)
from training.engine.loop import predict
from training.engine.modeling import build_model

CHUNK = 256  # images scored between two progress reports (and cancel checks)


@dataclass
class TrainedModel:
    """A run's best checkpoint, loaded for inference on one device."""

    config: Config
    task: str
    class_names: list[str]
    label_set_hash: str
    model: torch.nn.Module
    device: torch.device

    @property
    def activation(self) -> str:
        return "sigmoid" if self.task == "multi_label" else "softmax"


def load_trained(checkpoint: str | Path, device_name: str = "auto") -> TrainedModel:
    """The checkpoint's own config decides architecture, crop and evaluation crops."""
    state = load_checkpoint(checkpoint)
    config = from_dict({**state["config"], "weights": "none"})
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device_name)
    model = build_model(config.arch, len(state["class_names"]), "none", config.grayscale)
    model.load_state_dict(state["model"])
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return TrainedModel(config, state["task"], list(state["class_names"]),
                        state["label_set_hash"], model.eval(), device)  # fmt: skip


def seen_patients(run_config: dict) -> set[str]:
    """Patients a run trained on or chose its checkpoint with (its train and val splits).

    The split is recomputed exactly as the engine made it (same data, fractions, seed), so an
    evaluation elsewhere can leave those patients out and stay honest.
    """
    config = from_dict({**run_config, "weights": "none"})
    ds = keep_labels(open_dataset(config.dataset, config.normal_label), config.labels)
    split = patient_split(ds.patient_ids, ds.labels, config.split_fractions, config.seed,
                          config.min_per_label_eval)  # fmt: skip
    return {str(p) for p in ds.patient_ids[split != TEST]}


def split_summary(run_config: dict) -> dict:
    """Patients and images on each side of a run's patient-level split (all its images)."""
    config = from_dict({**run_config, "weights": "none"})
    ds = keep_labels(open_dataset(config.dataset, config.normal_label), config.labels)
    split = patient_split(ds.patient_ids, ds.labels, config.split_fractions, config.seed,
                          config.min_per_label_eval)  # fmt: skip
    return {
        name: {"patients": len(set(ds.patient_ids[split == code])),
               "images": int((split == code).sum())}
        for code, name in enumerate(SPLIT_NAMES)
    }  # fmt: skip


def score(
    trained: TrainedModel,
    ds: Dataset,
    rows: np.ndarray,
    on_chunk: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Probabilities (len(rows) × classes), in chunks so a caller can report and stop."""
    cfg = trained.config
    if cfg.crop > ds.image_size:
        raise ConfigError(f"crop: the run crops {cfg.crop}, the images are {ds.image_size}")
    store = ImageStore(ds.images, trained.device, on_device=False)
    parts = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        parts.append(predict(trained.model, store, chunk, cfg.crop, cfg.eval_crops,
                             cfg.eval_batch_size, trained.activation, None,
                             cfg.channels_last))  # fmt: skip
        if on_chunk is not None:
            on_chunk(start + len(chunk), len(rows))
    if not parts:
        return np.zeros((0, len(trained.class_names)), dtype=np.float32)
    return np.concatenate(parts)


def thresholds_from_metrics(trained: TrainedModel, val_block: dict) -> np.ndarray:
    """The operating points the run chose on its own validation split."""
    k = len(trained.class_names)
    if trained.task == "normal_abnormal" and val_block.get("threshold") is not None:
        return np.array([1 - val_block["threshold"], val_block["threshold"]])
    if trained.task == "multi_label" and val_block.get("thresholds"):
        return np.array([val_block["thresholds"].get(n, 0.5) or 0.5 for n in trained.class_names])
    return np.full(k, 0.5 if k == 2 or trained.task == "multi_label" else 1 / k)


def external_report(
    trained: TrainedModel, ds: Dataset, rows: np.ndarray, probs: np.ndarray,
    thresholds: np.ndarray,
) -> dict:  # fmt: skip
    """The run's task reported on other labelled images (the run's thresholds, not refitted)."""
    ds = keep_labels(ds, trained.config.labels)  # the run's label subset, if it had one
    task = tasks.make_task(trained.task, ds)
    if task.class_names != trained.class_names:
        raise ConfigError(f"label_set: classes {task.class_names} differ from the run's "
                          f"{trained.class_names}")  # fmt: skip
    keep = task.members[rows]
    block = tasks.report(task, probs[keep], task.targets[rows][keep], thresholds)
    return {"task": trained.task, "class_names": trained.class_names, "test": block}


def prediction_records(
    ds: Dataset, rows: np.ndarray, probs: np.ndarray, class_names: Sequence[str], subset: str
) -> list[dict]:
    """One record per image, shaped like the engine's ``predictions.jsonl`` lines."""
    return [
        {
            "image_id": ds.image_ids[i],
            "split": "test" if subset == "external" else "",
            "subset": subset,
            "probabilities": {n: round(float(p), 6) for n, p in zip(class_names, row, strict=True)},
            "labels": [ds.label_names[j] for j in np.flatnonzero(ds.labels[i])],
        }
        for i, row in zip(rows, probs, strict=True)
    ]
