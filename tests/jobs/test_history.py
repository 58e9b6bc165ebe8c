"""A job's curve points stay bounded without losing the start of a long run: the newest points
stay dense, older ones are thinned evenly, the first point and the epoch points are kept."""

import pytest

from jobs import services as job_services
from jobs.models import Job
from jobs.services import compact_history


def step(number: int, epoch: int = 1) -> dict:
    return {"phase": "train", "epoch": epoch, "step": number, "loss": 1 / number}


def validation(epoch: int, number: int) -> dict:
    return {"phase": "validate", "epoch": epoch, "step": number, "val": {"auc": 0.5}}


def a_run(epochs: int, steps_per_epoch: int):
    """Progress points in the order the engine reports them."""
    number = 0
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            number += 1
            yield step(number, epoch)
        yield validation(epoch, number)


def recorded(points, limit: int) -> tuple[list[dict], int]:
    """The history as the row holds it after each point, and the longest it ever was."""
    history, longest = [], 0
    for point in points:
        history = compact_history([*history, point], limit)
        longest = max(longest, len(history))
    return history, longest


def train_steps(history: list[dict]) -> list[int]:
    return [p["step"] for p in history if p["phase"] == "train"]


def test_a_short_run_keeps_every_point():
    points = list(a_run(epochs=3, steps_per_epoch=5))
    assert compact_history(points, 2000) == points


def test_a_long_run_keeps_its_start_and_its_whole_curve_within_the_limit():
    history, longest = recorded(a_run(epochs=200, steps_per_epoch=20), limit=2000)  # 4,200 points
    assert longest == 2000
    steps = train_steps(history)
    assert steps[0] == 1  # the start of the curve survives
    assert steps[-500:] == list(range(3501, 4001))  # the newest quarter one by one
    gaps = [b - a for a, b in zip(steps, steps[1:], strict=False)]
    assert max(gaps) <= 8  # no stretch of the run is lost, however old
    assert max(gaps[:100]) > 1  # the oldest stretch is the thinned one
    assert [p["epoch"] for p in history if p["phase"] == "validate"] == list(range(1, 201))


def test_older_points_are_thinned_more_the_longer_the_run():
    short, _ = recorded(a_run(epochs=10, steps_per_epoch=300), limit=1000)
    long, _ = recorded(a_run(epochs=40, steps_per_epoch=300), limit=1000)
    first_gap = [steps[1] - steps[0] for steps in (train_steps(short), train_steps(long))]
    assert first_gap[0] < first_gap[1]  # the resolution of the start halves as the run grows
    assert train_steps(long)[0] == 1 and len(long) <= 1000


def test_a_run_of_more_epochs_than_the_limit_holds_thins_its_older_epochs_too():
    history, longest = recorded(a_run(epochs=3000, steps_per_epoch=1), limit=400)
    assert longest <= 400
    epochs = [p["epoch"] for p in history if p["phase"] == "validate"]
    assert epochs[0] == 1 and epochs[-50:] == list(range(2951, 3001))
    # 2,950 older epochs in the 150 places left: one in 32 at most (a power of two over 20)
    assert max(b - a for a, b in zip(epochs, epochs[1:], strict=False)) <= 32
    assert train_steps(history)[0] == 1


@pytest.fixture
def claimed(personas):
    job = Job.objects.create(team=personas.team, owner=personas.owner, kind="train", config={})
    return job_services.claim_job(job.pk, "worker-1")


def test_the_job_row_keeps_the_start_of_a_long_run(claimed, monkeypatch):
    monkeypatch.setattr(job_services, "HISTORY_LIMIT", 40)
    points = list(a_run(epochs=20, steps_per_epoch=15))  # 320 points
    for point in points:
        job_services.record_progress(claimed.pk, "worker-1", point)
    history = Job.objects.get(pk=claimed.pk).history
    assert len(history) <= 40
    assert history[0] == points[0] and history[-1] == points[-1]
    assert [p["epoch"] for p in history if p["phase"] == "validate"] == list(range(1, 21))
