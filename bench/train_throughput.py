"""Training and five-crop evaluation throughput of the engine, in images per second.

For each architecture and compile mode ("off"; "on": torch.compile; "graphs": torch.compile
with CUDA graphs, mode="reduce-overhead") it times the engine's training step fed two ways:
(a) synthetic float batches already on the device, (b) the engine's real data path (uint8
cache, on the GPU when it fits, gathered and randomly cropped / flipped on the device, static
shapes). The ratio b / a shows whether data ever becomes the bottleneck (goal: >= 0.95). It also
prints the share of the GPU's peak bf16 FLOP/s reached, from the usual per-image costs, and the
compile time apart: the first steps' time less what they take once warm.

`--baseline` adds the same table for a plain torchvision step (no engine code: model,
autocast, loss, backward, fused SGD), the yardstick for the engine's own step. `--profile`
counts, with the profiler, host synchronisations and host-to-device copies per training step
of the data path. `--out FILE` appends each table to FILE (Markdown) as soon as it is done.

GPU (the issue's table):
    PYTHONPATH=. python bench/train_throughput.py --archs resnet101 vgg16 --compile off graphs \
        --baseline --profile
CPU smoke run (proves the script works; its figures mean nothing):
    PYTHONPATH=. python bench/train_throughput.py --device cpu --archs tiny --size 56 --store 64 \
        --batch 8 --steps 2 --warmup 1 --images 64 --eval-images 16 --compile off --baseline \
        --profile
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision

from training.engine.data import Batches, ImageStore, make_synthetic_dataset, open_dataset
from training.engine.loop import TrainStep, predict, train_one_epoch
from training.engine.modeling import ARCHITECTURES, build_model, compile_model
from training.engine.transforms import TrainAugment

# forward + backward GFLOP per training image at 224 (forward alone is about one third)
TRAIN_GFLOP_224 = {"resnet101": 47.0, "vgg16": 93.0, "resnet50": 24.6, "densenet121": 17.2,
                   "efficientnet_b0": 2.3}  # fmt: skip
# dense bf16 tensor-core peaks, FLOP/s
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12,
             "RTX 4090": 165e12, "RTX 3090": 71e12}  # fmt: skip
CLASSES = 10


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compiled(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    return model if mode == "off" else compile_model(model, cuda_graphs=mode == "graphs")


def optimizer_for(model: torch.nn.Module, device: torch.device) -> torch.optim.Optimizer:
    fused = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, **fused)


def timed(step_fn: Callable[[int], None], warmup: int, steps: int, batch: int, device) -> tuple:
    """(images/s over `steps` warm steps, seconds the `warmup` first steps took beyond what
    they take warm: the compile and graph-recording time)."""
    start = time.perf_counter()
    step_fn(warmup)
    sync(device)
    first = time.perf_counter() - start
    start = time.perf_counter()
    step_fn(steps)
    sync(device)
    elapsed = time.perf_counter() - start
    return steps * batch / elapsed, max(first - warmup * elapsed / steps, 0.0)


def bench_engine(arch: str, mode: str, args, store: ImageStore, device, amp) -> dict:
    model = build_model(arch, CLASSES).to(device).to(memory_format=torch.channels_last)
    runner, optimizer = compiled(model, mode), optimizer_for(model, device)
    loss_fn, graphs = torch.nn.CrossEntropyLoss(), mode == "graphs"
    b, size = args.batch, args.size
    x = torch.rand(b, 1, size, size, device=device)
    y = torch.randint(0, CLASSES, (b,), device=device)
    targets = torch.randint(0, CLASSES, (len(store.images),), device=device)
    augment = TrainAugment(size, flip=True, device=device)
    augment.reseed(0)
    rng = np.random.default_rng(0)

    def synthetic(n: int) -> None:
        train_one_epoch(runner, [(x, y)] * n, lambda t: t, loss_fn, optimizer, amp_dtype=amp,
                        channels_last=True, cuda_graphs=graphs)  # fmt: skip

    def epoch_order(n: int) -> np.ndarray:
        return rng.choice(len(store.images), size=n * b, replace=n * b > len(store.images))

    def real(n: int) -> None:
        train_one_epoch(runner, Batches(store, epoch_order(n), b, targets), augment, loss_fn,
                        optimizer, amp_dtype=amp, channels_last=True, cuda_graphs=graphs)  # fmt: skip

    result = {}
    result["synthetic"], result["compile_s"] = timed(synthetic, args.warmup, args.steps, b, device)
    result["real"], _ = timed(real, args.warmup, args.steps, b, device)
    rows = np.arange(min(len(store.images), args.eval_images))

    def five_crop(n: int) -> None:
        for _ in range(n):
            predict(runner, store, rows, size, "five", args.batch, amp_dtype=amp,
                    channels_last=True, static=mode != "off", cuda_graphs=graphs)  # fmt: skip

    result["eval5"], result["eval_compile_s"] = timed(five_crop, 1, 2, len(rows), device)
    if args.profile:
        step = TrainStep(runner, augment, loss_fn, optimizer, amp_dtype=amp, channels_last=True,
                         cuda_graphs=graphs)  # fmt: skip
        result.update(profile_steps(step, Batches(store, epoch_order(4), b, targets), device))
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


SYNC_EVENTS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize",
               "aten::_local_scalar_dense")  # fmt: skip


def profile_steps(step: TrainStep, batches: Batches, device: torch.device) -> dict:
    """Host synchronisations and host-to-device copies per step, over the batches' steps. The
    epoch's order is one (pinned, asynchronous) copy when the batches start: 1/len(batches)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    step.model.train()
    sync(device)
    with torch.profiler.profile(activities=activities) as prof:
        for batch in batches:
            step(batch.images, batch.targets, batch.mask)
        sync(device)
    names = [e.name for e in prof.events()]
    n = len(batches)
    syncs = sum(names.count(e) for e in SYNC_EVENTS) - (device.type == "cuda")  # ours, above
    h2d = sum(1 for name in names if "HtoD" in name)  # CUDA memcpy activity: "Memcpy HtoD (...)"
    return {"syncs_per_step": syncs / n, "h2d_per_step": h2d / n}


