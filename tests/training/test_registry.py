"""The model registry: name and tag runs, one current model per team and task, weights and a
model card for members only."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from curation.models import LabelSet
from jobs.models import Job
from training.models import CurrentModel
from training.runs import job_folder

METRICS = {
    "task": "normal_abnormal", "arch": "tiny", "best_epoch": 2,
    "split_counts": {"train": 38, "val": 5, "test": 5},
    "patient_split": {"train": {"patients": 30, "images": 38},
                      "val": {"patients": 5, "images": 5}, "test": {"patients": 5, "images": 5}},
    "test": {"n": 5, "auc": 0.91, "auc_ci95": [0.8, 0.99], "accuracy": 0.8,
             "sensitivity": 0.75, "specificity": 1.0},
}  # fmt: skip


@pytest.fixture
def label_set(personas):
    return LabelSet.objects.create(
        team=personas.team, version=3, content_hash="d" * 64, labels=[{"key": "normal"}]
    )


def finished_run(personas, label_set, task="normal_abnormal", weights=b"weights") -> Job:
    job = Job.objects.create(
        team=personas.team, owner=personas.owner, kind="train", status="succeeded",
        name="baseline", metrics={**METRICS, "task": task},
        config={"label_set": label_set.pk, "engine": {"task": task, "arch": "tiny"}},
    )  # fmt: skip
    run = job_folder(job) / "run"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(weights)
    return job


def api_for(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_a_run_is_renamed_and_tagged_from_its_page_and_the_api(client, personas, label_set):
    job = finished_run(personas, label_set)
    client.force_login(personas.owner)
    response = client.post(reverse("training:model-edit", args=[job.pk]),
                           {"name": "chest v2", "tags": "baseline, cpu, baseline"})  # fmt: skip
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.name, job.tags) == ("chest v2", ["baseline", "cpu"])
    updated = api_for(personas.owner).patch(reverse("job-detail", args=[job.pk]),
                                            {"tags": ["paper"]}, format="json")  # fmt: skip
    assert updated.status_code == 200 and updated.json()["name"] == "chest v2"
    job.refresh_from_db()
    assert job.tags == ["paper"]


def test_bad_tags_are_refused_field_by_field(client, personas, label_set):
    job = finished_run(personas, label_set)
    client.force_login(personas.owner)
    page = client.post(reverse("training:model-edit", args=[job.pk]), {"tags": "ok, not ok!"})
    assert page.status_code == 400 and "tags" in page.context["form"].errors
    api = api_for(personas.owner).patch(reverse("job-detail", args=[job.pk]),
                                        {"tags": ["a b"]}, format="json")  # fmt: skip
    assert api.status_code == 400 and "tags" in api.json()
    job.refresh_from_db()
    assert job.tags == []


def test_only_finished_training_jobs_are_models_and_viewers_cannot_change_them(
    client, personas, label_set
):
    queued = Job.objects.create(team=personas.team, kind="train", config={})
    api = api_for(personas.owner)
    assert api.patch(reverse("job-detail", args=[queued.pk]), {"name": "x"},
                     format="json").status_code == 409  # fmt: skip
    assert api.get(reverse("job-card", args=[queued.pk])).status_code == 404
    client.force_login(personas.owner)
    assert client.get(reverse("training:model-detail", args=[queued.pk])).status_code == 404
    job = finished_run(personas, label_set)
    viewer = api_for(personas.teammate)
    assert viewer.post(reverse("job-mark-current", args=[job.pk])).status_code == 403
    assert viewer.patch(reverse("job-detail", args=[job.pk]), {"name": "x"},
                        format="json").status_code == 403  # fmt: skip


def test_one_current_model_per_team_and_task(client, personas, label_set):
    first = finished_run(personas, label_set)
    second = finished_run(personas, label_set)
    other_task = finished_run(personas, label_set, task="single_disease")
    client.force_login(personas.owner)
    client.post(reverse("training:model-current", args=[first.pk]))
    api = api_for(personas.owner)
    assert api.post(reverse("job-mark-current", args=[second.pk])).json() == {
        "task": "normal_abnormal",
        "job": second.pk,
    }
    api.post(reverse("job-mark-current", args=[other_task.pk]))
    current = dict(CurrentModel.objects.filter(team=personas.team).values_list("task", "job"))
    assert current == {"normal_abnormal": second.pk, "single_disease": other_task.pk}
    page = client.get(reverse("training:model-list")).content.decode()
    assert page.count("current</strong>") == 2
    assert "<td>Normal vs abnormal</td>" in page and "<td>Single disease</td>" in page
    assert "<td>normal_abnormal</td>" not in page  # the engine identifier is not a label


def test_weights_stream_to_members_and_are_404_for_outsiders(client, personas, label_set):
    job = finished_run(personas, label_set, weights=b"\x80tiny-checkpoint" * 1000)
    client.force_login(personas.teammate)
    response = client.get(reverse("training:model-weights", args=[job.pk]))
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == b"\x80tiny-checkpoint" * 1000
    assert f'filename="job-{job.pk}-best.pt"' in response["Content-Disposition"]
    assert api_for(personas.teammate).get(reverse("job-weights", args=[job.pk])).status_code == 200
    client.force_login(personas.outsider)
    assert client.get(reverse("training:model-weights", args=[job.pk])).status_code == 404
    assert api_for(personas.outsider).get(reverse("job-weights", args=[job.pk])).status_code == 404
    (job_folder(job) / "run" / "best.pt").unlink()
    client.force_login(personas.owner)
    assert client.get(reverse("training:model-weights", args=[job.pk])).status_code == 404


def test_the_model_card_holds_data_hash_split_config_metrics_and_use(client, personas, label_set):
    job = finished_run(personas, label_set)
    card = api_for(personas.teammate).get(reverse("job-card", args=[job.pk])).json()
    assert card["data"]["snapshot_hash"] == "d" * 64 and card["data"]["label_set_version"] == 3
    assert card["split"]["train"] == {"patients": 30, "images": 38}
    assert card["config"] == job.config
    auc = next(row for row in card["metrics"] if row["metric"] == "auc")
    assert auc == {"label": "abnormal", "metric": "auc", "value": 0.91, "ci95": [0.8, 0.99], "n": 5}
    assert "Not a medical device" in card["intended_use"] and card["limitations"]
    client.force_login(personas.teammate)
    markdown = client.get(reverse("training:model-card-markdown", args=[job.pk]))
    assert markdown["Content-Type"].startswith("text/markdown")
    text = markdown.content.decode()
    assert "| abnormal | auc | 0.9100 | 0.800–0.990 | 5 |" in text and "d" * 64 in text
    page = client.get(reverse("training:model-detail", args=[job.pk])).content.decode()
    assert "0.800–0.990" in page and "Save name and tags" not in page  # a viewer reads only
