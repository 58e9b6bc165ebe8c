"""A Grad-CAM overlay asked for through the route and made by a real `celery worker` process.

The worker listens on a queue of this test's own: the filesystem broker's folder is shared by
every test run on the machine, and another run's worker must not take (or be sent) our work.
"""

import os
import signal
import subprocess
import sys
import uuid

import pytest
from django.conf import settings
from django.urls import reverse

from lab.celery import app
from results import heatmaps
from results.models import Heatmap
from tests.training.label_sets import frozen_label_set
from tests.training.runs import trained_job
from tests.training.test_worker import ROOT, database_url, wait_for
from training.models import Prediction

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(monkeypatch) -> str:
    name = f"heatmaps-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(heatmaps, "QUEUE", name)
    return name


@pytest.fixture
def worker(tmp_path, queue):
    """`celery -A lab worker` on the test's queue, against the test's database and folders."""
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": database_url(),
           "CXR_DATA_DIR": str(settings.DATA_DIR), "CXR_BROKER_DIR": str(settings.BROKER_DIR),
           "CXR_CACHE_IMAGE_SIZE": str(settings.CACHE_IMAGE_SIZE)}  # fmt: skip
    log = tmp_path / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "lab", "worker", "-Q", queue, "--concurrency", "1",
         "-n", f"{queue}@%h", "--loglevel", "INFO"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    yield log
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


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
