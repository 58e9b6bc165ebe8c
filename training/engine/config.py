"""Run configuration: one dataclass, loaded from YAML / JSON, overridden by `key=value` pairs.

The config is saved inside every checkpoint (as a dict) so a run can be resumed or evaluated
without the file it started from. `validate` checks values only; `runner.preflight` checks
what needs the disk (dataset, weights) before any GPU time is spent.

Each field declares its owner in its dataclass metadata, the one place the web platform reads
(the launch form, the API's serializer, the worker): "user" (a job config may set it), "server"
(the platform sets it: paths and checkpoints) or "internal" (left at its default by the platform).
On the command line every field can be set; owners only matter to the platform.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASKS = ("normal_abnormal", "single_disease", "multi_label")
# Named here, without torchvision, so that validating a config stays cheap (the web app does it
# for every form); modeling.ARCHITECTURES builds them and a test keeps the two in step.
ARCH_NAMES = ("vgg16", "resnet101", "resnet50", "densenet121", "efficientnet_b0", "tiny")


class ConfigError(ValueError):
    """Bad input: the message names the field or path at fault and why."""


USER, SERVER, INTERNAL = "user", "server", "internal"
OWNERS = (USER, SERVER, INTERNAL)


def _owned(who: str, default: object, **metadata: object) -> Any:
    if isinstance(default, list):  # a mutable default: a fresh copy per Config
        return field(default_factory=lambda: list(default), metadata={"owner": who, **metadata})
    return field(default=default, metadata={"owner": who, **metadata})


def user(default: object) -> Any:
    """A field a user may set in a job's engine config."""
    return _owned(USER, default)


def server(default: object, *, user_values: tuple[str, ...] = ()) -> Any:
    """A field the platform sets. ``user_values``: names a user may choose instead, which the
    platform turns into the real value (``weights="imagenet"`` becomes the weights folder)."""
    return _owned(SERVER, default, user_values=user_values)


def internal(default: object) -> Any:
    """A field the platform leaves at its default (the command line may still set it)."""
    return _owned(INTERNAL, default)


