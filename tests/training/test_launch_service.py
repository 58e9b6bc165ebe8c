"""One launch_job for forms, the API and the commands: typed configs, field errors, 404s."""

import pytest

from jobs.models import Job
from training.configs import EvaluateJobConfig, PredictJobConfig, TrainJobConfig
from training.forms import LaunchForm, add_config_errors
from training.launch import InvalidConfig, MissingInput, launch_job
from training.serializers import parse_config


def test_each_kind_is_parsed_into_its_typed_config():
    train = parse_config("train", {"label_set": 3, "engine": {"epochs": 2}, "gpus": 2})
    assert train == TrainJobConfig(label_set=3, engine={"epochs": 2}, gpus=2)
    assert train.stored() == {"label_set": 3, "engine": {"epochs": 2}, "gpus": 2}
    assert parse_config("train", {"label_set": 3}).stored() == {"label_set": 3, "engine": {}}
    evaluate = parse_config("evaluate", {"source_job": 4, "eval_crops": "center"})
    assert evaluate == EvaluateJobConfig(source_job=4, eval_crops="center")
    assert evaluate.stored() == {"source_job": 4, "eval_crops": "center"}
    predict = parse_config("predict", {"source_job": 4, "studies": [7], "since": "2026-03-01"})
    assert predict == PredictJobConfig(source_job=4, studies=(7,), since="2026-03-01")
    assert predict.stored() == {"source_job": 4, "studies": [7], "since": "2026-03-01"}


def test_field_errors_name_the_field_under_engine_when_it_is_an_engine_field():
    with pytest.raises(InvalidConfig) as caught:
        parse_config("train", {"label_set": 3, "engine": {"epochs": 0, "output": "/tmp"}})
    assert set(caught.value.errors["engine"]) == {"output"}
    with pytest.raises(InvalidConfig) as caught:
        parse_config("train", {"label_set": 3, "engine": {"epochs": 0}})
    assert "at least 1" in caught.value.errors["engine"]["epochs"]
    with pytest.raises(InvalidConfig) as caught:
        parse_config("predict", {"source_job": 0, "images": "some"})
    assert set(caught.value.errors) == {"source_job", "images"}


def test_launch_job_queues_what_it_parsed(personas, label_set):
    job = launch_job(personas.team, personas.owner, "train", {"label_set": label_set.pk},
                     name="first")  # fmt: skip
    assert job.config == {"label_set": label_set.pk, "engine": {}} and job.name == "first"
    parsed = parse_config("train", {"label_set": label_set.pk, "engine": {"epochs": 2}})
    again = launch_job(personas.team, personas.owner, "train", parsed, queue="default")
    assert again.config["engine"] == {"epochs": 2} and again.queue == "default"


def test_another_team_s_objects_are_missing_and_unfit_ones_are_field_errors(
    personas, label_set, finished
):
    with pytest.raises(MissingInput, match="does not exist in this team"):
        launch_job(personas.other_team, None, "train", {"label_set": label_set.pk})
    with pytest.raises(MissingInput, match=f"job {finished.pk} does not exist"):
        launch_job(personas.other_team, None, "evaluate", {"source_job": finished.pk})
    queued = Job.objects.create(team=personas.team, kind="train")
    with pytest.raises(InvalidConfig) as caught:
        launch_job(personas.team, None, "evaluate", {"source_job": queued.pk})
    assert "not a training job that succeeded" in caught.value.errors["source_job"][0]
    assert Job.objects.count() == 2


def test_a_config_parsed_for_another_kind_is_parsed_again():
    evaluate = parse_config("evaluate", {"source_job": 4})
    with pytest.raises(InvalidConfig):
        launch_job(None, None, "train", evaluate)  # not a mapping of train fields


def test_a_launch_s_config_errors_land_on_the_form_s_fields():
    form = LaunchForm(data={}, label_sets=[])
    form.is_valid()
    add_config_errors(form, {"engine": {"epochs": "must be at least 1, got 0"},
                             "label_set": ["label set 9 has other labels"], "studies": ["?"]})  # fmt: skip
    assert "must be at least 1, got 0" in form.errors["epochs"]
    assert "label set 9 has other labels" in form.errors["label_set"]
    assert "?" in form.non_field_errors()


def test_the_worker_reads_back_the_typed_config_the_launch_stored(personas, finished):
    from tests.factories import make_study
    from training.configs import stored_config

    study = make_study(personas.team)
    job = launch_job(personas.team, personas.owner, "predict",
                     {"source_job": finished.pk, "studies": [study.pk], "images": "unpredicted"})  # fmt: skip
    assert stored_config(job).studies == (study.pk,)
    assert stored_config(job) == parse_config("predict", job.config)
    assert stored_config(finished) == TrainJobConfig(
        label_set=finished.config["label_set"], engine={"task": "normal_abnormal"}
    )


def test_a_job_row_without_a_required_config_field_fails_once_with_a_message(personas):
    from tests.training.runs import run_inline

    job = Job.objects.create(team=personas.team, owner=personas.owner, kind="train",
                             config={"engine": {}})  # fmt: skip
    job = run_inline(job)
    assert job.status == "failed" and job.attempts == 1
    assert "its config {'engine': {}} is incomplete" in job.error
