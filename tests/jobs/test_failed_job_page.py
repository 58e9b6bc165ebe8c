"""A failed job speaks to its user: one sentence saying what to do first, the traceback folded
below it, and Retry only where a retry can change the outcome. A cancel shows as "cancelling"
at once, on the page and in the list, until the worker stops the job."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from jobs import errors
from jobs import services as job_services
from jobs.models import Job, JobStatus
from training.engine.config import ConfigError

WORKER = "worker-1"


def failed_job(personas, exc: BaseException, *, retry: bool = False) -> Job:
    job = job_services.create_job(personas.team, personas.owner, "train", {}, name="run")
    job_services.claim_job(job.pk, WORKER)
    try:
        raise exc
    except type(exc) as raised:  # a real traceback, as the worker records it
        job_services.fail_attempt(job.pk, WORKER, raised, retry=retry)
    return Job.objects.get(pk=job.pk)


def page(client, personas, job: Job) -> str:
    client.force_login(personas.owner)
    response = client.get(reverse("training:job-detail", args=[job.pk]))
    assert response.status_code == 200
    return response.content.decode()


MISSING_WEIGHTS = ConfigError(
    "weights: /srv/weights/hub/checkpoints/vgg16-397923af.pth not found: the folder "
    "/srv/weights/hub/checkpoints needs the file vgg16-397923af.pth"
)


def test_a_missing_weights_file_says_what_to_do_then_names_file_and_folder(client, personas):
    html = page(client, personas, failed_job(personas, MISSING_WEIGHTS))
    advice = html.index('id="job-advice"')
    detail = html.index("the folder /srv/weights/hub/checkpoints needs the file vgg16-397923af.pth")
    folded = html.index('<details id="job-traceback">')
    assert advice < detail < folded  # the sentence first, the traceback last and folded
    assert "copy the file named below into that folder" in html
    assert "Traceback (most recent call last)" in html[folded:]
    assert "Retry / resume" not in html


def test_a_config_error_offers_no_retry_and_the_services_refuse_one(client, personas):
    job = failed_job(personas, ConfigError("crop: 300 exceeds the stored image size 256"))
    html = page(client, personas, job)
    assert "Retry / resume" not in html and "Rerun with an edited config" in html
    assert errors.explain(job).kind == "input"
    with pytest.raises(job_services.JobStateError, match="a retry would fail the same way"):
        job_services.retry_by_user(job)
    api = APIClient()
    api.force_authenticate(personas.owner)
    assert api.post(reverse("job-retry", args=[job.pk])).status_code == 409
    response = client.post(reverse("training:job-retry", args=[job.pk]), follow=True)
    assert "A retry would fail the same way" in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED  # nothing changed


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "memory"),
        (RuntimeError("DataLoader worker exited unexpectedly"), "other"),
    ],
)
def test_errors_a_retry_can_change_offer_retry(client, personas, exc, kind):
    job = failed_job(personas, exc)
    assert errors.explain(job).kind == kind and errors.retry_can_help(job)
    html = page(client, personas, job)
    assert "Retry / resume" in html
    assert html.index('id="job-advice"') < html.index('<details id="job-traceback">')
    assert job_services.retry_by_user(job).status == JobStatus.QUEUED


def test_a_lost_worker_is_explained_and_can_be_retried(client, personas):
    job = job_services.create_job(personas.team, personas.owner, "train", {}, name="run")
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error="worker w1 stopped sending heartbeats; 3 attempts made"
    )
    job.refresh_from_db()
    assert errors.explain(job).kind == "worker"
    html = page(client, personas, job)
    assert "The worker running this job stopped" in html and "Retry / resume" in html


def test_the_advice_is_in_chinese_in_the_chinese_ui(client, personas):
    job = failed_job(personas, MISSING_WEIGHTS)
    client.force_login(personas.owner)
    response = client.get(
        reverse("training:job-detail", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    html = response.content.decode()
    assert "预训练权重文件缺失" in html and "vgg16-397923af.pth" in html


def test_a_cancel_shows_cancelling_at_once_on_the_page_the_list_and_the_api(client, personas):
    job = job_services.create_job(personas.team, personas.owner, "train", {}, name="run")
    job_services.claim_job(job.pk, WORKER)
    client.force_login(personas.owner)
    response = client.post(reverse("training:job-cancel", args=[job.pk]), follow=True)
    html = response.content.decode()
    assert 'class="status-running status-cancelling">cancelling<' in html
    assert "the job stops after its current batch" in html
    assert 'id="job-cancel" disabled' in html
    listing = client.get(reverse("training:job-list")).content.decode()
    assert "cancelling" in listing
    api = APIClient()
    api.force_authenticate(personas.owner)
    body = api.get(reverse("job-detail", args=[job.pk])).json()
    assert body["status"] == "running" and body["cancel_requested"] is True  # job.js: cancelling
