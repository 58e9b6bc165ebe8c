"""Who may set each engine field: a user through the form, the API or a command; the server; or
nobody outside the engine. The user-settable set is pinned here so that a new engine field is
never exposed to users by accident."""

from training.configs import USER_ENGINE_FIELDS

# Recorded from training/configs.py before the owners moved into the engine's Config.
USER_SETTABLE = {
    "task", "arch", "weights", "epochs", "batch_size", "eval_batch_size", "accumulate", "lr",
    "optimizer", "momentum", "weight_decay", "schedule", "warmup_epochs", "early_stop_patience",
    "balance", "min_count", "min_fraction", "majority_fraction", "crop", "flip",
    "affine_degrees", "affine_scale", "eval_crops", "seed", "deterministic", "amp",
    "channels_last", "compile", "device", "split_fractions", "min_per_label_eval", "log_every",
}  # fmt: skip


def test_the_user_settable_engine_fields_are_exactly_today_s():
    assert set(USER_ENGINE_FIELDS) == USER_SETTABLE
    assert len(USER_ENGINE_FIELDS) == len(USER_SETTABLE)  # no name listed twice
