"""Static shapes for a graph-captured step: the last batch padded and masked out of the loss,
evaluation padded and under inference mode, and a compiled run that matches the eager one with
its compiled graphs cached per host under CXR_DATA_DIR."""

import os
import socket
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from training.engine.data import Batches, ImageStore, open_dataset
from training.engine.loop import masked_loss, predict
from training.engine.modeling import build_model, configure_compile_cache, uses_cuda_graphs
from training.engine.runner import run


@pytest.fixture
def store(dataset_dir):
    return ImageStore(open_dataset(dataset_dir).images, torch.device("cpu"), on_device=False)


def test_the_last_batch_is_padded_with_real_images_and_masked(store):
    targets = torch.arange(len(store.images)) * 10
    order = np.arange(100, 120)
    batches = list(Batches(store, order, 8, targets))
    assert [b.images.shape[0] for b in batches] == [8, 8, 8]
    assert [b.count for b in batches] == [8, 8, 4]
    assert batches[0].mask is None
    assert batches[-1].mask.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    # the padding wraps around to the start of the order: real images, with their targets
    rows = np.concatenate([np.arange(116, 120), np.arange(100, 104)])
    assert torch.equal(batches[-1].images, torch.from_numpy(np.array(store.images[rows])))
    assert batches[-1].targets.tolist() == (rows * 10).tolist()


def test_without_static_shapes_the_last_batch_is_short(store):
    batches = list(Batches(store, np.arange(20), 8, None, static=False))
    assert [(b.images.shape[0], b.count, b.mask) for b in batches][-1] == (4, 4, None)


@pytest.mark.parametrize(
    "loss_fn, multi",
    [(nn.CrossEntropyLoss(), False),
     (nn.CrossEntropyLoss(weight=torch.tensor([0.5, 2.0, 1.0])), False),
     (nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 3.0, 0.5])), True)],
)  # fmt: skip
def test_the_masked_loss_of_a_padded_batch_is_the_loss_of_its_real_rows(loss_fn, multi):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 3, generator=g)
    targets = (torch.rand(8, 3, generator=g) < 0.4).float() if multi else torch.arange(8) % 3
    mask = (torch.arange(8) < 5).float()
    torch.testing.assert_close(masked_loss(loss_fn, logits, targets, mask),
                               loss_fn(logits[:5], targets[:5]))  # fmt: skip


def test_padded_evaluation_scores_like_the_unpadded_one_under_inference_mode(store):
    model = build_model("tiny", 3).eval()
    modes = []

    class Watched(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            modes.append((torch.is_inference_mode_enabled(), x.shape[0]))
            return self.inner(x)

    rows = np.arange(13)
    static = predict(Watched(), store, rows, 56, "five", batch_size=8, static=True)
    dynamic = predict(Watched(), store, rows, 56, "five", batch_size=8, static=False)
    np.testing.assert_allclose(static, dynamic, rtol=1e-5, atol=1e-6)
    assert static.shape == (13, 3)
    # five crops of each batch in one forward; static: always 8 images, padded
    assert modes == [(True, 40), (True, 40), (True, 40), (True, 25)]


def test_moving_the_read_only_cache_to_the_device_raises_no_warning(dataset_dir):
    images = open_dataset(dataset_dir).images
    assert not images.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        store = ImageStore(images, torch.device("cpu"), on_device=True)
    assert torch.equal(store.gather(np.array([5, 1])), torch.from_numpy(np.array(images[[5, 1]])))


def test_cuda_graphs_only_for_compiled_nondeterministic_single_gpu_runs():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert uses_cuda_graphs(True, True, cuda, deterministic=False, world_size=1)
    assert not uses_cuda_graphs(True, True, cuda, deterministic=True, world_size=1)
    assert not uses_cuda_graphs(True, True, cuda, deterministic=False, world_size=2)
    assert not uses_cuda_graphs(True, True, cpu, deterministic=False, world_size=1)
    assert not uses_cuda_graphs(False, True, cuda, deterministic=False, world_size=1)
    assert not uses_cuda_graphs(True, False, cuda, deterministic=False, world_size=1)


def test_the_compile_cache_goes_under_the_data_dir_per_host_unless_set(tmp_path):
    environ = {"CXR_DATA_DIR": str(tmp_path)}
    folder = tmp_path / "cache" / "inductor" / socket.gethostname()
    assert configure_compile_cache(environ) == str(folder) == environ["TORCHINDUCTOR_CACHE_DIR"]
    assert folder.is_dir()
    import torch._inductor.config as inductor_config

    assert inductor_config.fx_graph_cache is True
    chosen = {"CXR_DATA_DIR": str(tmp_path), "TORCHINDUCTOR_CACHE_DIR": "/elsewhere"}
    assert configure_compile_cache(chosen) == "/elsewhere"
    assert configure_compile_cache({}) is None  # torch's own default


@pytest.mark.slow
def test_a_compiled_run_learns_like_the_eager_one_and_caches_under_the_data_dir(
    tiny_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("CXR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    common = {"task": "normal_abnormal", "epochs": 1, "flip": False}
    eager = run(tiny_config(output=str(tmp_path / "eager"), **common))
    compiled = run(tiny_config(output=str(tmp_path / "compiled"), compile=True, **common))
    folder = tmp_path / "data" / "cache" / "inductor" / socket.gethostname()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    assert any(folder.rglob("*"))  # inductor wrote its graphs there
    loss_eager = eager["history"][0]["train_loss"]
    loss_compiled = compiled["history"][0]["train_loss"]
    assert loss_compiled == pytest.approx(loss_eager, rel=1e-3)
    assert compiled["test"]["auc"] == pytest.approx(eager["test"]["auc"], abs=0.02)
