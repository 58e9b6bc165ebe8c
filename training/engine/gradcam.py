"""Grad-CAM (Selvaraju et al., 2017): where in an image the evidence for one class sits.

The class score's gradient with respect to the last convolutional block's activations, averaged
over space, weighs that block's channels; their weighted sum, rectified, is the map. It is
upsampled to the crop and put back where the crop came from, so it lines up with the stored
image. The image is prepared exactly as evaluation prepares it (a centre crop of the uint8
cache image), so the map explains the score the run reports.

    heat = grad_cam(model, "resnet50", image, class_index=3, crop=224)  # H × W in [0, 1]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ConfigError
from .transforms import center_crop

# The last convolutional block of each backbone (dotted path under Classifier.backbone): the
# deepest layer that still has a spatial grid.
TARGET_LAYERS = {
    "vgg16": "features.29",  # the last ReLU, before the final max-pool halves the grid
    "resnet101": "layer4",
    "resnet50": "layer4",
    "densenet121": "features",  # ends with norm5; DenseNet's forward applies the ReLU after it
    "efficientnet_b0": "features",  # ends with the 1 × 1 convolution to 1280 channels
    "tiny": "features",
}


def target_layer(model: nn.Module, arch: str) -> nn.Module:
    if arch not in TARGET_LAYERS:
        raise ConfigError(f"arch: no Grad-CAM layer known for {arch!r}")
    return model.backbone.get_submodule(TARGET_LAYERS[arch])


def grad_cam(
    model: nn.Module, arch: str, image: np.ndarray, class_index: int, crop: int
) -> np.ndarray:
    """Float32 map of the image's size, in [0, 1] (all zeros when nothing speaks for the class).

    ``image`` is one H × W uint8 image; the score is the class's logit, before sigmoid or
    softmax, as in the paper.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"grad_cam wants one 2-D uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape
    if crop > min(height, width):
        raise ConfigError(f"crop: the run crops {crop}, the image is {height}×{width}")
    device = next(model.parameters()).device
    # a copy: cache rows are read-only memory maps
    x = center_crop(torch.from_numpy(image.copy())[None], crop).to(device)
    activations, gradients = _activations_and_gradients(model, arch, x, class_index)
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activations).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=(crop, crop), mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    cam = (cam / peak).clamp_(0, 1) if peak > 0 else torch.zeros_like(cam)
    heat = np.zeros((height, width), dtype=np.float32)
    top, left = (height - crop) // 2, (width - crop) // 2
    heat[top : top + crop, left : left + crop] = cam.detach().cpu().numpy()
    return heat


def _activations_and_gradients(
    model: nn.Module, arch: str, x: torch.Tensor, class_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    kept: list[torch.Tensor] = []

    def keep(_module, _inputs, output: torch.Tensor) -> torch.Tensor:
        kept.append(output)
        # What follows may work in place (DenseNet's ReLU): it gets a copy, the kept
        # activations stay what the block produced.
        return output.clone()

    handle = target_layer(model, arch).register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(x.requires_grad_(True))  # a graph even if the weights are frozen
            if not 0 <= class_index < logits.shape[1]:
                raise ValueError(f"class index {class_index} is outside the model's outputs")
            (gradients,) = torch.autograd.grad(logits[0, class_index], kept[0])
    finally:
        handle.remove()
    return kept[0].detach(), gradients.detach()


def colour(heat: np.ndarray) -> np.ndarray:
    """H × W × 4 uint8: a blue-cyan-yellow-red ramp whose opacity grows with the heat, so the
    image shows through where the model did not look."""
    heat = np.clip(heat, 0.0, 1.0)
    stops = np.array([0.0, 0.35, 0.65, 1.0])
    ramp = np.array([[0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0]], dtype=np.float32)
    rgb = np.stack([np.interp(heat, stops, ramp[:, c]) for c in range(3)], axis=-1)
    alpha = np.clip(heat * 1.5, 0.0, 1.0) * 255
    return np.concatenate([rgb, alpha[..., None]], axis=-1).round().astype(np.uint8)
