"""Jobs and runs as a person reads them, in the UI's language: a configuration's settings by
name with their chosen values' names, metric and split names, label names instead of keys.

The pages (job, model registry) use these; the APIs, model card JSON and Markdown keep the keys.
A key this module does not know is shown as it is, as code (``Setting.code``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from curation.display import distance_name, names_by_key

from .configs import ARCH_CHOICES, PRESETS, task_label

SETTING_NAMES = {
    "label_set": _("Label set"),
    "task": _("Task"),
    "arch": _("Architecture"),
    "weights": _("Pretrained weights"),
    "split_fractions": _("Split (train / validation / test)"),
    "min_per_label_eval": _("Least images of a label in validation and test"),
    "balance": _("Rebalancing"),
    "min_count": _("Least images per class after rebalancing"),
    "min_fraction": _("Least fraction per class after rebalancing"),
    "majority_fraction": _("Majority class fraction after rebalancing"),
    "crop": _("Crop"),
    "flip": _("Horizontal flips"),
    "affine_degrees": _("Rotation (degrees)"),
    "affine_scale": _("Scaling"),
    "eval_crops": _("Evaluation"),
    "epochs": _("Epochs"),
    "batch_size": _("Batch size"),
    "eval_batch_size": _("Evaluation batch size"),
    "accumulate": _("Gradient accumulation steps"),
    "optimizer": _("Optimiser"),
    "lr": _("Learning rate"),
    "momentum": _("Momentum"),
    "weight_decay": _("Weight decay"),
    "schedule": _("Learning-rate schedule"),
    "warmup_epochs": _("Warm-up epochs"),
    "early_stop_patience": _("Early stop after epochs without improvement"),
    "device": _("Device"),
    "amp": _("Mixed precision"),
    "channels_last": _("Channels-last memory layout"),
    "compile": _("Compiled model"),
    "deterministic": _("Deterministic"),
    "seed": _("Seed"),
    "log_every": _("Log every (steps)"),
    "gpus": _("GPUs"),
    "preset": _("Preset"),
    "run": _("Run"),
    "target": _("Evaluate on"),
    "images": _("Images"),
    "since": _("Ingested since"),
    "study": _("Study"),
    "k": _("Clusters (k)"),
    "cluster_run": _("Clustering run"),
}
VALUE_NAMES = {
    "none": _("none"),
    "off": _("off"),
    "on": _("on"),
    "auto": _("auto"),
    "imagenet": "ImageNet",
    "paper": _("the paper's"),
    "weighted_loss": _("class-weighted loss"),
    "five": _("five crops, averaged (the paper)"),
    "center": _("centre crop"),
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "step": _("step"),
    "cosine": _("cosine"),
    "constant": _("constant"),
    "test": _("test"),
    "unpredicted": _("every image without a prediction from this run"),
}
METRIC_NAMES = {
    "auc": _("AUC"),
    "macro_auc": _("macro AUC"),
    "mean_ap": _("mean AP"),
    "accuracy": _("accuracy"),
    "sensitivity": _("sensitivity"),
    "specificity": _("specificity"),
    "top3_sensitivity": _("top-3 sensitivity"),
}
SPLIT_NAMES = {"train": _("train"), "val": _("validation"), "test": _("test")}
CLASS_NAMES = {"normal": _("normal"), "abnormal": _("abnormal")}


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    code: bool  # a key this module does not know: shown as it is, as code


def label_names(label_set, keys=None) -> dict[str, str]:
    """Label keys to their names in the UI's language (the label set's zh or en name); the
    binary task's classes by their translated names; an unknown key as it is."""
    names = {key: str(name) for key, name in CLASS_NAMES.items()}
    names.update(names_by_key(label_set.labels if label_set else []))
    if keys is not None:
        return {key: names.get(key, key) for key in keys}
    return names


def setting_value(key: str, value, label_sets: dict | None = None) -> str:
    """One setting's value in words: choices by name, lists joined, yes/no, a label set by
    version."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if key == "label_set" and label_sets and value in label_sets:
        return str(label_sets[value])
    if key == "task":
        return task_label(value)
    if key == "arch":
        return dict(ARCH_CHOICES).get(value, value)
    if key == "preset" and value in PRESETS:
        return str(PRESETS[value][0])
    if isinstance(value, list | tuple):
        return " / ".join(setting_value(key, item, label_sets) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {setting_value(k, v, label_sets)}" for k, v in value.items())
    if isinstance(value, str) and value in VALUE_NAMES:
        return str(VALUE_NAMES[value])
    return str(value)


def config_rows(config: dict, label_sets: dict | None = None) -> list[Setting]:
    """A job's configuration, one row a setting, the engine's block flattened into it."""
    flat: dict = {}
    for key, value in config.items():
        if isinstance(value, dict) and key == "engine":
            flat.update(value)
        else:
            flat[key] = value
    return [
        Setting(
            str(SETTING_NAMES.get(key, key)),
            setting_value(key, value, label_sets),
            key not in SETTING_NAMES,
        )  # fmt: skip
        for key, value in flat.items()
    ]


def metric_name(key: str) -> str:
    return str(METRIC_NAMES.get(key, key))


def split_name(key: str) -> str:
    return str(SPLIT_NAMES.get(key, key))


def validation_series() -> dict[str, str]:
    """The training-curve charts' series names (frontend/src/charts.js, ``strings.series``):
    "val_macro_auc" reads "validation: macro AUC"."""
    return {
        f"val_{key}": _("validation: %(metric)s") % {"metric": metric_name(key)}
        for key in METRIC_NAMES
    }


def job_title(job) -> str:
    """A job's name as the pages show it: the name a person gave it, or, for a name the server
    made up (a clustering run's "clustering k=… seed=… distance"), the same words in the UI's
    language."""
    config = job.config or {}
    made_up = f"clustering k={config.get('k')} seed={config.get('seed')}"
    if "cluster_run" not in config or job.name not in {
        made_up,
        f"{made_up} {config.get('distance')}",
    }:
        return job.name or str(job.get_kind_display())
    words = {"k": config["k"], "seed": config["seed"]}
    if "distance" not in config:  # a run from before the distance option
        return str(_("clustering, k=%(k)s, seed %(seed)s") % words)
    words["distance"] = distance_name(config["distance"])
    return str(_("clustering, k=%(k)s, seed %(seed)s, %(distance)s distance") % words)
