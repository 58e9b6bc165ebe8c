"""Evaluation and prediction jobs: a finished run scored on its test split, on another label set,
and on new images; predictions stored per image and shown on the study page."""

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from curation.models import LabelSet, LabelSetImage
from jobs.models import Job
from labeling.models import Instance
from tests.factories import make_instance, make_study
from training import inference
from training.models import Prediction
from training.runs import job_folder

from .label_sets import frozen_label_set
from .runs import run_inline, trained_job


def api_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def launch(user, kind: str, config: dict):
    return api_for(user).post(reverse("job-list"), {"kind": kind, "config": config}, format="json")


def copy_label_set(label_set: LabelSet, labels=None) -> LabelSet:
    """Another frozen set over the same images (a later curation round, same vocabulary)."""
    copy = LabelSet.objects.create(
        team=label_set.team, version=label_set.version + 1, content_hash="f" * 64,
        labels=labels if labels is not None else label_set.labels,
    )  # fmt: skip
    LabelSetImage.objects.bulk_create(
        LabelSetImage(team=row.team, label_set=copy, instance=row.instance, sop_uid=row.sop_uid,
                      labels=row.labels)
        for row in label_set.images.all()
    )  # fmt: skip
    return copy


@pytest.fixture
def run(personas, tmp_path, settings):
    settings.CACHE_IMAGE_SIZE = 64
    label_set = frozen_label_set(personas.team, tmp_path, images=48)
    return trained_job(personas.team, personas.owner, label_set)


def test_a_finished_run_is_evaluated_predicts_new_images_and_the_study_page_shows_it(
    client, personas, run, tmp_path
):
    # The training job itself stored its test split's predictions.
    test_count = run.metrics["split_counts"]["test"]
    assert run.predictions.count() == test_count > 0
    assert set(run.predictions.values_list("split", flat=True)) == {"test"}
    # ... and counted its patient-level split for the model card.
    split = run.metrics["patient_split"]
    assert sum(side["images"] for side in split.values()) == 48
    assert split["test"]["patients"] > 0 and split["test"]["images"] >= test_count

    # Evaluate on its own test split: the engine's evaluate, the same test images.
    own = launch(personas.owner, "evaluate", {"source_job": run.pk})
    assert own.status_code == 201, own.content
    own = run_inline(Job.objects.get(pk=own.json()["id"]))
    assert own.status == "succeeded", own.error + own.traceback
    assert own.metrics["test"]["n"] == run.metrics["test"]["n"]
    assert set(own.predictions.values_list("instance", flat=True)) == set(
        run.predictions.values_list("instance", flat=True)
    )

    # Evaluate on another label set: only images of patients the run never saw are tested.
    other = copy_label_set(LabelSet.objects.get(pk=run.config["label_set"]))
    external = launch(personas.owner, "evaluate", {"source_job": run.pk, "label_set": other.pk})
    external = run_inline(Job.objects.get(pk=external.json()["id"]))
    assert external.status == "succeeded", external.error + external.traceback
    seen = inference.seen_patients(
        json.loads((job_folder(run) / "run" / "config.json").read_text())
    )
    unseen = [i for i in Instance.objects.of_team(personas.team) if i.study.patient_id not in seen]
    assert external.metrics["test"]["n"] == len(unseen)
    assert external.metrics["left_out_seen_images"] == 48 - len(unseen)
    assert external.metrics["label_set_hash"] == "f" * 64

    # New images arrive; prediction scores every image whose patient the run did not learn from.
    call_command("demo", "--team", personas.team.name, "--images", "6", "--size", "96",
                 "--seed", "11", "--workers", "1", "--out", str(tmp_path / "new"),
                 "--json", stdout=io.StringIO())  # fmt: skip
    predict = launch(personas.owner, "predict", {"source_job": run.pk})
    predict = run_inline(Job.objects.get(pk=predict.json()["id"]))
    assert predict.status == "succeeded", predict.error + predict.traceback
    unseen = [i for i in Instance.objects.of_team(personas.team) if i.study.patient_id not in seen]
    assert {p.instance_id for p in predict.predictions.all()} == {i.pk for i in unseen}
    prediction = predict.predictions.first()
    assert set(prediction.probabilities) == {"normal", "abnormal"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=1e-4)
    assert prediction.split == ""

    # Only the chosen studies, when studies are given.
    study = prediction.instance.study
    chosen = launch(personas.owner, "predict", {"source_job": run.pk, "studies": [study.pk]})
    chosen = run_inline(Job.objects.get(pk=chosen.json()["id"]))
    assert {p.instance.study_id for p in chosen.predictions.all()} == {study.pk}

    # The study page shows them beside the images; the API lists them per job.
    client.force_login(personas.teammate)
    page = client.get(reverse("labeling:study-detail", args=[study.pk])).content.decode()
    assert "Model predictions" in page and f"#{predict.pk}" in page
    listed = api_for(personas.teammate).get(reverse("job-predictions", args=[predict.pk])).json()
    assert listed["count"] == len(unseen)
    assert {row["sop_uid"] for row in listed["results"]} <= {i.sop_uid for i in unseen}