def bench_plain(arch: str, mode: str, args, device, amp) -> dict:
    """A plain torchvision training step with the same settings: no engine code at all."""
    model = ARCHITECTURES[arch](num_classes=CLASSES) if arch != "tiny" else build_model("tiny", 10)
    model = model.to(device).to(memory_format=torch.channels_last)
    runner, optimizer = compiled(model, mode), optimizer_for(model, device)
    loss_fn = torch.nn.CrossEntropyLoss()
    channels = 1 if arch == "tiny" else 3
    x = torch.rand(args.batch, channels, args.size, args.size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, CLASSES, (args.batch,), device=device)

    def steps(n: int) -> None:
        for _ in range(n):
            if mode == "graphs":
                torch.compiler.cudagraph_mark_step_begin()
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = loss_fn(runner(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    ips, compile_s = timed(steps, args.warmup, args.steps, args.batch, device)
    return {"plain": ips, "compile_s": compile_s}


class Table:
    """A Markdown table printed row by row and, with `path`, appended to a file as it grows."""

    def __init__(self, title: str, header: tuple[str, ...], path: str | None) -> None:
        self.path = path
        self._emit(f"\n### {title}\n\n| " + " | ".join(header) + " |\n|"
                   + "---|" * len(header))  # fmt: skip

    def row(self, *cells: object) -> None:
        self._emit("| " + " | ".join(str(c) for c in cells) + " |")

    def _emit(self, text: str) -> None:
        print(text, flush=True)
        if self.path:
            with open(self.path, "a") as fh:
                fh.write(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["resnet101", "vgg16"])
    parser.add_argument("--compile", nargs="+", choices=["off", "on", "graphs"],
                        default=["off", "graphs"])  # fmt: skip
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=224, help="crop size")
    parser.add_argument("--store", type=int, default=256, help="stored image size")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--images", type=int, default=4096, help="images in the generated cache")
    parser.add_argument("--eval-images", type=int, default=2048)
    parser.add_argument("--dataset", help="existing dataset directory (else one is generated)")
    parser.add_argument("--baseline", action="store_true", help="plain torchvision step too")
    parser.add_argument("--profile", action="store_true", help="syncs and H2D copies per step")
    parser.add_argument("--out", help="append the tables to this Markdown file")
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
        print(f"device: {name}; torch {torch.__version__}, torchvision {torchvision.__version__}; "
              f"batch {args.batch}; crop {args.size} from {images.shape[-1]}; cache on device: "
              f"{store.on_device}; {'bf16 autocast' if amp else 'fp32'}, channels_last")  # fmt: skip
        if device.type != "cuda":
            print("CPU run: these figures only prove the script works; they say nothing of a GPU.")
        header = ("arch", "compile", "synthetic img/s", "data path img/s", "ratio", "% peak bf16",
                  "5-crop eval img/s", "compile s (train + eval)")  # fmt: skip
        if args.profile:
            header += ("host syncs / step", "H2D copies / step")
        table = Table("Engine step", header, args.out)
        for arch in args.archs:
            for mode in args.compile:
                r = bench_engine(arch, mode, args, store, device, amp)
                gflop = TRAIN_GFLOP_224.get(arch)
                share = "n/a"
                if gflop and peak:
                    share = f"{100 * r['real'] * gflop * 1e9 * (args.size / 224) ** 2 / peak:.1f}"
                cells = [arch, mode, f"{r['synthetic']:.0f}", f"{r['real']:.0f}",
                         f"{r['real'] / r['synthetic']:.2f}", share, f"{r['eval5']:.0f}",
                         f"{r['compile_s']:.1f} + {r['eval_compile_s']:.1f}"]  # fmt: skip
                if args.profile:
                    cells += [f"{r['syncs_per_step']:.2f}", f"{r['h2d_per_step']:.2f}"]
                table.row(*cells)
        if args.baseline:
            plain = Table("Plain torchvision step (no engine code)",
                          ("arch", "compile", "img/s", "compile s"), args.out)  # fmt: skip
            for arch in args.archs:
                for mode in args.compile:
                    r = bench_plain(arch, mode, args, device, amp)
                    plain.row(arch, mode, f"{r['plain']:.0f}", f"{r['compile_s']:.1f}")


if __name__ == "__main__":
    main()
