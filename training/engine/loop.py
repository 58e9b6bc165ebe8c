"""The hot loops: one training epoch, and prediction with crop averaging.

Nothing here knows about files, tasks or configs: tensors in, numbers out. Mixed precision is
`torch.autocast` with the dtype the caller picked (bf16, or fp16 with a GradScaler); the loss is
only read back from the GPU at logging points, so the loop never waits on the device needlessly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from . import distributed
from .data import Batches, ImageStore, shard
from .transforms import center_crop, five_crops

OnLog = Callable[[int, float, float], None]  # (steps done this epoch, mean loss, images/s)
# Called after every batch, on the host only (reads nothing from the device); raises to stop
# the run at this batch boundary (the job's code raises its own cancel exception).
Check = Callable[[], None]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def train_one_epoch(
    model: nn.Module,
    batches: Batches,
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
) -> float:
    """Train over `batches` (uint8 images and targets on the device); return the mean loss.

    Progress goes to `on_log` after the first and second batch (so that a slow model shows a
    rate and an ETA at once), then every `log_every` batches and after the last. Only there is
    the loss read back from the device. `check` runs after every batch.

    With accumulate > 1 the optimiser steps every `accumulate` batches (and on the last one);
    under DDP the gradient all-reduce is skipped on the batches in between.
    """
    model.train()
    n = len(batches)
    device = next(model.parameters()).device
    total = torch.zeros((), device=device)
    window_start, window_images = time.perf_counter(), 0
    for i, (images, targets) in enumerate(batches):
        x = augment(images)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        stepping = (i + 1) % accumulate == 0 or i + 1 == n
        sync = (
            contextlib.nullcontext()
            if stepping or not hasattr(model, "no_sync")
            else model.no_sync()
        )
        with sync:
            with autocast(device, amp_dtype):
                loss = loss_fn(model(x), targets)
            scaled = loss / accumulate
            (scaler.scale(scaled) if scaler else scaled).backward()
        if stepping:
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if scheduler is not None:
                scheduler.step()
        total += loss.detach()
        window_images += len(x)
        if on_log and (i < 2 or (i + 1) % log_every == 0 or i + 1 == n):
            mean_loss = float(total.item()) / (
                i + 1
            )  # .item() waits for the device: timing is honest
            now = time.perf_counter()
            on_log(i + 1, mean_loss, window_images / max(now - window_start, 1e-9))
            window_start, window_images = now, 0
        if check is not None:
            check()
    return float(total.item()) / max(n, 1)


@torch.no_grad()
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
) -> np.ndarray:
    """Probabilities (n × K) for images `indices`, averaged over the five crops when asked.

    Under DDP each rank scores its shard; rows are gathered so every rank returns them all.
    """
    world = world or distributed.World()
    model.eval()
    if len(indices) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    mine = shard(np.asarray(indices), world.rank, world.size)
    out = []
    for images, _ in store.batches(mine, batch_size):
        if crops == "five":
            x = five_crops(images, crop)
            b, k = x.shape[:2]
            x = x.flatten(0, 1)
        else:
            x, b, k = center_crop(images, crop), len(images), 1
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(store.device, amp_dtype):
            logits = model(x).float()
        probs = logits.softmax(-1) if activation == "softmax" else logits.sigmoid()
        out.append(probs.view(b, k, -1).mean(1))
    rows = distributed.gather_rows(torch.cat(out), world)
    return rows[: len(indices)].cpu().numpy()
