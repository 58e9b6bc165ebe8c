"""Grad-CAM overlays: asked for on the study page, made once by a worker, served from the file.

The worker's task is called in-process here on the row the request queued (the code a worker
runs); tests/results/test_heatmap_worker.py runs the same flow through a real worker process.
"""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from jobs.models import Job
from labeling.models import Instance, Study
from results import heatmaps
from results.models import Heatmap
from results.tasks import compute_heatmap
from tests.factories import make_instance, make_study
from tests.training.label_sets import frozen_label_set
from tests.training.runs import trained_job
from training.models import Prediction


@pytest.fixture
def run(personas, tmp_path, settings) -> Job:
    """A tiny normal-vs-abnormal run trained in-process on 48 ingested demo images (64²)."""
    settings.CACHE_IMAGE_SIZE = 64
    return trained_job(personas.team, personas.owner, frozen_label_set(personas.team, tmp_path))


@pytest.fixture
def image(run) -> Instance:
    """A test-split image: the study page shows the run's prediction for it."""
    return Prediction.objects.filter(job=run).select_related("instance").first().instance


def url(job, instance, label="abnormal") -> str:
    return reverse("results:heatmap", kwargs={"pk": job.pk, "instance": instance.pk,
                                              "label": label})  # fmt: skip


def test_a_map_is_queued_computed_by_the_worker_task_and_served_as_png(
    client, personas, run, image, django_capture_on_commit_callbacks
):
    client.force_login(personas.teammate)  # a viewer may ask: a map changes no data
    assert client.get(url(run, image)).json() == {"status": "none"}
    with django_capture_on_commit_callbacks() as sent:
        response = client.post(url(run, image))
    assert response.status_code == 202 and response.json() == {"status": "queued"}
    assert len(sent) == 1
    pending = client.get(url(run, image))
    assert pending.status_code == 202 and pending.json() == {"status": "queued"}

    compute_heatmap(Heatmap.objects.get().pk)

    response = client.get(url(run, image))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    png = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert png.mode == "RGBA" and png.size == (64, 64)  # the cached image's size
    alpha = np.asarray(png)[..., 3]
    assert alpha.max() > 0  # something is drawn
    assert not alpha[:4].any() and not alpha[:, :4].any()  # nothing outside the 56² centre crop
    row = Heatmap.objects.get()
    assert (row.status, row.computations, row.label) == ("succeeded", 1, "abnormal")
    assert row.run == run and row.instance == image and row.team == personas.team
    assert heatmaps.png_path(run, image.pk, "abnormal").parent.parent.name == f"job-{run.pk}"


def test_asking_again_is_served_from_the_file_without_recomputing(
    client, personas, run, image, django_capture_on_commit_callbacks
):
    client.force_login(personas.owner)
    client.post(url(run, image))
    row = Heatmap.objects.get()
    compute_heatmap(row.pk)
    path = heatmaps.png_path(run, image.pk, "abnormal")
    written = path.stat().st_mtime_ns
    with django_capture_on_commit_callbacks() as sent:
        again = client.post(url(run, image))
    assert again.status_code == 200 and again.json() == {"status": "succeeded"}
    assert sent == []  # nothing queued
    compute_heatmap(row.pk)  # a stray redelivery is refused: the row is not queued
    assert client.get(url(run, image))["Content-Type"] == "image/png"
    row.refresh_from_db()
    assert row.computations == 1
    assert path.stat().st_mtime_ns == written


def test_each_label_gets_its_own_map(client, personas, run, image):
    client.force_login(personas.owner)
    for label in ("normal", "abnormal"):
        client.post(url(run, image, label))
    for row in Heatmap.objects.all():
        compute_heatmap(row.pk)
    normal = heatmaps.png_path(run, image.pk, "normal").read_bytes()
    abnormal = heatmaps.png_path(run, image.pk, "abnormal").read_bytes()
    assert normal != abnormal
    assert Heatmap.objects.filter(job__status="succeeded").count() == 2


def test_a_failed_map_shows_its_error_and_asking_again_requeues_it(
    client, personas, run, image, django_capture_on_commit_callbacks
):
    undecoded = make_instance(image.study, cache_row=None)
    client.force_login(personas.owner)
    client.post(url(run, undecoded))
    compute_heatmap(Heatmap.objects.get().pk)
    failed = client.get(url(run, undecoded))
    assert failed.status_code == 200
    assert failed.json() == {
        "status": "failed",
        "error": "This image has no decoded pixels to explain.",
    }
    with django_capture_on_commit_callbacks() as sent:
        again = client.post(url(run, undecoded))
    assert again.status_code == 202 and again.json() == {"status": "queued"}
    assert len(sent) == 1 and Heatmap.objects.get().error == ""


