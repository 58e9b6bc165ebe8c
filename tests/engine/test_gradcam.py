"""Grad-CAM: a map of the image's size in [0, 1], per class, that points at the evidence."""

import math

import numpy as np
import pytest
import torch

from training.engine.config import ConfigError
from training.engine.gradcam import TARGET_LAYERS, colour, grad_cam
from training.engine.modeling import ARCHITECTURES, build_model
from training.engine.runner import run
from training.inference import load_trained

SIZE, CROP = 64, 56


def _signal_in_one_corner(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A generated radiograph (as make_synthetic_dataset draws them) whose disease grating
    covers one 24 × 24 patch only, and the mask of that patch."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    rng = np.random.default_rng(seed)
    image = 90 + 60 * np.exp(-(((xx - SIZE / 2) / (0.35 * SIZE)) ** 2))
    image += rng.normal(0, 20, (SIZE, SIZE))
    grating = 40 * np.sin(xx * 2 * math.pi / 5.0)  # disease_1's grating (theta 0, period 5)
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[8:32, 8:32] = True
    image[mask] += grating[mask]
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture(scope="module")
def trained(dataset_dir, tmp_path_factory):
    """The tiny model trained on normal vs abnormal (separable gratings), about a second."""
    from training.engine.config import from_dict

    output = tmp_path_factory.mktemp("gradcam") / "run"
    config = from_dict({"dataset": str(dataset_dir), "output": str(output), "arch": "tiny",
                        "crop": CROP, "epochs": 3, "batch_size": 32, "eval_batch_size": 64,
                        "lr": 0.05, "min_count": 20, "device": "cpu", "log_every": 5,
                        "flip": True, "task": "normal_abnormal"}).validate()  # fmt: skip
    assert run(config)["test"]["auc"] > 0.9
    return load_trained(output / "best.pt", "cpu")


def test_the_map_has_the_image_size_and_unit_range_and_is_zero_outside_the_crop(trained):
    image, _ = _signal_in_one_corner()
    heat = grad_cam(trained.model, "tiny", image, trained.class_names.index("abnormal"), CROP)
    assert heat.shape == (SIZE, SIZE) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    border = (SIZE - CROP) // 2
    assert not heat[:border].any() and not heat[:, :border].any()
    assert not heat[SIZE - border :].any() and not heat[:, SIZE - border :].any()


def test_the_map_concentrates_where_the_trained_signal_is(trained):
    image, mask = _signal_in_one_corner()
    abnormal = grad_cam(trained.model, "tiny", image, trained.class_names.index("abnormal"), CROP)
    share_of_area = mask.sum() / CROP**2  # 0.18 of the crop
    assert abnormal[mask].sum() / abnormal.sum() > 0.5 > 2 * share_of_area
    # the peak sits inside the patch
    row, column = np.unravel_index(abnormal.argmax(), abnormal.shape)
    assert mask[row, column]


def test_each_class_gets_its_own_map(trained):
    image, mask = _signal_in_one_corner()
    normal = grad_cam(trained.model, "tiny", image, trained.class_names.index("normal"), CROP)
    abnormal = grad_cam(trained.model, "tiny", image, trained.class_names.index("abnormal"), CROP)
    assert np.abs(normal - abnormal).mean() > 0.05
    # the evidence for "normal" is away from the disease patch
    assert normal[mask].sum() / max(normal.sum(), 1e-6) < 0.3


def test_the_model_is_left_as_it_was(trained):
    image, _ = _signal_in_one_corner()
    before = {k: v.clone() for k, v in trained.model.state_dict().items()}
    grad_cam(trained.model, "tiny", image, 1, CROP)
    layer = trained.model.backbone.features
    assert not layer._forward_hooks
    assert all(p.grad is None for p in trained.model.parameters())
    for key, value in trained.model.state_dict().items():
        torch.testing.assert_close(value, before[key])


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_has_a_grad_cam_layer(arch):
    torch.manual_seed(0)
    model = build_model(arch, 3).eval()
    image = np.random.default_rng(0).integers(0, 256, (72, 72), dtype=np.uint8)
    heat = grad_cam(model, arch, image, 2, 64)
    assert set(TARGET_LAYERS) == set(ARCHITECTURES)
    assert heat.shape == (72, 72) and 0 <= heat.min() and heat.max() <= 1
    assert heat.max() > 0  # a random model still looks somewhere


def test_bad_input_is_a_clear_error(trained):
    image, _ = _signal_in_one_corner()
    with pytest.raises(ConfigError, match="crop"):
        grad_cam(trained.model, "tiny", image[:40, :40], 0, CROP)
    with pytest.raises(ValueError, match="class index 5"):
        grad_cam(trained.model, "tiny", image, 5, CROP)
    with pytest.raises(ValueError, match="2-D uint8"):
        grad_cam(trained.model, "tiny", image.astype(np.float32), 0, CROP)


def test_colour_is_transparent_where_cold_and_opaque_red_where_hot():
    rgba = colour(np.array([[0.0, 1.0]], dtype=np.float32))
    assert rgba.dtype == np.uint8 and rgba.shape == (1, 2, 4)
    assert rgba[0, 0, 3] == 0
    assert tuple(rgba[0, 1]) == (255, 0, 0, 255)
