"""``manage.py train`` and ``manage.py evaluate`` queue the jobs the browser and the API queue,
check them the same way, and say what went wrong in one line."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from curation.models import LabelSet
from jobs import services
from jobs.models import Job
from jobs.tasks import run_job
from training.configs import PRESETS


@pytest.fixture
def label_set(personas):
    return LabelSet.objects.create(
        team=personas.team, version=1, content_hash="c" * 64, labels=[{"key": "normal"}]
    )


def run_json(*args: str) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_train_queues_the_cpu_preset_with_overrides_when_no_gpu_worker_is_online(
    personas, label_set
):
    summary = run_json("train", "--team", "Radiology A", "--label-set", str(label_set.pk),
                       "epochs=2", "arch=vgg16", "gpus=2")  # fmt: skip
    job = Job.objects.get(pk=summary["id"])
    assert summary["status"] == "queued" and job.kind == "train" and job.queue == "gpu"
    assert job.config["engine"] == {**PRESETS["cpu"][1], "epochs": 2, "arch": "vgg16"}
    assert job.config["gpus"] == 2 and job.config["label_set"] == label_set.pk
    assert job.name == "single_disease vgg16" and job.team == personas.team


def test_train_names_the_bad_field_in_one_line_and_queues_nothing(personas, label_set):
    with pytest.raises(CommandError, match=r"config\.engine\.epochs: .*at least 1"):
        call_command("train", "--team", "Radiology A", "--label-set", str(label_set.pk),
                     "epochs=0")  # fmt: skip
    with pytest.raises(CommandError, match=r"config\.gpus: .*greater than or equal to 1"):
        call_command("train", "--team", "Radiology A", "--label-set", str(label_set.pk),
                     "gpus=0")  # fmt: skip
    assert not Job.objects.exists()


def test_another_team_s_label_set_or_job_is_unknown_to_the_commands(personas, label_set):
    with pytest.raises(CommandError, match="does not exist in this team"):
        call_command("train", "--team", "Radiology B", "--label-set", str(label_set.pk))
    theirs = Job.objects.create(team=personas.team, kind="train", status="succeeded")
    with pytest.raises(CommandError, match=f"job {theirs.pk} does not exist in this team"):
        call_command("evaluate", "--team", "Radiology B", "--job", str(theirs.pk))
    assert Job.objects.count() == 1


def test_evaluate_queues_an_evaluation_on_another_label_set(personas, label_set):
    source = Job.objects.create(team=personas.team, kind="train", status="succeeded",
                                config={"label_set": label_set.pk})  # fmt: skip
    summary = run_json("evaluate", "--team", "Radiology A", "--job", str(source.pk),
                       "--label-set", str(label_set.pk))  # fmt: skip
    assert Job.objects.get(pk=summary["id"]).config == {
        "source_job": source.pk,
        "label_set": label_set.pk,
    }
    assert summary["kind"] == "evaluate" and summary["status"] == "queued"


def test_wait_follows_the_job_row_to_its_end_and_fails_with_the_job_s_error(
    personas, label_set, monkeypatch
):
    """The job runs at once in this process instead of being sent to a worker; --wait reads
    how it ended from the row."""
    monkeypatch.setattr(services, "enqueue", lambda job: run_job(job.pk))
    source = Job.objects.create(team=personas.team, kind="train", status="succeeded",
                                config={"label_set": label_set.pk})  # fmt: skip
    with pytest.raises(CommandError, match="failed: JobInputError: .*no best.pt checkpoint"):
        call_command("evaluate", "--team", "Radiology A", "--job", str(source.pk), "--wait",
                     "--poll", "0.05", stdout=io.StringIO())  # fmt: skip
    job = Job.objects.get(kind="evaluate")
    assert job.status == "failed" and job.attempts == 1
