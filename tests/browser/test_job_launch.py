"""Launching training from the browser: the form, the live progress bar, the finished run."""

import pytest
from django.urls import reverse

from tests.training.label_sets import frozen_label_set
from tests.training.test_worker import Worker

from .jobs import watch_job

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def worker(tmp_path, settings):
    settings.CACHE_IMAGE_SIZE = 64  # small images: the worker must use the same cache
    started = Worker(tmp_path, "browser")
    yield started
    started.stop()


def test_a_curator_launches_from_the_form_and_watches_the_job_finish(
    login, live_server, personas, tmp_path, worker
):
    label_set = frozen_label_set(personas.team, tmp_path, images=48)
    page = login(personas.owner)
    page.goto(f"{live_server.url}{reverse('training:launch')}?preset=cpu")
    assert page.locator("text=No GPU worker is online").count() == 1
    page.select_option("#id_label_set", str(label_set.pk))
    page.select_option("#id_task", "normal_abnormal")
    page.fill("#id_epochs", "150")  # ~20 s of training: several 2 s polls see the bar between ends
    page.fill("#id_crop", "56")
    page.fill("#id_name", "from the browser")
    page.click("form.launch button[type=submit]")
    page.wait_for_url("**/jobs/*/")
    assert "from the browser" in page.locator("h1").inner_text()

    seen = watch_job(page)  # the bar moves while the job runs, without reloading the page
    assert page.locator("#job-status").inner_text() == "succeeded", worker.log.read_text()[-3000:]
    assert len(seen - {0.0}) >= 2, f"the progress bar did not move: {sorted(seen)}"
    # The page reloads itself once the job has finished, and the reloaded page draws the curves
    # after its first poll: wait for both, or the count can read the fresh page's empty table.
    page.wait_for_selector('#job[data-finished="1"]')
    page.wait_for_selector("#job-curve tbody tr")
    assert page.locator("#job-curve tbody tr").count() > 0
    page.wait_for_selector("#job-chart canvas")
    assert page.locator("#job-chart canvas").count() == 1  # the live curves, drawn by ECharts
    assert "Rerun with an edited config" in page.content()
