"""Evaluation and prediction launched from a finished run's page: field errors and no job for
bad input, the team's own objects only, the worker queue chosen, on to the live job page."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from curation.models import LabelSet
from jobs.models import Job
from labeling.models import Instance
from tests.factories import make_instance, make_study
from training.jobs import predict_instances
from training.models import Prediction

from .label_sets import frozen_label_set
from .runs import run_inline, trained_job
from .test_evaluate_predict import copy_label_set


@pytest.fixture
def owner(client, personas):
    client.force_login(personas.owner)
    return client


def evaluate(client, run, **fields):
    data = {f"evaluate-{name}": value for name, value in fields.items()}
    return client.post(reverse("training:model-evaluate", args=[run.pk]), data)


def predict(client, run, **fields):
    data = {f"predict-{name}": value for name, value in fields.items()}
    return client.post(reverse("training:model-predict", args=[run.pk]), data)


def launched(response) -> Job:
    assert response.status_code == 302, response.content.decode()[-2000:]
    job = Job.objects.exclude(kind="train").get()
    assert response["Location"] == reverse("training:job-detail", args=[job.pk])
    return job


def test_the_run_page_offers_both_forms_with_the_team_s_other_label_sets(
    owner, personas, finished, label_set
):
    later = copy_label_set(label_set)
    LabelSet.objects.create(team=personas.other_team, version=1, content_hash="b", labels=[])
    page = owner.get(reverse("training:model-detail", args=[finished.pk])).content.decode()
    assert 'class="launch evaluate-form"' in page and 'class="launch predict-form"' in page
    assert f'<option value="{later.pk}">' in page
    assert f'<option value="{label_set.pk}">' not in page  # its own set: that is the test split


def test_an_evaluation_on_another_label_set_with_centre_crops_on_a_cpu_worker(
    owner, finished, label_set
):
    later = copy_label_set(label_set)
    job = launched(evaluate(owner, finished, target=later.pk, eval_crops="center", worker="cpu",
                            name="round two"))  # fmt: skip
    assert job.kind == "evaluate" and job.name == "round two" and job.queue == "default"
    assert job.config == {"source_job": finished.pk, "device": "cpu", "eval_crops": "center",
                          "label_set": later.pk}  # fmt: skip


def test_the_button_alone_evaluates_on_the_test_split_with_five_crops(owner, finished):
    job = launched(evaluate(owner, finished))
    assert job.config == {"source_job": finished.pk, "device": "cpu", "eval_crops": "five"}
    assert job.name == "evaluate tiny" and job.queue == "default"  # no GPU worker is online


def test_a_gpu_worker_runs_it_when_asked(owner, finished):
    job = launched(evaluate(owner, finished, worker="gpu"))
    assert job.queue == "gpu" and job.config["device"] == "auto"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"eval_crops": "seven"}, "eval_crops", "Select a valid choice"),
        ({"worker": "tpu"}, "worker", "Select a valid choice"),
        ({"target": "999999"}, "target", "Select a valid choice"),
        ({"name": "x" * 121}, "name", "at most 120 characters"),
    ],
)
def test_bad_evaluation_fields_are_shown_and_no_job_is_made(
    owner, finished, fields, field, message
):
    response = evaluate(owner, finished, **fields)
    assert response.status_code == 400
    errors = response.context["evaluate_form"].errors
    assert list(errors) == [field] and message in errors[field][0]
    assert message in response.content.decode()
    assert not Job.objects.exclude(pk=finished.pk).exists()


def test_a_label_set_with_other_labels_is_a_field_error(owner, finished, label_set):
    other = copy_label_set(label_set, labels=[{"key": "normal"}, {"key": "nodule"}])
    response = evaluate(owner, finished, target=other.pk)
    assert response.status_code == 400
    assert "['normal', 'nodule']" in response.context["evaluate_form"].errors["target"][0]
    assert not Job.objects.exclude(pk=finished.pk).exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"images": "since"}, "since", "give the date"),
        ({"images": "since", "since": "31/02/2026"}, "since", "Enter a valid date"),
        ({"images": "study"}, "study", "accession number"),
        ({"images": "study", "study": "NOPE-1"}, "study", "this team has no study NOPE-1"),
        ({"images": "everything"}, "images", "Select a valid choice"),
    ],
)
def test_bad_prediction_fields_are_shown_and_no_job_is_made(
    owner, finished, fields, field, message
):
    response = predict(owner, finished, **fields)
    assert response.status_code == 400
    errors = response.context["predict_form"].errors
    assert field in errors and message in errors[field][0]
    assert not Job.objects.exclude(pk=finished.pk).exists()


def test_predictions_for_a_study_for_images_since_a_date_or_those_not_yet_scored(
    owner, personas, finished
):
    study = make_study(personas.team, accession_number="ACC-7")
    job = launched(predict(owner, finished, images="study", study="ACC-7"))
    assert job.kind == "predict" and job.config["studies"] == [study.pk]
    Job.objects.filter(pk=job.pk).delete()
    job = launched(predict(owner, finished, images="study", study=study.study_uid, worker="gpu"))
    assert job.config["studies"] == [study.pk] and job.queue == "gpu"
    Job.objects.filter(pk=job.pk).delete()
    job = launched(predict(owner, finished, images="since", since="2026-03-01"))
    assert job.config == {"source_job": finished.pk, "device": "cpu", "since": "2026-03-01"}
    Job.objects.filter(pk=job.pk).delete()
    job = launched(predict(owner, finished))  # the button alone
    assert job.config == {"source_job": finished.pk, "device": "cpu", "images": "unpredicted"}


def test_another_team_s_study_is_not_found_and_makes_no_job(owner, personas, finished):
    make_study(personas.other_team, accession_number="THEIRS-1")
    response = predict(owner, finished, images="study", study="THEIRS-1")
    assert response.status_code == 400
    assert "this team has no study THEIRS-1" in response.content.decode()
    assert not Job.objects.exclude(pk=finished.pk).exists()


def test_outsiders_viewers_and_unfinished_runs_get_no_job(client, personas, finished):
    theirs = Job.objects.create(team=personas.other_team, kind="train", status="succeeded")
    running = Job.objects.create(team=personas.team, kind="train", status="running")
    client.force_login(personas.owner)
    assert evaluate(client, theirs).status_code == 404
    assert predict(client, theirs).status_code == 404
    assert evaluate(client, running).status_code == 404
    client.force_login(personas.outsider)
    assert evaluate(client, finished).status_code == 404
    client.force_login(personas.teammate)  # a viewer sees the run but may not launch
    assert evaluate(client, finished).status_code == 403
    assert predict(client, finished).status_code == 403
    page = client.get(reverse("training:model-detail", args=[finished.pk])).content.decode()
    assert "evaluate-form" not in page
    assert Job.objects.filter(kind__in=["evaluate", "predict"]).count() == 0


def test_the_prediction_image_choices_select_the_right_images(personas, finished):
    old, new, scored = (make_instance(make_study(personas.team)) for _ in range(3))
    Instance.objects.filter(pk__in=[old.pk, new.pk, scored.pk]).update(cache_row=0)
    Instance.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(9))
    earlier = Job.objects.create(team=personas.team, kind="predict",
                                 config={"source_job": finished.pk})  # fmt: skip
    Prediction.objects.create(team=personas.team, job=earlier, instance=scored,
                              probabilities={"normal": 1.0})  # fmt: skip

    def chosen(**config) -> set[int]:
        job = Job(team=personas.team, kind="predict", config={"source_job": finished.pk, **config})
        return {instance.pk for instance in predict_instances(job)}

    assert chosen() == {old.pk, new.pk, scored.pk}
    assert chosen(images="unpredicted") == {old.pk, new.pk}
    since = (timezone.now() - datetime.timedelta(2)).date().isoformat()
    assert chosen(since=since) == {new.pk, scored.pk}
    assert chosen(since=since, images="unpredicted") == {new.pk}


@pytest.mark.slow
def test_a_run_evaluated_with_centre_crops_and_new_images_predicted_from_the_page(
    owner, personas, tmp_path, settings
):
    settings.CACHE_IMAGE_SIZE = 64
    run = trained_job(personas.team, personas.owner, frozen_label_set(personas.team, tmp_path))
    evaluation = run_inline(launched(evaluate(owner, run, eval_crops="center")))
    assert evaluation.status == "succeeded", evaluation.error + evaluation.traceback
    assert evaluation.metrics["test"]["n"] == run.metrics["test"]["n"]
    assert evaluation.metrics["eval_crops"] == "center"
    Job.objects.filter(pk=evaluation.pk).delete()

    call_command("demo", "--team", personas.team.name, "--images", "6", "--size", "96",
                 "--seed", "11", "--workers", "1", "--out", str(tmp_path / "new"),
                 "--json", stdout=io.StringIO())  # fmt: skip
    first = run_inline(launched(predict(owner, run)))
    assert first.status == "succeeded", first.error + first.traceback
    assert first.predictions.count() == first.metrics["count"] > 0
    Job.objects.filter(kind="predict").update(kind="evaluate")  # keep its rows, out of the way
    again = predict(owner, run)  # every image it could score has a prediction from the run now
    second = run_inline(Job.objects.filter(kind="predict").get(pk=again["Location"].split("/")[-2]))
    assert second.status == "failed" and "no images to predict" in second.error


def test_the_api_takes_the_same_choices_and_refuses_bad_ones(personas, finished):
    from .test_evaluate_predict import launch

    config = {"source_job": finished.pk, "images": "unpredicted", "since": "2026-03-01",
              "device": "cpu", "eval_crops": "center"}  # fmt: skip
    response = launch(personas.owner, "predict", config)
    assert response.status_code == 201, response.content
    assert Job.objects.get(pk=response.json()["id"]).config == config
    for bad, field in (({"since": "yesterday"}, "since"), ({"eval_crops": "seven"}, "eval_crops"),
                       ({"images": "some"}, "images"), ({"device": "tpu"}, "device")):  # fmt: skip
        response = launch(personas.owner, "predict", {"source_job": finished.pk, **bad})
        assert response.status_code == 400 and field in response.json()["config"], bad
    assert Job.objects.filter(kind="predict").count() == 1
