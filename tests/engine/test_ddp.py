"""Two processes, gloo on the CPU, launched by torchrun exactly as the docs say."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.engine.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_torchrun_two_process_gloo_run_trains_and_only_rank_zero_writes(dataset_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "training.engine", "train", f"dataset={dataset_dir}", f"output={out}",
           "arch=tiny", "crop=56", "epochs=1", "batch_size=16", "lr=0.05", "device=cpu",
           "task=normal_abnormal", "log_every=100"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["auc"] > 0.8
    n_test = metrics["split_counts"]["test"]
    lines = (out / "predictions.jsonl").read_text().splitlines()
    test_ids = [json.loads(x)["image_id"] for x in lines if json.loads(x)["split"] == "test"]
    assert len(test_ids) == len(set(test_ids)) == n_test  # shards gathered, padding trimmed
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    assert not list(out.glob("*.tmp"))
