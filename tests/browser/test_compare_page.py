"""Comparing two normal-vs-abnormal runs in chromium, as a user does it: a failed run's box on
the results list is greyed out with the reason in its tooltip, the two finished runs are ticked,
and the compare page shows their AUC, sensitivity and specificity side by side, with the ROC
curves overlaid, in English and in Chinese. Screenshots go to $COMPARE_SHOTS (default: the
test's tmp folder)."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from jobs.models import Job
from tests.results.conftest import binary_run, label_set  # noqa: F401 (fixtures)
from tests.results.pages import engine_outputs, num3, pct
from tests.training.runs import trained_job

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_two_binary_runs_side_by_side_in_english_and_chinese(
    login,
    live_server,
    personas,
    label_set,  # noqa: F811 - the fixture imported above
    binary_run,  # noqa: F811 - the fixture imported above
    tmp_path,
):
    out = Path(os.environ.get("COMPARE_SHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    binary_run.name = "tiny, lr 0.05"
    binary_run.save(update_fields=["name"])
    other = trained_job(personas.team, personas.owner, label_set, lr=0.01, epochs=2)
    other.name = "tiny, lr 0.01, 2 epochs"
    other.save(update_fields=["name"])
    failed = Job.objects.create(team=personas.team, owner=personas.owner, kind="train",
                                status="failed", name="out of memory")  # fmt: skip
    page = login(personas.owner)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{live_server.url}{reverse('results:run-list')}")
    box = page.locator(f'#runs tr[data-run="{failed.pk}"] input[type=checkbox]')
    assert box.is_disabled()
    assert box.get_attribute("title") == "It failed: a failed run has no results to compare."
    page.screenshot(path=str(out / "run-list-en.png"), full_page=True)
    for run in (binary_run, other):
        page.check(f'#runs tr[data-run="{run.pk}"] input[type=checkbox]')
    page.click("text=Compare the chosen runs")
    page.wait_for_selector("[data-compare-roc] canvas")
    assert page.locator("[data-warning]").count() == 0
    for run in (binary_run, other):
        test = engine_outputs(run)[0]["test"]
        for metric, shown in (("auc", num3), ("sensitivity", pct), ("specificity", pct)):
            cell = page.locator(f'td[data-run="{run.pk}"][data-metric="{metric}"]')
            assert cell.inner_text().split(" ")[0] == shown(test[metric])
    page.screenshot(path=str(out / "compare-binary-en.png"), full_page=True)

    page.select_option("select[name=language]", "zh-hans")
    page.wait_for_selector("html[lang=zh-hans]")
    page.wait_for_selector("[data-compare-roc] canvas")
    assert page.locator("#overall h2").inner_text() == "总体"
    page.screenshot(path=str(out / "compare-binary-zh.png"), full_page=True)
    page.context.clear_cookies(name="django_language")
    assert not errors, errors
