"""A training step never makes the host wait for the device: the loss is read at log points
only, crop offsets and batch indices are drawn and sliced on the device."""

import numpy as np
import pytest
import torch
from torch import nn

from training.engine.data import Batches, ImageStore, open_dataset
from training.engine.loop import TrainStep, train_one_epoch
from training.engine.modeling import build_model
from training.engine.transforms import TrainAugment

from .syncguard import HostSync, SyncGuard

# the GPU path where there is one (cache on the device, side stream), the CPU path elsewhere
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture
def parts(dataset_dir):
    torch.manual_seed(0)
    images = open_dataset(dataset_dir).images
    store = ImageStore(images, DEVICE, on_device=DEVICE.type == "cuda")
    targets = torch.randint(0, 3, (len(images),), device=DEVICE)
    model = build_model("tiny", 3).to(DEVICE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (step + 1))
    augment = TrainAugment(56, flip=True, degrees=5, scale=0.05, device=DEVICE)
    augment.reseed(3)
    return store, targets, model, optimizer, scheduler, augment


def test_the_guard_catches_item_float_and_data_dependent_shapes():
    t = torch.ones(3)
    for read in (lambda: t.sum().item(), lambda: float(t.sum()), lambda: t[t > 0],
                 lambda: bool(t.sum())):  # fmt: skip
        with pytest.raises(HostSync), SyncGuard():
            read()


def test_training_steps_with_a_padded_batch_never_synchronise(parts):
    store, targets, model, optimizer, scheduler, augment = parts
    order = np.arange(20)  # batches of 8, 8 and 4 real + 4 padding
    batches = list(Batches(store, order, 8, targets))
    assert batches[-1].mask is not None
    step = TrainStep(model, augment, nn.CrossEntropyLoss(), optimizer, scheduler,
                     accumulate=2, channels_last=True)  # fmt: skip
    model.train()
    total = torch.zeros((), device=DEVICE)
    with SyncGuard() as guard:
        for k, batch in enumerate(batches):
            total += step(batch.images, batch.targets, batch.mask, stepping=k % 2 == 1)
    assert guard.host_to_device == 0
    assert total.item() > 0  # read after the steps, outside the guard


def test_an_epoch_reads_the_device_only_at_log_points(parts):
    store, targets, model, optimizer, scheduler, augment = parts
    order = np.arange(92)  # 12 batches of 8, the last padded
    batches = Batches(store, order, 8, targets)
    logged = []
    with SyncGuard(counting=True) as guard:
        train_one_epoch(model, batches, augment, nn.CrossEntropyLoss(), optimizer, scheduler,
                        log_every=5, warmup_steps=1,
                        on_log=lambda done, loss, ips: logged.append(done))  # fmt: skip
    # warm-up end, the first two steps after it, every 5th, the last; then the epoch's mean
    assert logged == [1, 2, 3, 5, 10, 12]
    assert guard.reads == len(logged) + 1


def test_an_epoch_nobody_watches_reads_the_device_once(parts):
    store, targets, model, optimizer, scheduler, augment = parts
    with SyncGuard(counting=True) as guard:
        train_one_epoch(model, Batches(store, np.arange(60), 8, targets), augment,
                        nn.CrossEntropyLoss(), optimizer, scheduler)  # fmt: skip
    assert guard.reads == 1


def test_the_profiler_sees_no_scalar_read_and_no_copy_across_devices_in_a_step(parts):
    store, targets, model, optimizer, scheduler, augment = parts
    batches = list(Batches(store, np.arange(24), 8, targets))
    step = TrainStep(model, augment, nn.CrossEntropyLoss(), optimizer, scheduler)
    model.train()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for batch in batches:
            step(batch.images, batch.targets, batch.mask)
    names = [e.name for e in prof.events()]
    assert names.count("aten::conv2d") >= 3 * len(batches)  # the profiler did see the steps
    assert "aten::_local_scalar_dense" not in names and "aten::item" not in names
