"""Augmentation on uint8 batches already on the device, so the CPU stays out of the hot loop.

Inputs are B × S × S uint8 tensors; outputs are B × 1 × C × C float tensors in [0, 1] (the
model normalises). A random crop with an optional horizontal flip is a single gather; the small
affine (rotation, zoom) is one `grid_sample` and only runs when asked for.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_crop(
    batch: torch.Tensor, crop: int, generator: torch.Generator, flip: bool = False
) -> torch.Tensor:
    """Per-image random crop (and left-right flip), as one advanced-indexing gather."""
    b, h, w = batch.shape
    if crop > min(h, w):
        raise ValueError(f"crop {crop} is larger than the stored images ({h}×{w})")
    # offsets come from a CPU generator: reproducible on any device, a few bytes to copy
    y0 = torch.randint(0, h - crop + 1, (b, 1), generator=generator)
    x0 = torch.randint(0, w - crop + 1, (b, 1), generator=generator)
    ar = torch.arange(crop).unsqueeze(0)
    cols = x0 + ar
    if flip:
        mirrored = torch.rand(b, 1, generator=generator) < 0.5
        cols = torch.where(mirrored, x0 + crop - 1 - ar, cols)
    dev = batch.device
    rows = (y0 + ar).to(dev, non_blocking=True)
    cols = cols.to(dev, non_blocking=True)
    idx = torch.arange(b, device=dev)[:, None, None]
    return batch[idx, rows[:, :, None], cols[:, None, :]]


def random_affine(
    images: torch.Tensor, generator: torch.Generator, degrees: float, scale: float
) -> torch.Tensor:
    """Small random rotation (± degrees) and zoom (1 ± scale) of a float B × 1 × H × W batch."""
    b = images.shape[0]
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(b, generator=generator) * 2 - 1) * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, torch.zeros(b)], 1), torch.stack([sin, cos, torch.zeros(b)], 1)],
        1,
    ).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_float(batch: torch.Tensor) -> torch.Tensor:
    """uint8 B × H × W → float B × 1 × H × W in [0, 1]."""
    return batch.unsqueeze(1).float().div_(255.0)


class TrainAugment:
    """Callable used by the training loop: crop, flip, optional affine; seeded per epoch."""

    def __init__(self, crop: int, flip: bool, degrees: float = 0.0, scale: float = 0.0):
        self.crop, self.flip, self.degrees, self.scale = crop, flip, degrees, scale
        self.generator = torch.Generator()

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = to_float(random_crop(batch, self.crop, self.generator, self.flip))
        if self.degrees or self.scale:
            x = random_affine(x, self.generator, self.degrees, self.scale)
        return x


def center_crop(batch: torch.Tensor, crop: int) -> torch.Tensor:
    """Centre crop of a uint8 B × S × S batch, as float B × 1 × C × C."""
    h, w = batch.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    return to_float(batch[:, top : top + crop, left : left + crop])


def five_crops(batch: torch.Tensor, crop: int) -> torch.Tensor:
    """The paper's test-time crops: four corners and the centre, as float B × 5 × 1 × C × C."""
    h, w = batch.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    corners = [(0, 0), (0, w - crop), (h - crop, 0), (h - crop, w - crop), (top, left)]
    crops = [batch[:, y : y + crop, x : x + crop] for y, x in corners]
    return torch.stack(crops, 1).unsqueeze(2).float().div_(255.0)
