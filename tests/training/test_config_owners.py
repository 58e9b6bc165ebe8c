"""Who may set each engine field: a user through the form, the API or a command; the server; or
nobody outside the engine. The user-settable set is pinned here so that a new engine field is
never exposed to users by accident."""

import dataclasses

from training.configs import USER_ENGINE_FIELDS, engine_errors
from training.engine.config import (
    OWNERS,
    SERVER,
    USER,
    Config,
    fields_owned_by,
    owner,
    user_settable,
    user_values,
)
from training.forms import ENGINE_FORM_FIELDS
from training.jobs import SERVER_FIELDS

# Recorded from training/configs.py before the owners moved into the engine's Config.
USER_SETTABLE = {
    "task", "arch", "weights", "epochs", "batch_size", "eval_batch_size", "accumulate", "lr",
    "optimizer", "momentum", "weight_decay", "schedule", "warmup_epochs", "early_stop_patience",
    "balance", "min_count", "min_fraction", "majority_fraction", "crop", "flip",
    "affine_degrees", "affine_scale", "eval_crops", "seed", "deterministic", "amp",
    "channels_last", "compile", "device", "split_fractions", "min_per_label_eval", "log_every",
    "labels",  # issue 16: the label subset a run trains on
}  # fmt: skip


def test_the_user_settable_engine_fields_are_exactly_today_s():
    assert set(USER_ENGINE_FIELDS) == USER_SETTABLE
    assert len(USER_ENGINE_FIELDS) == len(USER_SETTABLE)  # no name listed twice


def test_every_engine_field_declares_its_owner():
    names = [f.name for f in dataclasses.fields(Config)]
    assert {name: owner(name) for name in names if owner(name) not in OWNERS} == {}
    assert set(fields_owned_by(SERVER)) == {"dataset", "output", "resume", "checkpoint", "weights"}
    assert set(user_settable()) == set(fields_owned_by(USER)) | {"weights"}


def test_weights_is_the_one_server_field_a_user_chooses_by_name():
    assert [name for name in user_settable() if user_values(name)] == ["weights"]
    assert user_values("weights") == ("none", "imagenet")
    assert engine_errors({"weights": "/etc/passwd"}) == {"weights": "must be none or imagenet"}
    assert engine_errors({"weights": "imagenet", "arch": "vgg16"}) == {}


def test_the_form_the_worker_and_the_api_read_the_same_declaration():
    assert set(ENGINE_FORM_FIELDS) <= USER_SETTABLE
    assert SERVER_FIELDS == fields_owned_by(SERVER)
    for name in ("dataset", "output", "resume", "checkpoint", "stop_after_epoch", "gpu_cache"):
        assert engine_errors({name: "x"}) == {name: "unknown or set by the server"}
