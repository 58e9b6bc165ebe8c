"""Job configs, typed per kind, and the engine check every training config goes through.

A job's config is parsed once, on launch (training/launch.py: forms, API and commands alike),
into ``TrainJobConfig``, ``EvaluateJobConfig`` or ``PredictJobConfig``; the job row stores its
``stored()`` form. Which engine fields a user may set is the engine's Config's declaration; the
presets (the paper's protocol, a CPU-sized one) are starting values for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from django.utils.translation import gettext_lazy as _

from jobs.services import JobInputError
from training.engine.config import (
    ARCH_NAMES,
    TASKS,
    ConfigError,
    from_dict,
    user_settable,
    user_values,
)

# What a user may set on the engine, as the engine's Config declares it (each field's owner);
# the server sets dataset, output, resume and checkpoints (tests/training/test_config_owners.py).
USER_ENGINE_FIELDS = user_settable()

# The paper's protocol: ImageNet weights, 224 crops of 256 images, 60 images per batch, five-crop
# evaluation, its rebalancing for the single-disease task. About 800 iterations of 60 images on
# 13k training images is four epochs.
PAPER = {
    "task": "single_disease",
    "weights": "imagenet",
    "epochs": 4,
    "batch_size": 60,
    "lr": 0.001,
    "optimizer": "sgd",
    "momentum": 0.9,
    "crop": 224,
    "balance": "auto",
    "eval_crops": "five",
    "seed": 0,
}
PRESETS = {
    "paper-vgg16": (_("Paper protocol, VGG-16 (GPU)"), {**PAPER, "arch": "vgg16"}),
    "paper-resnet101": (_("Paper protocol, ResNet-101 (GPU)"), {**PAPER, "arch": "resnet101"}),
    "cpu": (
        _("CPU-sized: a tiny network that trains in minutes without a GPU"),
        {
            **PAPER,
            "arch": "tiny",
            "weights": "none",
            "epochs": 3,
            "batch_size": 32,
            "lr": 0.05,
            "device": "cpu",
            "amp": "off",
            "eval_crops": "center",
        },
    ),  # fmt: skip
}
COMPARE_ARCHS = ("vgg16", "resnet101")


class InvalidConfig(ValueError):
    """A job config with field problems: ``errors`` maps each field (engine fields nested under
    ``engine``) to its messages, shaped like a DRF serializer's errors."""

    def __init__(self, errors: dict) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class TrainJobConfig:
    """Train on a frozen label set with the user's engine fields (``USER_ENGINE_FIELDS``, checked
    by ``engine_errors``); ``gpus`` above 1 runs the engine under torchrun."""

    label_set: int
    engine: dict = field(default_factory=dict)
    gpus: int | None = None

    def stored(self) -> dict:
        config = {"label_set": self.label_set, "engine": dict(self.engine)}
        return config if self.gpus is None else {**config, "gpus": self.gpus}


@dataclass(frozen=True)
class EvaluateJobConfig:
    """Score a finished training job on its test split, or on another frozen label set."""

    source_job: int
    label_set: int | None = None
    eval_crops: str | None = None
    device: str | None = None

    def stored(self) -> dict:
        """The fields given, and only those: the worker falls back to the run's own values."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: _plain(value) for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class PredictJobConfig(EvaluateJobConfig):
    """Predict with a finished training job on chosen studies, a label set's images or every
    image of the team, narrowed to those it has not scored (``images``) or ingested ``since``."""

    studies: tuple[int, ...] | None = None
    images: str | None = None
    since: str | None = None  # an ISO date


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


JobConfig = TrainJobConfig | EvaluateJobConfig | PredictJobConfig
JOB_CONFIGS: dict[str, type[JobConfig]] = {
    "train": TrainJobConfig,
    "evaluate": EvaluateJobConfig,
    "predict": PredictJobConfig,
}


def stored_config(job) -> JobConfig:
    """A train, evaluate or predict job's typed config, as its launch parsed and stored it: read
    back, not checked again. A row without a required field (written by hand, say) fails its job
    with a message instead of a TypeError."""
    kind = JOB_CONFIGS[job.kind]
    names = {f.name for f in fields(kind)}
    values = {name: value for name, value in job.config.items() if name in names}
    if values.get("studies") is not None:
        values["studies"] = tuple(values["studies"])
    try:
        return kind(**values)
    except TypeError as exc:
        raise JobInputError(
            f"job {job.pk}: its config {job.config!r} is incomplete ({exc})"
        ) from None


def engine_errors(engine: dict) -> dict[str, str]:
    """Field -> message for everything wrong with an engine config; empty when it is valid."""
    unknown = sorted(set(engine) - set(USER_ENGINE_FIELDS))
    if unknown:
        return {name: str(_("unknown or set by the server")) for name in unknown}
    chosen = {name: value for name, value in engine.items() if user_values(name)}
    for name, value in chosen.items():
        if value not in user_values(name):  # weights alone has user values (a test pins it)
            return {name: str(_("must be none or imagenet"))}
    try:
        # What the user chose for a server field is the server's to resolve, and the dataset a
        # placeholder: the real one is exported by the job when it starts.
        own = {name: value for name, value in engine.items() if name not in chosen}
        from_dict({**own, "dataset": "pending"}).validate()
    except ConfigError as exc:
        name, _sep, message = str(exc).partition(": ")
        return {name if message else "engine": message or str(exc)}
    return {}


ARCH_CHOICES = [(name, name) for name in ARCH_NAMES]
TASK_LABELS = {
    "normal_abnormal": _("Normal vs abnormal"),
    "single_disease": _("Single disease"),
    "multi_label": _("Multiple diseases (multi-label)"),
}
TASK_CHOICES = [(name, TASK_LABELS[name]) for name in TASKS]  # a new task needs its label


def task_label(name: str) -> str:
    """The engine's task name as the UI shows it, in the user's language."""
    return str(TASK_LABELS.get(name, name))