def test_asking_while_the_map_is_pending_queues_nothing_more(
    client, personas, run, image, django_capture_on_commit_callbacks
):
    """A lost worker is the jobs layer's reaper's to handle (tests/results/test_heatmap_worker.py
    kills one mid-map); asking again meanwhile sends nothing."""
    client.force_login(personas.owner)
    client.post(url(run, image))
    with django_capture_on_commit_callbacks() as sent:
        assert client.post(url(run, image)).json() == {"status": "queued"}
    assert sent == []  # a worker was sent it a moment ago
    Job.objects.filter(heatmap__isnull=False).update(status="running")
    with django_capture_on_commit_callbacks() as sent:
        assert client.post(url(run, image)).json() == {"status": "running"}
    assert sent == []


def test_a_deleted_file_is_made_again(client, personas, run, image):
    client.force_login(personas.owner)
    client.post(url(run, image))
    compute_heatmap(Heatmap.objects.get().pk)
    heatmaps.png_path(run, image.pk, "abnormal").unlink()
    assert client.get(url(run, image)).json() == {"status": "none"}
    assert client.post(url(run, image)).status_code == 202
    compute_heatmap(Heatmap.objects.get().pk)
    assert Heatmap.objects.get().computations == 2


def test_a_prediction_job_s_map_is_its_training_run_s(client, personas, run, image):
    predict = Job.objects.create(team=personas.team, owner=personas.owner, kind="predict",
                                 status="succeeded", config={"source_job": run.pk})  # fmt: skip
    client.force_login(personas.owner)
    client.post(url(predict, image))
    compute_heatmap(Heatmap.objects.get().pk)
    assert Heatmap.objects.get().run == run
    assert client.get(url(run, image))["Content-Type"] == "image/png"  # one map, both routes


def test_an_unknown_label_is_400_and_queues_nothing(client, personas, run, image):
    client.force_login(personas.owner)
    response = client.post(url(run, image, "pneumothorax"))
    assert response.status_code == 400
    assert "pneumothorax" in response.json()["error"] and "abnormal" in response.json()["error"]
    assert client.get(url(run, image, "pneumothorax")).status_code == 400
    assert not Heatmap.objects.exists()


def test_a_run_without_a_model_is_400(client, personas, image):
    queued = Job.objects.create(team=personas.team, owner=personas.owner, kind="train")
    client.force_login(personas.owner)
    response = client.post(url(queued, image))
    assert response.status_code == 400 and "no trained model" in response.json()["error"]


def test_another_team_s_run_or_image_is_404(client, personas, run, image):
    foreign = make_instance(make_study(personas.other_team))
    client.force_login(personas.outsider)
    assert client.get(url(run, image)).status_code == 404
    assert client.post(url(run, image)).status_code == 404
    client.force_login(personas.owner)
    assert client.get(url(run, foreign)).status_code == 404
    assert client.post(url(run, foreign)).status_code == 404
    cluster = Job.objects.create(team=personas.team, kind="cluster", status="succeeded")
    assert client.get(url(cluster, image)).status_code == 404  # not a job with a model
    assert client.delete(url(run, image)).status_code == 405
    assert not Heatmap.objects.exists()


def test_the_study_page_offers_the_run_s_labels_for_the_viewer(client, personas, run, image):
    client.force_login(personas.teammate)
    page = client.get(reverse("labeling:study-detail", args=[image.study_id]))
    config = page.context["heatmap_config"]
    assert [r["id"] for r in config["runs"]] == [run.pk]
    assert [label["key"] for label in config["runs"][0]["labels"]] == ["normal", "abnormal"]
    assert config["instances"][image.sop_uid] == image.pk
    assert config["url"].replace("{run}", str(run.pk)).replace("{instance}", str(image.pk)) \
        .replace("{label}", "abnormal") == url(run, image)  # fmt: skip
    assert b"data-cxr-heatmap" in page.content


def test_a_study_without_predictions_has_no_overlay_control(client, personas, run):
    unscored = Study.objects.of_team(personas.team).exclude(instances__predictions__job=run)
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:study-detail", args=[unscored.first().pk]))
    assert page.context["heatmap_config"] is None
    assert b"data-cxr-heatmap" not in page.content


def test_a_case_gallery_link_preselects_its_run_and_label(client, personas, run, image):
    predict = Job.objects.create(team=personas.team, owner=personas.owner, kind="predict",
                                 status="succeeded", config={"source_job": run.pk})  # fmt: skip
    Prediction.objects.create(team=personas.team, job=predict, instance=image,
                              probabilities={"normal": 0.1, "abnormal": 0.9})  # fmt: skip
    study = reverse("labeling:study-detail", args=[image.study_id])
    client.force_login(personas.owner)

    def selected(query: str) -> dict:
        return client.get(f"{study}?{query}").context["heatmap_config"]["selected"]

    assert selected(f"run={predict.pk}&label=normal") == {"run": run.pk, "label": "normal"}
    assert selected(f"run={run.pk}&label=pneumothorax") == {"run": run.pk, "label": ""}
    assert selected("run=999999&label=normal") == {}
    assert selected("run=x") == {}
