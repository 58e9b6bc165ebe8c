"""Launch presets and the one check every job config goes through (form, API, command)."""

from django.utils.translation import gettext_lazy as _

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


def engine_errors(engine: dict) -> dict[str, str]:
    """Field -> message for everything wrong with an engine config; empty when it is valid."""
    unknown = sorted(set(engine) - set(USER_ENGINE_FIELDS))
    if unknown:
        return {field: str(_("unknown or set by the server")) for field in unknown}
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
        field, _sep, message = str(exc).partition(": ")
        return {field if message else "engine": message or str(exc)}
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
