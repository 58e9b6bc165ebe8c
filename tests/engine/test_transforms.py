"""GPU-style batch augmentation on uint8 tensors (run here on the CPU)."""

import torch

from training.engine.transforms import (
    TrainAugment,
    center_crop,
    five_crops,
    random_affine,
    random_crop,
)  # fmt: skip


def _batch(b=4, s=10):
    return torch.arange(b * s * s, dtype=torch.int32).reshape(b, s, s).to(torch.uint8)


def test_random_crop_is_a_window_of_each_image_and_flip_mirrors_it():
    batch = _batch()
    g = torch.Generator().manual_seed(0)
    crops = random_crop(batch, 6, g, flip=True)
    assert crops.shape == (4, 6, 6) and crops.dtype == torch.uint8
    for img, crop in zip(batch, crops, strict=True):
        windows = [img[y : y + 6, x : x + 6] for y in range(5) for x in range(5)]
        assert any(torch.equal(crop, w) or torch.equal(crop, w.flip(-1)) for w in windows)


def test_augmentation_is_reproducible_from_its_seed():
    aug = TrainAugment(crop=6, flip=True, degrees=5, scale=0.05)
    aug.reseed(7)
    first = aug(_batch())
    aug.reseed(7)
    assert torch.equal(first, aug(_batch()))
    assert first.shape == (4, 1, 6, 6) and 0 <= first.min() and first.max() <= 1


def test_zero_affine_is_the_identity():
    x = torch.rand(2, 1, 8, 8)
    out = random_affine(x, torch.Generator().manual_seed(0), degrees=0, scale=0)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_five_crops_are_the_four_corners_and_the_centre():
    batch = _batch(b=1, s=10)
    crops = five_crops(batch, 6)[0, :, 0] * 255
    img = batch[0].float()
    expected = [img[:6, :6], img[:6, 4:], img[4:, :6], img[4:, 4:], img[2:8, 2:8]]
    for got, want in zip(crops, expected, strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(center_crop(batch, 6)[0, 0] * 255, img[2:8, 2:8])
