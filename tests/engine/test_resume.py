"""Checkpoints: atomic writes, and a resumed run that is bit-identical to an uninterrupted one."""

import pytest
import torch

from training.engine.checkpoints import load_checkpoint, save_checkpoint
from training.engine.runner import run


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_stopping_after_epoch_one_and_resuming_gives_bit_identical_weights(tiny_config, tmp_path):
    common = {"task": "single_disease", "epochs": 2, "deterministic": True, "warmup_epochs": 0.5}
    straight = tiny_config(output=str(tmp_path / "straight"), **common)
    run(straight)

    halves = tiny_config(output=str(tmp_path / "halves"), stop_after_epoch=1, **common)
    assert run(halves) == {"status": "stopped", "epoch": 1}
    assert load_checkpoint(halves.output_path / "last.pt")["epoch"] == 1
    resumed = tiny_config(output=str(tmp_path / "halves"), resume="auto", **common)
    run(resumed)

    a = load_checkpoint(straight.output_path / "last.pt")
    b = load_checkpoint(resumed.output_path / "last.pt")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, b["step"])
    assert _same_tensors(a["model"], b["model"])
    momentum_a = [s["momentum_buffer"] for s in a["optimizer"]["state"].values()]
    momentum_b = [s["momentum_buffer"] for s in b["optimizer"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(momentum_a, momentum_b, strict=True))
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]


def test_checkpoint_holds_config_class_names_and_label_set_hash(tiny_config):
    cfg = tiny_config(task="normal_abnormal", epochs=1)
    run(cfg)
    ckpt = load_checkpoint(cfg.output_path / "best.pt")
    assert ckpt["config"]["arch"] == "tiny"
    assert ckpt["class_names"] == ["normal", "abnormal"]
    assert len(ckpt["label_set_hash"]) == 16
    assert "torch" in ckpt["rng"]


def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temp_file(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})

    class Unsaveable:  # torch.save raises on it half way through the write
        def __reduce__(self):
            raise RuntimeError("disk full")

    try:
        save_checkpoint(path, {"epoch": 2, "bad": Unsaveable()})
    except RuntimeError:
        pass
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
