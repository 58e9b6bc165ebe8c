"""The hot loops: one training epoch, and prediction with crop averaging.

Nothing here knows about files, tasks or configs: tensors in, numbers out. Mixed precision is
`torch.autocast` with the dtype the caller picked (bf16, or fp16 with a GradScaler).

A training step (`TrainStep`: augment, forward, backward, optimiser) reads nothing back from
the device: the loss is summed on the device and read only at logging points, the crop offsets
are drawn on the device, and the batch's indices are sliced there. So the host runs ahead of
the GPU and queues the next steps while it computes; tests/engine/test_sync_free_step.py fails
when a step synchronises. Two exceptions are inherent: fp16's GradScaler checks for overflow on
the host, and a non-fused Adam reads its step count (the runner uses the fused one on CUDA).

Batches have static shapes (the last one padded and masked out of the loss, see
`data.Batches`), so a compiled model never recompiles and CUDA graphs can replay. Throughput is
honest: `StepMeter` counts images/s over training steps only; the first steps of a run
(compilation, cuDNN autotuning, CUDA-graph recording) are the warm-up, timed on their own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .data import Batch, Batches, ImageStore, shard
from .transforms import center_crop, five_crops

# (steps done this epoch, mean loss, images/s over the window; None for the warm-up point)
OnLog = Callable[[int, float, float | None], None]
# Called after every batch, on the host only (reads nothing from the device); raises to stop
# the run at this batch boundary (the job's code raises its own cancel exception).
Check = Callable[[], None]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def masked_loss(
    loss_fn: nn.Module, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """`loss_fn`'s mean over the real rows of a padded batch (mask 1), computed with the same
    shapes whatever the padding: per-row losses, masked, divided by the real rows' weight."""
    if mask is None:
        return loss_fn(logits, targets)
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        per_row = F.cross_entropy(logits, targets, weight=loss_fn.weight, reduction="none")
        weight = mask if loss_fn.weight is None else mask * loss_fn.weight[targets]
        return (per_row * mask).sum() / weight.sum()
    if isinstance(loss_fn, nn.BCEWithLogitsLoss):
        per_item = F.binary_cross_entropy_with_logits(
            logits, targets, weight=loss_fn.weight, pos_weight=loss_fn.pos_weight,
            reduction="none",
        )  # fmt: skip
        return (per_item * mask[:, None]).sum() / (mask.sum() * per_item.shape[1])
    raise TypeError(f"a padded batch needs a maskable loss, not {type(loss_fn).__name__}")


