"""A Grad-CAM overlay asked for through the route and made by a real `celery worker` process.

The worker listens on a queue of this test's own: the filesystem broker's folder is shared by
every test run on the machine, and another run's worker must not take (or be sent) our work.
Short heartbeat timings let the jobs layer's reaper requeue a killed worker's map within seconds.
"""

import dataclasses
import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from jobs import registry
from lab.celery import app
from results import heatmaps
from results.models import Heatmap
from tests.training.label_sets import frozen_label_set
from tests.training.runs import trained_job
from tests.training.test_worker import Worker, wait_for
from training.models import Prediction

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(monkeypatch) -> str:
    name = f"heatmaps-{uuid.uuid4().hex[:8]}"
    kind = dataclasses.replace(registry.get(heatmaps.KIND), queue=name)
    monkeypatch.setitem(registry.KINDS, heatmaps.KIND, kind)
    return name


@pytest.fixture
def workers(tmp_path, queue):
    started: list[Worker] = []

    def start(name: str, stall: Path | None = None) -> Worker:
        """A worker on this test's queue; with ``stall``, one whose maps stall mid-map."""
        celery = (
            ("-m", "tests.results.stalling_worker", str(stall))
            if stall
            else ("-m", "celery", "-A", "lab")
        )
        started.append(Worker(tmp_path, f"{queue}-{name}", queues=queue, command=celery))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(workers) -> Path:
    return workers("one").log


@pytest.fixture
def run(personas, tmp_path, settings, monkeypatch):
    """Trained in-process; its job message is not sent, so no other run's worker gets it."""
    settings.CACHE_IMAGE_SIZE = 64
    with monkeypatch.context() as patch:
        patch.setattr(app, "send_task", lambda *args, **kwargs: None)
        return trained_job(personas.team, personas.owner, frozen_label_set(personas.team, tmp_path))


def test_a_worker_makes_the_map_once_and_the_route_serves_it(client, personas, run, worker):
    image = Prediction.objects.filter(job=run).first().instance
    url = reverse("results:heatmap", args=[run.pk, image.pk, "abnormal"])
    client.force_login(personas.owner)
    assert client.post(url).status_code == 202
    answer = wait_for(lambda: (r := client.get(url)).status_code == 200 and r, 120,
                      "the worker's map", [worker])  # fmt: skip
    assert answer["Content-Type"] == "image/png", answer.content
    assert b"".join(answer.streaming_content).startswith(b"\x89PNG")
    row = Heatmap.objects.get()
    assert (row.status, row.computations) == ("succeeded", 1)
    written = heatmaps.png_path(run, image.pk, "abnormal").stat().st_mtime_ns
    assert client.post(url).json() == {"status": "succeeded"}  # served, not recomputed
    assert heatmaps.png_path(run, image.pk, "abnormal").stat().st_mtime_ns == written
    assert f"heatmap {row.pk} written" in worker.read_text()


def test_a_worker_killed_mid_map_is_reaped_and_another_worker_makes_the_map(
    client, personas, run, workers, tmp_path
):
    image = Prediction.objects.filter(job=run).first().instance
    url = reverse("results:heatmap", args=[run.pk, image.pk, "abnormal"])
    mid_map = tmp_path / "mid-map"
    first = workers("first", stall=mid_map)
    client.force_login(personas.owner)
    assert client.post(url).status_code == 202
    wait_for(mid_map.exists, 120, "the first worker to be mid-map", [first.log])
    first.kill()
    row = Heatmap.objects.select_related("job").get()
    assert mid_map.read_text() == str(row.pk)
    assert (row.status, row.job.attempts) == ("running", 1)
    # No worker beats for the map now: it waits for a reaper, and asking again sends nothing.
    assert client.post(url).json() == {"status": "running"}

    second = workers("second")
    answer = wait_for(lambda: (r := client.get(url)).status_code == 200 and r, 120,
                      "the second worker's map", [first.log, second.log])  # fmt: skip
    assert answer["Content-Type"] == "image/png", answer.content
    assert b"".join(answer.streaming_content).startswith(b"\x89PNG")
    row = Heatmap.objects.select_related("job").get()
    assert (row.status, row.computations, row.job.attempts) == ("succeeded", 1, 2)
    assert f"heatmap {row.pk} written" in second.log.read_text()
    assert f"heatmap {row.pk} written" not in first.log.read_text()
