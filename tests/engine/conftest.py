"""Shared fixtures: one small generated dataset (64² images, four labels) and tiny-model configs."""

import pytest
import torch

from training.engine.config import from_dict
from training.engine.data import make_synthetic_dataset


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    torch.set_num_threads(2)  # the CI machine is shared: no oversubscription


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("engine") / "ds", n=480, size=64,
                                  n_labels=4, seed=0)  # fmt: skip


@pytest.fixture
def tiny_config(dataset_dir, tmp_path):
    """A config that trains the tiny model on the CPU in about a second per run."""

    def make(**overrides):
        values = {"dataset": str(dataset_dir), "output": str(tmp_path / "run"), "arch": "tiny",
                  "crop": 56, "epochs": 3, "batch_size": 32, "eval_batch_size": 64, "lr": 0.05,
                  "min_count": 20, "device": "cpu", "log_every": 5, "flip": True}  # fmt: skip
        values.update(overrides)
        return from_dict(values).validate()

    return make
