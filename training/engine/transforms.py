"""Augmentation on uint8 batches already on the device, so the CPU stays out of the hot loop.

Inputs are B × S × S uint8 tensors; outputs are B × 1 × C × C float tensors in [0, 1] (the
model normalises). A random crop with an optional horizontal flip is a single gather; the small
affine (rotation, zoom) is one `grid_sample` and only runs when asked for.

Random numbers come from a generator on the batch's device, seeded from the config: a step draws
its offsets there and copies nothing from the host, so it never waits on a host-to-device copy
(a pageable one is synchronous) and the run stays reproducible on a given device type. CPU and
CUDA generators give different sequences, so a run is reproducible per device type.
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
    dev = batch.device
    if generator.device.type != dev.type:
        raise ValueError(f"the generator is on {generator.device}, the batch on {dev}")
    # drawn where the batch is: nothing crosses from the host during a step
    y0 = torch.randint(0, h - crop + 1, (b, 1), generator=generator, device=dev)
    x0 = torch.randint(0, w - crop + 1, (b, 1), generator=generator, device=dev)
    ar = torch.arange(crop, device=dev).unsqueeze(0)
    cols = x0 + ar
    if flip:
        mirrored = torch.rand(b, 1, generator=generator, device=dev) < 0.5
        cols = torch.where(mirrored, x0 + crop - 1 - ar, cols)
    rows = y0 + ar
    idx = torch.arange(b, device=dev)[:, None, None]
    return batch[idx, rows[:, :, None], cols[:, None, :]]


def random_affine(
    images: torch.Tensor, generator: torch.Generator, degrees: float, scale: float
) -> torch.Tensor:
    """Small random rotation (± degrees) and zoom (1 ± scale) of a float B × 1 × H × W batch."""
    b, dev = images.shape[0], images.device
    angle = (torch.rand(b, generator=generator, device=dev) * 2 - 1) * math.radians(degrees)
    zoom = 1 + (torch.rand(b, generator=generator, device=dev) * 2 - 1) * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zero = torch.zeros(b, device=dev)
    theta = torch.stack(
        [torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1
    ).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def to_float(batch: torch.Tensor) -> torch.Tensor:
    """uint8 B × H × W → float B × 1 × H × W in [0, 1]."""
    return batch.unsqueeze(1).float().div_(255.0)


class TrainAugment:
    """Callable used by the training loop: crop, flip, optional affine; seeded per epoch, its
    generator on the device the batches are on."""

    def __init__(
        self,
        crop: int,
        flip: bool,
        degrees: float = 0.0,
        scale: float = 0.0,
        device: torch.device | str = "cpu",
    ):
        self.crop, self.flip, self.degrees, self.scale = crop, flip, degrees, scale
        self.generator = torch.Generator(device=torch.device(device))

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
