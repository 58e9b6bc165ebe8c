"""The study viewer's Grad-CAM overlay in Debian chromium: ask, wait, see the map, hide it.

The page's request is queued as in production; the test plays the worker, running the task on
the row the page asked for (tests/results/test_heatmap_worker.py covers a real worker process).
"""

import time

import pytest
import torch
from django.core.management import call_command
from django.urls import reverse

from jobs.models import Job
from jobs.services import RUN_JOB_TASK
from lab.celery import app
from labeling.models import Instance
from results import heatmaps
from results.models import Heatmap
from results.tasks import compute_heatmap
from tests.browser.test_viewer import IMAGE_RECT, open_study
from training.engine.checkpoints import save_checkpoint
from training.engine.config import from_dict
from training.engine.modeling import build_model
from training.models import Prediction
from training.runs import job_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONTROLS = "[data-cxr-heatmap]"
# Alpha of the overlay canvas inside and outside a canvas rectangle: counts of drawn pixels.
OVERLAY_ALPHA = """([x0, y0, x1, y1]) => {
  const canvas = document.querySelector('[data-role=heatmap-overlay]');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inside = 0, outside = 0, peak = 0;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      const alpha = data[4 * (y * canvas.width + x) + 3];
      if (!alpha) continue;
      peak = Math.max(peak, alpha);
      if (x >= x0 - 1 && x <= x1 + 1 && y >= y0 - 1 && y <= y1 + 1) inside++; else outside++;
    }
  }
  return { inside, outside, peak, size: [canvas.width, canvas.height] };
}"""


@pytest.fixture
def explained(personas, tmp_path):
    """A demo radiograph (256²) and a run whose tiny, hand-set model scored it: every feature
    speaks for "abnormal", so its map is drawn wherever the image has structure."""
    call_command("demo", "--team", personas.team.name, "--images", "1", "--size", "256",
                 "--workers", "1", "--out", str(tmp_path / "demo"))  # fmt: skip
    instance = Instance.objects.select_related("study").get()
    run = Job.objects.create(team=personas.team, owner=personas.owner, kind="train",
                             status="succeeded", name="overlay run",
                             metrics={"class_names": ["normal", "abnormal"]})  # fmt: skip
    model = build_model("tiny", 2)
    with torch.no_grad():
        model.backbone.fc.weight.copy_(torch.tensor([[-1.0] * 32, [1.0] * 32]))
    config = from_dict({"arch": "tiny", "crop": 224, "dataset": "-", "output": "-"})
    save_checkpoint(job_folder(run) / "run" / "best.pt", {
        "config": config.to_dict(), "task": "normal_abnormal", "label_set_hash": "0",
        "class_names": ["normal", "abnormal"], "model": model.state_dict(),
    })  # fmt: skip
    Prediction.objects.create(team=personas.team, job=run, instance=instance, split="test",
                              probabilities={"normal": 0.2, "abnormal": 0.8})  # fmt: skip
    return run, instance


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Heatmap ids the pages queued (as the jobs of their maps), kept here instead of going to
    the shared broker."""
    ids: list[int] = []

    def send_task(name, args=(), **_options):
        assert name == RUN_JOB_TASK and Job.objects.get(pk=args[0]).kind == heatmaps.KIND
        ids.extend(Heatmap.objects.filter(job__in=args).values_list("pk", flat=True))

    monkeypatch.setattr(app, "send_task", send_task)
    return ids


def image_rect(page, instance) -> list[float]:
    return page.evaluate(IMAGE_RECT, [0, 0, instance.columns, instance.rows])


def wait_for_state(page, state: str) -> None:
    page.wait_for_selector(f"{CONTROLS}[data-state={state}]")


def queued_row(sent: list[int]) -> Heatmap:
    """The row the page's POST queued. The page says "pending" before its POST lands, so wait
    for the message, which is sent once the row is committed."""
    deadline = time.monotonic() + 15
    while not sent and time.monotonic() < deadline:
        time.sleep(0.05)
    return Heatmap.objects.get()


def test_the_overlay_is_asked_for_shown_over_the_image_faded_and_hidden(
    login, live_server, personas, explained, sent
):
    run, instance = explained
    page = open_study(login, live_server, personas.teammate, instance)
    page.select_option(f"{CONTROLS} [data-role=heatmap-label]", "abnormal")
    page.click(f"{CONTROLS} [data-role=heatmap-toggle]")
    wait_for_state(page, "pending")
    assert page.text_content(f"{CONTROLS} [data-role=heatmap-status]").strip()
    assert page.evaluate(OVERLAY_ALPHA, image_rect(page, instance))["inside"] == 0

    row = queued_row(sent)
    assert sent == [row.pk] and (row.run, row.instance, row.label) == (run, instance, "abnormal")
    compute_heatmap(row.pk)  # the worker's part
    wait_for_state(page, "shown")

    rect = image_rect(page, instance)
    drawn = page.evaluate(OVERLAY_ALPHA, rect)
    area = (rect[2] - rect[0]) * (rect[3] - rect[1])
    assert drawn["inside"] > 0.2 * area, drawn  # the map covers the image...
    assert drawn["outside"] == 0, drawn  # ...and nothing beside it
    assert 0 < drawn["peak"] <= round(0.6 * 255) + 1  # drawn at the slider's 60 % opacity

    page.fill(f"{CONTROLS} [data-role=heatmap-opacity]", "1")
    page.dispatch_event(f"{CONTROLS} [data-role=heatmap-opacity]", "input")
    assert page.evaluate(OVERLAY_ALPHA, rect)["peak"] == 255

    page.click(f"{CONTROLS} [data-role=heatmap-toggle]")
    wait_for_state(page, "off")
    assert page.evaluate(OVERLAY_ALPHA, rect)["inside"] == 0
    page.click(f"{CONTROLS} [data-role=heatmap-toggle]")  # on again: from memory, no request
    wait_for_state(page, "shown")
    assert page.evaluate(OVERLAY_ALPHA, rect)["inside"] > 0.2 * area
    assert sent == [row.pk]


def test_a_failed_map_shows_the_worker_s_message(login, live_server, personas, explained, sent):
    run, instance = explained
    (job_folder(run) / "run" / "best.pt").write_bytes(b"not a checkpoint")
    page = login(personas.owner)  # as a case gallery links to the study: run and label chosen
    study = reverse("labeling:study-detail", args=[instance.study_id])
    page.goto(f"{live_server.url}{study}?cpu=1&instance={instance.pk}&run={run.pk}&label=normal")
    page.wait_for_selector("[data-cxr-viewer][data-state=ready]")
    page.wait_for_selector("[data-role=heatmap-overlay]", state="attached")
    assert page.input_value(f"{CONTROLS} [data-role=heatmap-label]") == "normal"
    page.click(f"{CONTROLS} [data-role=heatmap-toggle]")
    wait_for_state(page, "pending")
    assert queued_row(sent).label == "normal"
    compute_heatmap(sent[0])
    wait_for_state(page, "error")
    status = page.text_content(f"{CONTROLS} [data-role=heatmap-status]")
    assert Heatmap.objects.get().error in status
    assert page.evaluate(OVERLAY_ALPHA, image_rect(page, instance))["inside"] == 0