@dataclass
class TrainStep:
    """One training step on a batch already on the device; returns the detached loss, unread.

    With `cuda_graphs` (a model compiled with mode="reduce-overhead") each call marks a new
    step for the CUDA-graph trees, so that replays may reuse the previous step's buffers.
    """

    model: nn.Module
    augment: Callable[[torch.Tensor], torch.Tensor]
    loss_fn: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    scaler: torch.amp.GradScaler | None = None
    amp_dtype: torch.dtype | None = None
    accumulate: int = 1
    channels_last: bool = False
    cuda_graphs: bool = False

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __call__(self, images: torch.Tensor, targets: torch.Tensor,
                 mask: torch.Tensor | None = None, stepping: bool = True) -> torch.Tensor:  # fmt: skip
        x = self.augment(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        model = self.model
        # under DDP the gradient all-reduce waits for the batch that steps the optimiser
        skip_sync = not stepping and hasattr(model, "no_sync")
        with model.no_sync() if skip_sync else contextlib.nullcontext():
            with autocast(self.device, self.amp_dtype):
                loss = masked_loss(self.loss_fn, model(x), targets, mask)
            scaled = loss / self.accumulate
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        if stepping:
            if self.scaler:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.scheduler is not None:
                self.scheduler.step()
        return loss.detach()


class StepMeter:
    """Where a run's training time went: warm-up steps (compilation, autotuning, graph
    recording) apart from training steps; images/s counts training steps only."""

    def __init__(self) -> None:
        self.warmup_s, self.warmup_steps = 0.0, 0
        self.train_s, self.train_images = 0.0, 0

    @property
    def images_per_s(self) -> float | None:
        return self.train_images / self.train_s if self.train_s > 0 else None

    def to_dict(self) -> dict:
        return {"warmup_s": self.warmup_s, "warmup_steps": self.warmup_steps,
                "train_s": self.train_s, "train_images": self.train_images,
                "train_images_per_s": self.images_per_s}  # fmt: skip


def _unpack(item: Batch | tuple) -> Batch:
    """A `Batch`, or a plain (images, targets) pair (every row real)."""
    if isinstance(item, Batch):
        return item
    images, targets = item
    return Batch(images, targets, None, len(images))


def train_one_epoch(
    model: nn.Module,
    batches: Batches | Iterable,
    augment: Callable[[torch.Tensor], torch.Tensor],
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    accumulate: int = 1,
    channels_last: bool = False,
    log_every: int = 20,
    on_log: OnLog | None = None,
    check: Check | None = None,
    warmup_steps: int = 0,
    meter: StepMeter | None = None,
    cuda_graphs: bool = False,
) -> float:
    """Train over `batches` (`Batch`es, or (images, targets) pairs, on the device); return the
    mean loss.

    The first `warmup_steps` batches are the warm-up: timed apart (into `meter`) and reported
    once, after the last of them, with no rate. Then progress goes to `on_log` after the first
    and second batch (so that a slow model shows a rate and an ETA at once), every `log_every`
    batches and after the last. Only there is the loss read back from the device. `check` runs
    after every batch.

    With accumulate > 1 the optimiser steps every `accumulate` batches (and on the last one);
    under DDP the gradient all-reduce is skipped on the batches in between.
    """
    step = TrainStep(model, augment, loss_fn, optimizer, scheduler, scaler, amp_dtype,
                     accumulate, channels_last, cuda_graphs)  # fmt: skip
    meter = meter if meter is not None else StepMeter()
    model.train()
    n = len(batches)
    total = torch.zeros((), device=step.device)
    window_start, window_images = time.perf_counter(), 0
    for i, item in enumerate(batches):
        batch = _unpack(item)
        done = i + 1
        stepping = done % accumulate == 0 or done == n
        total += step(batch.images, batch.targets, batch.mask, stepping)
        if done <= warmup_steps:
            if done == warmup_steps or done == n:  # the one read that closes the warm-up
                mean_loss = float(total.item()) / done
                now = time.perf_counter()
                meter.warmup_s += now - window_start
                meter.warmup_steps += done
                if on_log:
                    on_log(done, mean_loss, None)
                window_start = now
        else:
            window_images += batch.count
            after = done - warmup_steps
            if on_log and (after <= 2 or done % log_every == 0 or done == n):
                # .item() waits for the device: the window's timing is honest
                mean_loss = float(total.item()) / done
                now = time.perf_counter()
                meter.train_s += now - window_start
                meter.train_images += window_images
                on_log(done, mean_loss, window_images / max(now - window_start, 1e-9))
                window_start, window_images = now, 0
        if check is not None:
            check()
    mean_loss = float(total.item()) / max(n, 1)
    if window_images:  # steps since the last log point (all of them when nobody logs)
        meter.train_s += time.perf_counter() - window_start
        meter.train_images += window_images
    return mean_loss


@torch.inference_mode()
def predict(
    model: nn.Module,
    store: ImageStore,
    indices: np.ndarray,
    crop: int,
    crops: str = "five",
    batch_size: int = 128,
    activation: str = "softmax",
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    world: distributed.World | None = None,
    static: bool = False,
    cuda_graphs: bool = False,
) -> np.ndarray:
    """Probabilities (n × K) for images `indices`, averaged over the five crops when asked.

    The five crops of a batch go through the model as one batch of 5 × B. With `static` (for a
    compiled model) every batch has `batch_size` images, the last padded and its padding
    dropped from the output: in eval mode rows do not interact, so the scores are the same.
    Under DDP each rank scores its shard; rows are gathered so every rank returns them all.
    """
    world = world or distributed.World()
    model.eval()
    if len(indices) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    mine = shard(np.asarray(indices), world.rank, world.size)
    out = []
    for batch in Batches(store, mine, batch_size, None, static=static):
        images = batch.images
        if crops == "five":
            x = five_crops(images, crop)
            b, k = x.shape[:2]
            x = x.flatten(0, 1)
        else:
            x, b, k = center_crop(images, crop), len(images), 1
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(store.device, amp_dtype):
            logits = model(x).float()
        probs = logits.softmax(-1) if activation == "softmax" else logits.sigmoid()
        out.append(probs.view(b, k, -1).mean(1)[: batch.count])
    rows = distributed.gather_rows(torch.cat(out), world)
    return rows[: len(indices)].cpu().numpy()
