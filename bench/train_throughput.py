"""Training and five-crop evaluation throughput of the engine, in images per second.

For each architecture (and with / without torch.compile) it times the engine's training step
fed two ways: (a) synthetic float batches already on the device, (b) the engine's real data
path (uint8 cache, on the GPU when it fits, gathered and randomly cropped / flipped on the
device). The ratio b / a shows whether data ever becomes the bottleneck (goal: >= 0.95). It also
prints the share of the GPU's peak bf16 FLOP/s reached, from the usual per-image costs.

GPU (the issue's table):
    PYTHONPATH=. python bench/train_throughput.py --archs resnet101 vgg16 --compile off on
CPU smoke run (proves the script works; its figures mean nothing):
    PYTHONPATH=. python bench/train_throughput.py --device cpu --archs tiny resnet50 \
        --size 56 --store 64 --batch 8 --steps 2 --warmup 1 --images 64 --compile off
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from training.engine.data import Batches, ImageStore, make_synthetic_dataset, open_dataset
from training.engine.loop import predict, train_one_epoch
from training.engine.modeling import build_model
from training.engine.transforms import TrainAugment

# forward + backward GFLOP per training image at 224 (forward alone is about one third)
TRAIN_GFLOP_224 = {"resnet101": 47.0, "vgg16": 93.0, "resnet50": 24.6, "densenet121": 17.2,
                   "efficientnet_b0": 2.3}  # fmt: skip
# dense bf16 tensor-core peaks, FLOP/s
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12,
             "RTX 4090": 165e12, "RTX 3090": 71e12}  # fmt: skip


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step_parts(arch: str, device: torch.device, compile_: bool, classes: int = 10):
    model = build_model(arch, classes).to(device).to(memory_format=torch.channels_last)
    fused = {"fused": True} if device.type == "cuda" else {}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, **fused)
    runner = torch.compile(model) if compile_ else model
    return model, runner, optimizer, torch.nn.CrossEntropyLoss()


def timed_images_per_s(step_fn, warmup: int, steps: int, batch: int, device) -> float:
    step_fn(warmup)
    sync(device)
    start = time.perf_counter()
    step_fn(steps)
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def bench_arch(arch: str, compile_: bool, args, store: ImageStore, device, amp) -> dict:
    model, runner, optimizer, loss_fn = make_step_parts(arch, device, compile_)
    b, size = args.batch, args.size
    x = torch.rand(b, 1, size, size, device=device)
    y = torch.randint(0, 10, (b,), device=device)
    targets = torch.randint(0, 10, (len(store.images),), device=device)
    augment = TrainAugment(size, flip=True)
    rng = np.random.default_rng(0)

    def synthetic(n: int) -> None:
        train_one_epoch(runner, [(x, y)] * n, lambda t: t, loss_fn, optimizer, amp_dtype=amp,
                        channels_last=True)  # fmt: skip

    def real(n: int) -> None:
        order = rng.choice(len(store.images), size=n * b, replace=n * b > len(store.images))
        train_one_epoch(runner, Batches(store, order, b, targets), augment, loss_fn, optimizer,
                        amp_dtype=amp, channels_last=True)  # fmt: skip

    a = timed_images_per_s(synthetic, args.warmup, args.steps, b, device)
    r = timed_images_per_s(real, args.warmup, args.steps, b, device)
    rows = np.arange(min(len(store.images), args.eval_images))

    def five_crop(n: int) -> None:
        for _ in range(n):
            predict(
                runner, store, rows, size, "five", args.batch, amp_dtype=amp, channels_last=True
            )

    e = timed_images_per_s(five_crop, 1, 2, len(rows), device) if args.eval else float("nan")
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"synthetic": a, "real": r, "eval5": e}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["resnet101", "vgg16"])
    parser.add_argument("--compile", nargs="+", choices=["off", "on"], default=["off", "on"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=224, help="crop size")
    parser.add_argument("--store", type=int, default=256, help="stored image size")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--images", type=int, default=4096, help="images in the generated cache")
    parser.add_argument("--eval-images", type=int, default=2048)
    parser.add_argument("--no-eval", dest="eval", action="store_false")
    parser.add_argument("--dataset", help="existing dataset directory (else one is generated)")
    args = parser.parse_args()

    dev = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(dev)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    amp = torch.bfloat16 if device.type == "cuda" else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.dataset) if args.dataset else make_synthetic_dataset(
            Path(tmp) / "ds", args.images, size=args.store, n_labels=10)  # fmt: skip
        images = open_dataset(path).images
        store = ImageStore(images, device, ImageStore.fits_on_device(images, device))
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        peak = peak_flops(device)
        print(f"device: {name}; torch {torch.__version__}; batch {args.batch}; crop {args.size} "
              f"from {images.shape[-1]}; cache on device: {store.on_device}; "
              f"precision: {'bf16 autocast' if amp else 'fp32'}, channels_last")  # fmt: skip
        if device.type != "cuda":
            print("CPU run: these figures only prove the script works; they say nothing of a GPU.")
        header = ("arch", "compile", "synthetic img/s", "data path img/s", "ratio", "% peak bf16",
                  "5-crop eval img/s")  # fmt: skip
        print(" | ".join(header))
        for arch in args.archs:
            for mode in args.compile:
                r = bench_arch(arch, mode == "on", args, store, device, amp)
                gflop = TRAIN_GFLOP_224.get(arch)
                share = "n/a"
                if gflop and peak:
                    share = f"{100 * r['real'] * gflop * 1e9 * (args.size / 224) ** 2 / peak:.1f}"
                print(f"{arch} | {mode} | {r['synthetic']:.0f} | {r['real']:.0f} | "
                      f"{r['real'] / r['synthetic']:.2f} | {share} | {r['eval5']:.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
