"""Grad-CAM maps are jobs, one per image and label someone looked at: they stay out of the job
lists (page and API) unless asked for, and their detail stays reachable."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from jobs.models import Job
from jobs.services import create_job
from results import heatmaps
from results.tasks import compute_heatmap

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(personas) -> tuple[Job, Job]:
    """A training job and a map's job of the same team (a map needs no model to be listed)."""
    train = Job.objects.create(team=personas.team, owner=personas.owner, kind="train",
                               name="chest run")  # fmt: skip
    config = {"run": train.pk, "instance": 1, "label": "abnormal"}
    gradcam = create_job(personas.team, personas.owner, heatmaps.KIND, config, name="abnormal")
    return train, gradcam


def listed(api, query: str = "") -> list[int]:
    return [row["id"] for row in api.get(f"{reverse('job-list')}{query}").json()["results"]]


def test_the_api_lists_grad_cam_jobs_only_when_asked_by_kind(personas, jobs):
    train, gradcam = jobs
    api = APIClient()
    api.force_authenticate(personas.teammate)
    assert listed(api) == [train.pk]
    assert listed(api, "?kind=gradcam") == [gradcam.pk]
    assert listed(api, "?kind=train") == [train.pk]
    assert api.get(reverse("job-detail", args=[gradcam.pk])).json()["kind"] == "gradcam"
    outsider = APIClient()
    outsider.force_authenticate(personas.outsider)
    assert listed(outsider, "?kind=gradcam") == []


def test_the_job_page_hides_grad_cam_jobs_behind_a_link(client, personas, jobs):
    train, gradcam = jobs
    client.force_login(personas.teammate)
    page = client.get(reverse("training:job-list"))
    assert [job.pk for job, _position in page.context["rows"]] == [train.pk]
    assert b"Show Grad-CAM map jobs too" in page.content and b'href="?all=1"' in page.content
    everything = client.get(reverse("training:job-list"), {"all": "1"})
    assert [job.pk for job, _position in everything.context["rows"]] == [gradcam.pk, train.pk]
    assert "Grad-CAM map" in everything.content.decode() and b"Hide Grad-CAM map jobs" in (
        everything.content
    )
    detail = client.get(reverse("training:job-detail", args=[gradcam.pk]))
    assert detail.status_code == 200


def test_a_message_for_a_map_that_no_longer_exists_is_dropped(personas, jobs, caplog):
    """results.compute_heatmap, the task name of maps queued before they were jobs, carries a
    heatmap id (tests/results/test_heatmaps.py runs existing rows' jobs through it)."""
    train, gradcam = jobs
    with caplog.at_level("INFO", logger="results.tasks"):
        compute_heatmap(987654)
    assert "heatmap 987654 no longer exists" in caplog.text
    gradcam.refresh_from_db()
    assert (gradcam.status, gradcam.attempts) == ("queued", 0)
