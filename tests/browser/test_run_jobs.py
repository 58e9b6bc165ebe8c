"""Evaluating a finished run from its page in the browser, on a real worker, to the end."""

import pytest
from django.urls import reverse

from jobs.models import Job
from tests.training.label_sets import frozen_label_set
from tests.training.runs import trained_job
from tests.training.test_worker import workers  # noqa: F401 (a fixture)

from .jobs import watch_job

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_an_engineer_evaluates_a_tiny_run_from_its_page_and_sees_the_job_finish(
    login,
    live_server,
    personas,
    tmp_path,
    settings,
    workers,  # noqa: F811
):
    settings.CACHE_IMAGE_SIZE = 64  # small images: the worker must use the same cache
    # Trained here first: a worker's reaper would take the in-process job for a stalled one.
    run = trained_job(personas.team, personas.owner, frozen_label_set(personas.team, tmp_path))
    worker = workers("browser")
    page = login(personas.owner)
    page.goto(f"{live_server.url}{reverse('training:job-detail', args=[run.pk])}")
    page.click("text=Evaluate or predict with this run")
    page.wait_for_url(f"**{reverse('training:model-detail', args=[run.pk])}#evaluate")

    # A bad name first: the field says why and no job is made.
    page.eval_on_selector("#id_evaluate-name", "e => e.removeAttribute('maxlength')")
    page.fill("#id_evaluate-name", "x" * 121)
    page.click("form.evaluate-form button[type=submit]")
    assert page.locator("form.evaluate-form .invalid .error").count() == 1
    assert not Job.objects.filter(kind="evaluate").exists()

    page.select_option("#id_evaluate-target", "test")
    page.select_option("#id_evaluate-eval_crops", "center")
    page.select_option("#id_evaluate-worker", "cpu")
    page.fill("#id_evaluate-name", "centre-crop check")
    page.click("form.evaluate-form button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    assert "centre-crop check" in page.locator("h1").inner_text()

    watch_job(page)  # the job page polls until the worker has finished the evaluation
    assert page.locator("#job-status").inner_text() == "succeeded", worker.log.read_text()[-3000:]
    job = Job.objects.get(kind="evaluate")
    assert job.config["eval_crops"] == "center" and job.queue == "default"
    assert job.metrics["test"]["n"] == run.metrics["test"]["n"]