@pytest.mark.parametrize(
    "config, field",
    [({"source_job": None}, "source_job"), ({"source_job": "x"}, "source_job"), ({"source_job": 0}, "source_job"),
     ({"studies": []}, "studies"), ({"studies": ["a"]}, "studies"), ({"label_set": -1}, "label_set")],
)  # fmt: skip
def test_bad_prediction_configs_get_field_errors_and_no_job(personas, finished, config, field):
    response = launch(personas.owner, "predict", {"source_job": finished.pk, **config})
    assert response.status_code == 400
    assert field in response.json()["config"]
    assert Job.objects.count() == 1


def test_another_team_s_run_label_set_or_study_is_a_404(personas, finished, label_set):
    theirs = Job.objects.create(team=personas.other_team, kind="train", status="succeeded")
    their_set = LabelSet.objects.create(
        team=personas.other_team, version=1, content_hash="b", labels=[]
    )
    their_study = make_study(personas.other_team)
    configs = [
        ("evaluate", {"source_job": theirs.pk}),
        ("evaluate", {"source_job": finished.pk, "label_set": their_set.pk}),
        ("predict", {"source_job": finished.pk, "studies": [their_study.pk]}),
    ]
    for kind, config in configs:
        assert launch(personas.owner, kind, config).status_code == 404, config
    assert Job.objects.count() == 2


def test_a_run_that_did_not_succeed_or_another_vocabulary_is_refused_clearly(
    personas, finished, label_set
):
    queued = Job.objects.create(team=personas.team, kind="train", config={})
    response = launch(personas.owner, "evaluate", {"source_job": queued.pk})
    assert response.status_code == 400
    assert "not a training job that succeeded" in response.json()["config"]["source_job"][0]
    other = copy_label_set(label_set, labels=[{"key": "normal"}, {"key": "nodule"}])
    response = launch(
        personas.owner, "evaluate", {"source_job": finished.pk, "label_set": other.pk}
    )
    assert response.status_code == 400
    assert "['normal', 'nodule']" in response.json()["config"]["label_set"][0]


def test_a_viewer_cannot_launch_an_evaluation(personas, finished):
    assert launch(personas.teammate, "evaluate", {"source_job": finished.pk}).status_code == 403


def test_a_prediction_job_without_a_checkpoint_fails_at_once_with_the_reason(personas, finished):
    job = Job.objects.create(team=personas.team, kind="predict", config={"source_job": finished.pk})
    job = run_inline(job)
    assert job.status == "failed" and job.attempts == 1
    assert "no best.pt checkpoint" in job.error


def test_the_study_page_lists_only_its_images_predictions(client, personas, finished):
    study = make_study(personas.team)
    instance = make_instance(study)
    elsewhere = make_instance(make_study(personas.team))
    for target, probabilities in ((instance, {"normal": 0.2, "abnormal": 0.8}),
                                  (elsewhere, {"normal": 0.9, "abnormal": 0.1})):  # fmt: skip
        Prediction.objects.create(team=personas.team, job=finished, instance=target,
                                  probabilities=probabilities)  # fmt: skip
    client.force_login(personas.owner)
    page = client.get(reverse("labeling:study-detail", args=[study.pk])).content.decode()
    assert "abnormal 80%" in page and "normal 20%" in page
    assert "normal 90%" not in page
