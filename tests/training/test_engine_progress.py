"""The engine's side of a job that keeps its user informed: progress from the first batch, an
ETA once two points exist, a stop at the next batch boundary, and a missing weights file that
names itself and its folder. Engine only: no Django, no database."""

import pytest
import torch
from torch import nn

from training.engine.config import ConfigError
from training.engine.loop import train_one_epoch
from training.engine.modeling import build_model, resolve_weights
from training.engine.runner import Eta


class Stop(Exception):
    pass


def batches(count: int, size: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randint(0, 256, (size, 32, 32), dtype=torch.uint8, generator=generator),
         torch.randint(0, 2, (size,), generator=generator))
        for _ in range(count)
    ]  # fmt: skip


def epoch(data, **kwargs) -> float:
    model = build_model("tiny", 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def augment(images: torch.Tensor) -> torch.Tensor:
        return images.float().unsqueeze(1) / 255

    return train_one_epoch(model, data, augment, nn.CrossEntropyLoss(), optimizer, **kwargs)


def test_progress_comes_after_the_first_and_second_batch_then_every_log_every():
    logged = []
    epoch(batches(25), log_every=10, on_log=lambda done, loss, ips: logged.append(done))
    assert logged == [1, 2, 10, 20, 25]


def test_every_point_carries_a_loss_and_a_rate():
    points = []
    epoch(batches(3), log_every=10, on_log=lambda *point: points.append(point))
    assert [done for done, _, _ in points] == [1, 2, 3]
    assert all(loss > 0 and ips > 0 for _, loss, ips in points)


def test_the_check_runs_after_every_batch_and_stops_the_epoch_at_that_boundary():
    seen = []

    def check() -> None:
        seen.append(len(seen) + 1)
        if len(seen) == 3:
            raise Stop

    with pytest.raises(Stop):
        epoch(batches(10), check=check)
    assert seen == [1, 2, 3]  # batches 4 to 10 never ran


def test_the_eta_waits_for_two_points_then_follows_the_pace_between_them():
    eta = Eta(total_steps=100)
    assert eta.at(1, now=50.0) is None  # the first batch includes warm-up: no pace yet
    assert eta.at(2, now=52.0) == pytest.approx(2.0 * 98)
    assert eta.at(11, now=60.0) == pytest.approx(1.0 * 89)


def test_a_missing_weights_file_names_the_file_and_the_folder(tmp_path):
    with pytest.raises(ConfigError) as missing:
        resolve_weights("vgg16", str(tmp_path))
    assert str(missing.value) == (
        f"weights: {tmp_path / 'vgg16-397923af.pth'} not found: the folder {tmp_path} needs the "
        "file vgg16-397923af.pth"
    )


def test_a_missing_weights_folder_is_named_with_the_file_it_should_hold(tmp_path):
    folder = tmp_path / "hub" / "checkpoints"
    with pytest.raises(ConfigError) as missing:
        resolve_weights("resnet101", str(folder))
    message = str(missing.value)
    assert f"the folder {folder}, which does not exist," in message
    assert message.endswith("needs the file resnet101-cd907fc2.pth or resnet101-63fe2227.pth")


def test_a_missing_weights_file_given_by_its_path_names_it(tmp_path):
    path = tmp_path / "resnet101-63fe2227.pth"
    with pytest.raises(ConfigError, match=f"^weights: {path} not found$"):
        resolve_weights("resnet101", str(path))
