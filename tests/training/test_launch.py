"""Launching training: the form with its presets, the API, field-by-field errors, roles."""

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from curation.models import LabelSet
from jobs.models import Job, JobStatus, WorkerPresence


@pytest.fixture
def label_set(personas):
    return LabelSet.objects.create(
        team=personas.team, version=1, content_hash="abc123", labels=[{"key": "normal"}]
    )


def form_data(frozen, **changes) -> dict:
    data = {
        "label_set": frozen.pk, "name": "", "task": "single_disease", "arch": "resnet101",
        "weights": "none", "epochs": 4, "batch_size": 60, "lr": 0.001, "crop": 224,
        "balance": "auto", "eval_crops": "five", "seed": 7, "device": "auto",
    }  # fmt: skip
    data.update(changes)
    return data


def test_without_a_gpu_worker_the_form_offers_the_cpu_preset(client, personas, label_set):
    client.force_login(personas.owner)
    page = client.get(reverse("training:launch")).content.decode()
    assert "No GPU worker is online" in page
    assert 'value="tiny" selected' in page


def test_with_a_gpu_worker_online_the_paper_protocol_is_the_default(client, personas, label_set):
    WorkerPresence.objects.create(
        name="gpu@host", queues=["gpu"], device="cuda: NVIDIA H100 ×1", last_seen=timezone.now()
    )
    client.force_login(personas.owner)
    page = client.get(reverse("training:launch")).content.decode()
    assert "No GPU worker is online" not in page
    assert 'value="resnet101" selected' in page and 'value="five" selected' in page


def test_the_form_queues_a_job_and_opens_its_page(client, personas, label_set):
    client.force_login(personas.owner)
    response = client.post(reverse("training:launch"), form_data(label_set))
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == JobStatus.QUEUED and job.queue == "gpu"
    assert job.config == {
        "label_set": label_set.pk,
        "engine": {**form_data(label_set), "epochs": 4},
    } | {
        "engine": {k: v for k, v in form_data(label_set).items() if k not in ("label_set", "name")}
    }


def test_vgg_against_resnet_launches_both_on_the_same_split(client, personas, label_set):
    client.force_login(personas.owner)
    client.post(reverse("training:launch"), form_data(label_set, compare="on"))
    jobs = list(Job.objects.order_by("id"))
    assert [j.config["engine"]["arch"] for j in jobs] == ["vgg16", "resnet101"]
    assert {j.config["engine"]["seed"] for j in jobs} == {7}


@pytest.mark.parametrize(
    "change, field",
    [({"epochs": 0}, "epochs"), ({"crop": 8}, "crop"), ({"arch": "alexnet"}, "arch"),
     ({"lr": -1}, "lr"), ({"label_set": 999}, "label_set")],
)  # fmt: skip
def test_bad_values_are_shown_next_to_their_field_and_queue_nothing(
    client, personas, label_set, change, field
):
    client.force_login(personas.owner)
    response = client.post(reverse("training:launch"), form_data(label_set, **change))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Job.objects.exists()


def test_a_viewer_cannot_launch(client, personas, label_set):
    client.force_login(personas.teammate)
    assert client.post(reverse("training:launch"), form_data(label_set)).status_code == 403
    assert not Job.objects.exists()


def test_rerun_prefills_the_form_from_a_job(client, personas, label_set):
    client.force_login(personas.owner)
    client.post(reverse("training:launch"), form_data(label_set, epochs=9, name="long one"))
    job = Job.objects.get()
    form = client.get(reverse("training:launch"), {"from": job.pk}).context["form"]
    assert form.initial["epochs"] == 9 and form.initial["name"] == "long one"


def test_the_api_gives_field_errors_and_404_for_another_team_s_label_set(personas, label_set):
    api = APIClient()
    api.force_authenticate(personas.owner)
    bad = {
        "kind": "train",
        "config": {"label_set": label_set.pk, "engine": {"epochs": 0, "bogus": 1}},
    }
    response = api.post(reverse("job-list"), bad, format="json")
    assert response.status_code == 400 and "bogus" in response.json()["config"]["engine"]
    other = LabelSet.objects.create(
        team=personas.other_team, version=1, content_hash="x", labels=[]
    )
    theirs = {"kind": "train", "config": {"label_set": other.pk}}
    assert api.post(reverse("job-list"), theirs, format="json").status_code == 404
    assert not Job.objects.exists()


def test_the_job_page_and_api_show_progress_log_and_queue_position(client, personas, label_set):
    api = APIClient()
    api.force_authenticate(personas.owner)
    first = api.post(
        reverse("job-list"), {"kind": "train", "config": {"label_set": label_set.pk}}, format="json"
    ).json()
    second = api.post(
        reverse("job-list"), {"kind": "train", "config": {"label_set": label_set.pk}}, format="json"
    ).json()
    Job.objects.filter(pk=first["id"]).update(
        log="line 1\nline 2\n", progress={"step": 5, "total_steps": 10}
    )
    detail = api.get(reverse("job-detail", args=[second["id"]])).json()
    assert detail["queue_position"] == 2
    first_detail = api.get(reverse("job-detail", args=[first["id"]])).json()
    assert first_detail["log_tail"] == "line 1\nline 2" and first_detail["fraction_done"] == 0.5
    client.force_login(personas.teammate)
    page = client.get(reverse("training:job-detail", args=[second["id"]])).content.decode()
    assert "#2 in queue" in page
    assert "Cancel" not in page  # a viewer watches, does not act


def test_cancelling_a_queued_job_ends_it_at_once_and_retry_requeues(personas, label_set):
    api = APIClient()
    api.force_authenticate(personas.owner)
    job = api.post(
        reverse("job-list"), {"kind": "train", "config": {"label_set": label_set.pk}}, format="json"
    ).json()
    assert api.post(reverse("job-cancel", args=[job["id"]])).json()["status"] == "cancelled"
    assert api.post(reverse("job-cancel", args=[job["id"]])).status_code == 409
    assert api.post(reverse("job-retry", args=[job["id"]])).json()["status"] == "queued"


def test_a_job_may_ask_for_several_gpus_and_a_rerun_keeps_them(client, personas, label_set):
    client.force_login(personas.owner)
    client.post(reverse("training:launch"), form_data(label_set, gpus=4))
    job = Job.objects.get()
    assert job.config["gpus"] == 4
    form = client.get(reverse("training:launch"), {"from": job.pk}).context["form"]
    assert form.initial["gpus"] == 4
    response = client.post(reverse("training:launch"), form_data(label_set, gpus=0))
    assert "gpus" in response.context["form"].errors and Job.objects.count() == 1
