"""The architecture factory: heads, grayscale handling, local pretrained weights."""

import pytest
import torch
import torchvision

from training.engine.config import ConfigError
from training.engine.modeling import build_model, resolve_weights


def test_tiny_model_head_has_one_output_per_class_for_both_grayscale_modes():
    x = torch.rand(2, 1, 56, 56)
    assert build_model("tiny", 7)(x).shape == (2, 7)
    folded = build_model("tiny", 3, grayscale="fold")
    assert folded.backbone.features[0][0].in_channels == 1
    assert folded(x).shape == (2, 3)


def test_folding_sums_the_pretrained_rgb_kernels(tmp_path):
    reference = torchvision.models.efficientnet_b0()
    torch.save(reference.state_dict(), tmp_path / "efficientnet_b0_rwightman-7f5810bc.pth")
    model = build_model("efficientnet_b0", 10, weights=str(tmp_path), grayscale="fold")
    first = model.backbone.features[0][0]
    torch.testing.assert_close(first.weight, reference.features[0][0].weight.sum(1, keepdim=True))
    assert model.backbone.classifier[1].out_features == 10
    # the pretrained body came through unchanged
    torch.testing.assert_close(model.backbone.features[1][0].block[0][0].weight,
                               reference.features[1][0].block[0][0].weight)  # fmt: skip


def test_weights_directory_without_the_file_names_every_path_tried(tmp_path):
    with pytest.raises(ConfigError, match="resnet50-11ad3fa6.pth or .*resnet50-0676ba61.pth"):
        resolve_weights("resnet50", str(tmp_path))
    assert resolve_weights("resnet50", "none") is None


def test_weights_for_another_architecture_are_refused_clearly(tmp_path):
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(torchvision.models.efficientnet_b0().state_dict(), path)
    with pytest.raises(ConfigError, match=f"weights: {path} does not fit this architecture"):
        build_model("vgg16", 2, weights=str(path))


def test_the_architecture_names_known_without_torchvision_match_the_factory():
    from training.engine.config import ARCH_NAMES
    from training.engine.modeling import ARCHITECTURES, HEADS

    assert tuple(ARCHITECTURES) == ARCH_NAMES
    assert set(HEADS) == set(ARCH_NAMES)