@dataclass
class Config:
    """Everything a run needs. Sizes are per process; the effective batch is
    batch_size × accumulate × world size."""

    dataset: str = server("")  # dataset directory (format in data.py)
    output: str = server("runs/default")
    task: str = user("normal_abnormal")  # one of TASKS
    arch: str = user("resnet101")  # see modeling.ARCHITECTURES
    # "none", a .pth file, or a directory holding torchvision's file
    weights: str = server("none", user_values=("none", "imagenet"))
    grayscale: str = internal("replicate")  # "replicate" to 3 channels, or "fold" the first conv
    normal_label: str = internal("normal")
    # splits (patient level)
    split_fractions: list[float] = user([0.8, 0.1, 0.1])
    min_per_label_eval: int = user(5)  # per label in validation and test, where the data allows
    # the label set's labels this run trains on (keys, any order); empty: all of them. A label
    # left out is dropped from every image (data.keep_labels says what becomes of an image that
    # had only that one); the normal label always stays
    labels: list[str] = user([])
    # sampling
    # "paper" (over/under-sampling), "weighted_loss", "none"; auto: paper for single_disease,
    # none otherwise
    balance: str = user("auto")
    min_count: int = user(380)
    min_fraction: float = user(0.03)
    majority_fraction: float = user(0.219)
    # augmentation and evaluation
    crop: int = user(224)
    flip: bool = user(False)
    affine_degrees: float = user(0.0)
    affine_scale: float = user(0.0)  # e.g. 0.05 for ±5% zoom
    eval_crops: str = user("five")  # "five" (corners + centre, averaged) or "center"
    # optimisation
    epochs: int = user(10)
    batch_size: int = user(60)
    eval_batch_size: int = user(128)
    accumulate: int = user(1)
    optimizer: str = user("sgd")  # "sgd" or "adamw"
    lr: float = user(0.01)
    momentum: float = user(0.9)
    weight_decay: float = user(1e-4)
    schedule: str = user("cosine")  # "cosine", "step" or "constant"
    warmup_epochs: float = user(0.0)
    step_epochs: int = internal(30)
    step_gamma: float = internal(0.1)
    early_stop_patience: int = user(0)  # epochs without validation improvement; 0 = off
    # speed and reproducibility
    device: str = user("auto")  # "auto", "cpu", "cuda", "cuda:N"
    amp: str = user("auto")  # "auto" (bf16, or fp16 + GradScaler), "bf16", "fp16", "off"
    channels_last: bool = user(True)
    compile: bool = user(False)
    # with compile on CUDA: capture the model's step as CUDA graphs (torch.compile's
    # "reduce-overhead"); never in deterministic mode nor under DDP
    cuda_graphs: bool = internal(True)
    gpu_cache: str = internal("auto")  # move the uint8 cache to the GPU once: "auto", "on", "off"
    deterministic: bool = user(False)
    seed: int = user(0)
    # bookkeeping
    resume: str = server("")  # checkpoint to continue from; "auto" = output/last.pt if present
    checkpoint: str = server("")  # for evaluate / predict; default output/best.pt
    # end this invocation after that epoch (resume later); 0 = off
    stop_after_epoch: int = internal(0)
    log_every: int = user(20)
    predict_split: str = internal("test")  # predict: "train", "val", "test" or "all"

    def validate(self) -> Config:
        """Raise ConfigError naming the first field whose value is out of range."""
        choices = {
            "task": TASKS,
            "grayscale": ("replicate", "fold"),
            "balance": ("auto", "paper", "weighted_loss", "none"),
            "eval_crops": ("five", "center"),
            "optimizer": ("sgd", "adamw"),
            "schedule": ("cosine", "step", "constant"),
            "amp": ("auto", "bf16", "fp16", "off"),
            "gpu_cache": ("auto", "on", "off"),
            "predict_split": ("train", "val", "test", "all"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}: {getattr(self, name)!r} is not one of {allowed}")
        if self.arch not in ARCH_NAMES:
            raise ConfigError(f"arch: {self.arch!r} is not one of {ARCH_NAMES}")
        if not self.dataset:
            raise ConfigError("dataset: no dataset directory given")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"device: {self.device!r} is not auto, cpu, cuda or cuda:N")
        positive = ("epochs", "batch_size", "eval_batch_size", "accumulate", "crop", "log_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "step_gamma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be positive, got {getattr(self, name)}")
        non_negative = (
            "min_count", "min_per_label_eval", "weight_decay", "momentum", "warmup_epochs",
            "early_stop_patience", "stop_after_epoch", "affine_degrees", "affine_scale",
        )  # fmt: skip
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must not be negative, got {getattr(self, name)}")
        for name in ("min_fraction", "majority_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be in [0, 1), got {getattr(self, name)}")
        fr = self.split_fractions
        if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1) > 1e-6 or fr[0] == 0:
            raise ConfigError(f"split_fractions: need three non-negative shares summing to 1 "
                              f"with a train share, got {fr}")  # fmt: skip
        return self

    @property
    def output_path(self) -> Path:
        return Path(self.output)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def owner(name: str) -> str:
    """Who sets a field: USER, SERVER or INTERNAL."""
    return _fields()[name].metadata["owner"]


def fields_owned_by(who: str) -> tuple[str, ...]:
    """The fields one owner sets, in declaration order."""
    return tuple(name for name, f in _fields().items() if f.metadata["owner"] == who)


def user_values(name: str) -> tuple[str, ...]:
    """The names a user may choose for a server-owned field; empty when the user has no say."""
    return tuple(_fields()[name].metadata.get("user_values", ()))


def user_settable() -> tuple[str, ...]:
    """What a job's engine config may name: user fields, and server fields with user values."""
    return tuple(name for name in _fields() if owner(name) == USER or user_values(name))


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(Config)}


def _field_types() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def _coerce(name: str, value: object, kind: type) -> object:
    """Check one value against its field's type (ints accepted for floats)."""
    origin = typing.get_origin(kind)
    if origin is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        return [_coerce(name, v, item) for v in value]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # e.g. `resume=1` is a path called "1"
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def from_dict(values: dict) -> Config:
    """Build a Config from a mapping, rejecting unknown keys and wrongly typed values."""
    types_ = _field_types()
    unknown = sorted(set(values) - set(types_))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown config field")
    return Config(**{k: _coerce(k, v, types_[k]) for k, v in values.items()})


def _parse_value(text: str) -> object:
    """`key=value` text to a typed value: JSON when it parses (numbers, true, [..]), else text."""
    lowered = {"true": True, "false": False, "yes": True, "no": False}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{pair}: override must look like key=value")
        out[key.strip()] = _parse_value(value.strip())
    return out


def read_file(path: str | Path) -> dict:
    """Read a YAML or JSON config file (YAML needs PyYAML; JSON needs nothing)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only here: a bare GPU box may lack PyYAML and use JSON

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of field names to values")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """File values, then `key=value` overrides, then validation."""
    values = read_file(path) if path else {}
    values.update(parse_overrides(overrides or []))
    return from_dict(values).validate()
