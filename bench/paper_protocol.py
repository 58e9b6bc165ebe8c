"""The paper's protocol on generated data of the paper's size, and the compile cache's effect.

`protocol`: for each architecture, the paper's tasks on one generated dataset: task 1
(normal vs abnormal) and task 2 (single disease, with the paper's rebalancing) are trained,
task 3 (multi-disease ranking) scores the task-2 model on the images with several labels; five-
crop evaluation. Two settings per architecture: "paper" (training/configs.py's PAPER: batch 60,
SGD lr 0.001, 4 epochs, no compile) and "fast" (batch 256, lr scaled with the batch, compiled
with CUDA graphs where the device has them). Random initialisation: a bare GPU box has no
ImageNet files, and the generated images do not need them. One Markdown row per task × arch ×
setting: wall time, the run's phases, training images/s (training steps only), test metrics.

`cache`: the same compiled job twice, each in a fresh process with one CXR_DATA_DIR: the second
finds inductor's FX graphs in the per-host cache and its warm-up (compilation) should take at
most a fifth of the first's.

    PYTHONPATH=. python bench/paper_protocol.py protocol --dataset DIR --out paper.md
    PYTHONPATH=. python bench/paper_protocol.py cache --dataset DIR --out cache.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from training.engine.config import from_dict
from training.engine.runner import run

PAPER = {"epochs": 4, "batch_size": 60, "lr": 0.001, "optimizer": "sgd", "momentum": 0.9,
         "crop": 224, "balance": "auto", "eval_crops": "five", "seed": 0, "weights": "none"}  # fmt: skip
FAST = {**PAPER, "batch_size": 256, "lr": 0.001 * 256 / 60, "eval_batch_size": 256,
        "compile": True}  # fmt: skip


def append(path: str | None, text: str) -> None:
    print(text, flush=True)
    if path:
        with open(path, "a") as fh:
            fh.write(text + "\n")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def protocol(args) -> None:
    append(args.out, "\n### The paper's protocol\n\n| task | arch | setting | wall s | warm-up s "
           "| train s | train img/s | validate s | test s | test metrics |\n" + "|---" * 10 + "|")  # fmt: skip
    settings = {"paper": PAPER, "fast": FAST}
    for arch in args.archs:
        for name in args.settings:
            for task in ("normal_abnormal", "single_disease"):
                values = {**settings[name], **json.loads(args.extra), "arch": arch,
                          "task": task, "dataset": args.dataset, "device": args.device}  # fmt: skip
                if args.epochs:
                    values["epochs"] = args.epochs
                with tempfile.TemporaryDirectory() as out:
                    values["output"] = out
                    start = time.perf_counter()
                    result = run(from_dict(values).validate())
                    wall = time.perf_counter() - start
                t = result["timings"]
                common = [arch, name, f"{wall:.1f}", f"{t['warmup_s']:.1f}", f"{t['train_s']:.1f}",
                          _fmt(t["train_images_per_s"], 0), f"{t['validate_s']:.1f}",
                          f"{t['test_s']:.1f}"]  # fmt: skip
                test = result["test"]
                if task == "normal_abnormal":
                    rows = [("1 normal/abnormal", f"AUC {_fmt(test['auc'])}, "
                             f"accuracy {_fmt(test['accuracy'])}")]  # fmt: skip
                else:
                    multi = result["multi_disease"]["test"] or {}
                    rows = [("2 single disease", f"accuracy {_fmt(test['accuracy'])}, "
                             f"macro AUC {_fmt(test['macro_auc'])}"),
                            ("3 multi-disease", f"mean AP {_fmt(multi.get('mean_ap'))}")]  # fmt: skip
                for label, metrics in rows:
                    append(args.out, "| " + " | ".join([label, *common, metrics]) + " |")
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()


def cache(args) -> None:
    """Two fresh processes compile the same job; the second reads the first's cache."""
    append(args.out, "\n### Compile cache (inductor FX graphs under CXR_DATA_DIR)\n\n"
           "| run | warm-up s (compile included) | first validation s | wall s |\n"
           "|---|---|---|---|")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CXR_DATA_DIR": str(Path(tmp) / "data")}
        env.pop("TORCHINDUCTOR_CACHE_DIR", None)
        warmups = []
        for k in (1, 2):
            out = Path(tmp) / f"run{k}"
            overrides = [f"dataset={args.dataset}", f"output={out}", f"arch={args.archs[0]}",
                         "task=normal_abnormal", "epochs=1", f"batch_size={args.batch}",
                         f"device={args.device}", "compile=true", "eval_crops=five",
                         f"eval_batch_size={args.batch}", "log_every=1000",
                         *args.override]  # fmt: skip
            start = time.perf_counter()
            cmd = [sys.executable, "-m", "training.engine", "train", *overrides]
            subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            t = json.loads((out / "metrics.json").read_text())["timings"]
            warmups.append(t["warmup_s"])
            append(args.out, f"| {k} ({'cold' if k == 1 else 'cached'}) | {t['warmup_s']:.1f} | "
                   f"{t['validate_s']:.1f} | {wall:.1f} |")  # fmt: skip
        append(args.out, f"\nsecond compile / first: {warmups[1] / warmups[0]:.2f} (goal <= 0.20)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["protocol", "cache"])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--archs", nargs="+", default=["resnet101", "vgg16"])
    parser.add_argument("--settings", nargs="+", choices=["paper", "fast"],
                        default=["paper", "fast"])  # fmt: skip
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=0, help="instead of the paper's 4")
    parser.add_argument("--batch", type=int, default=256, help="cache: batch size")
    parser.add_argument("--extra", default="{}", help="protocol: JSON of config overrides")
    parser.add_argument("--override", nargs="*", default=[], help="cache: key=value for the CLI")
    parser.add_argument("--out", help="append the table to this Markdown file")
    args = parser.parse_args()
    {"protocol": protocol, "cache": cache}[args.what](args)


if __name__ == "__main__":
    main()
