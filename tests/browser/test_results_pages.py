"""Results pages in chromium: charts drawn by the bundled ECharts, the live threshold, a
confusion cell opening its gallery, a case opening the study viewer (CPU rendering), and the
comparison page. Screenshots go to $RESULTS_SHOTS (default: the test's tmp folder)."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests.results.conftest import binary_run, label_set, single_run  # noqa: F401 (fixtures)
from tests.results.pages import engine_outputs

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("RESULTS_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_run_page_charts_threshold_gallery_viewer_and_comparison(
    login,
    live_server,
    personas,
    single_run,  # noqa: F811 - the fixture imported above
    binary_run,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    metrics, _ = engine_outputs(single_run)
    out = shots(tmp_path)
    page = login(personas.owner)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}{reverse('results:run', args=[single_run.pk])}")
    for chart in ("roc", "confusion", "apCdf", "curves"):
        page.wait_for_selector(f"[data-chart={chart}] canvas")
    # The live threshold: at 0 every label catches every positive.
    rows = page.locator("[data-threshold-table] tbody tr")
    assert rows.count() == len(metrics["class_names"])
    page.uncheck("[data-threshold-own]")
    page.locator("[data-threshold-input]").fill("0")
    for i in range(rows.count()):
        sensitivity = rows.nth(i).locator("td").nth(2).inner_text()
        assert sensitivity in ("100.0", "—")
    page.screenshot(path=str(out / "run.png"), full_page=True)
    assert not errors, errors

    # A confusion cell opens exactly its cases.
    true = metrics["class_names"][0]
    count = metrics["test"]["confusion_matrix"][0][0]
    page.click(f'.confusion-table a[data-true="{true}"][data-pred="{true}"]')
    page.wait_for_url("**/cases/**")
    assert page.locator("article.case").count() == min(count, 48)
    page.screenshot(path=str(out / "cases.png"), full_page=True)

    # A case opens the study page; its viewer renders on the CPU path.
    href = page.locator("article.case a").first.get_attribute("href")
    page.goto(f"{live_server.url}{href}&cpu=1")
    page.wait_for_selector("canvas")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out / "study.png"), full_page=True)

    page.goto(f"{live_server.url}{reverse('results:compare')}"
              f"?runs={single_run.pk}&runs={binary_run.pk}")  # fmt: skip
    page.wait_for_selector("[data-compare-roc] canvas")
    assert page.locator("[data-warning]").count() >= 1
    page.screenshot(path=str(out / "compare.png"), full_page=True)
    assert not errors, errors


def test_a_curator_sends_a_ticked_disagreement_to_the_review_queue(
    login,
    live_server,
    personas,
    single_run,  # noqa: F811 - the fixture imported above
):
    from curation.models import ImageReview

    page = login(personas.owner)
    page.goto(f"{live_server.url}{reverse('results:disagreements', args=[single_run.pk])}"
              "?confidence=0.5")  # fmt: skip
    row = page.locator("#disagreements tbody tr").first
    uid, label = row.get_attribute("data-image-id"), row.get_attribute("data-label")
    row.locator("input[name=item]").check()
    page.click("#send-to-review button[value=selected]")
    page.wait_for_selector("text=Review queue: 1 new")
    review = ImageReview.objects.get(team=personas.team)
    assert review.instance.sop_uid == uid and review.evidence[0]["label"] == label
    # The row now links to its pending review, which shows the model's evidence.
    page.locator(f'#disagreements tr[data-image-id="{uid}"] a', has_text="pending").first.click()
    page.wait_for_selector(f'#review-{review.pk} .evidence li[data-label="{label}"]')
