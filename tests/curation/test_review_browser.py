"""Curators at the keyboard: review images (a accepts, a digit toggles a label, Enter saves) and
split ticked clauses out of a cluster with s."""

# Fixtures shared with other modules are imported by name; pytest, not the code, uses them.
# ruff: noqa: F401, F811

import pytest

from curation.models import ImageReview

from .conftest import cluster_with
from .test_workspace_browser import page  # fixture: chromium, logged in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reviews(corpus):
    """Two images waiting for review: normal next to a disease, as freezing queues them."""
    return [
        ImageReview.objects.create(
            team=corpus.team, instance=corpus.instances[i], proposed=proposed
        )
        for i, proposed in ((8, ["normal", "increased_heart_shadow"]), (5, ["normal"]))
    ]


def test_curator_accepts_one_image_and_corrects_the_next_from_the_keyboard(
    page,
    live_server,
    reviews,
):
    first, second = reviews
    page.goto(f"{live_server.url}/curation/review/")
    items = page.locator("#reviews .review")
    items.first.wait_for()
    assert "current" in items.nth(0).get_attribute("class")

    page.keyboard.press("a")
    page.locator(f'#reviews .review.status-accepted[data-id="{first.pk}"]').wait_for()
    assert "current" in items.nth(1).get_attribute("class")  # the cursor moved on

    page.keyboard.press("1")  # normal off
    page.keyboard.press("5")  # pleural thickening on
    toggles = items.nth(1).locator(".label-toggles input")
    assert not toggles.nth(0).is_checked() and toggles.nth(4).is_checked()
    page.keyboard.press("Enter")
    page.locator(f'#reviews .review.status-corrected[data-id="{second.pk}"]').wait_for()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.labels) == ("accepted", ["normal", "increased_heart_shadow"])
    assert (second.status, second.labels) == ("corrected", ["pleural_thickening"])


def test_curator_splits_a_ticked_clause_into_a_new_cluster_with_s(
    page,
    live_server,
    small_run,
):
    from playwright.sync_api import expect

    page.goto(f"{live_server.url}/curation/")
    source = page.locator("#clusters .cluster", has_text="主动脉硬化").first
    source.click()
    member = page.locator("#detail form.members tr", has_text="主动脉弓硬化")
    member.locator("input[type=checkbox]").check()
    page.keyboard.press("s")
    page.locator("#split-dialog input[name=name]").fill("aortic arch")
    page.keyboard.press("Enter")

    page.locator("#clusters .cluster-name", has_text="aortic arch").wait_for()
    moved = cluster_with(small_run, "主动脉弓硬化")
    assert moved.name == "aortic arch"
    assert cluster_with(small_run, "主动脉硬化").pk != moved.pk
    expect(page.locator("#detail form.members")).not_to_contain_text("主动脉弓硬化")


def test_curator_sees_the_model_s_evidence_and_corrects_the_image(page, live_server, corpus,
                                                                   curator):  # fmt: skip
    from curation import services
    from curation.services import Disagreement

    image = corpus.instances[11]  # 双肺气肿, with nothing mapped yet
    services.queue_model_disagreements(corpus.team, curator, run_id=41, run_name="tiny run",
                                       found=[Disagreement(image.sop_uid, "emphysema", "unreported",
                                                           0.93, ("normal",))])  # fmt: skip
    review = ImageReview.objects.get(instance=image)
    page.goto(f"{live_server.url}/curation/review/")
    item = page.locator(f'#review-{review.pk}[data-reason="model disagreement"]')
    evidence = item.locator('.evidence li[data-run="41"][data-label="emphysema"]')
    evidence.wait_for()
    text = evidence.inner_text()
    assert "not labelled, but the run says present" in text and "0.930" in text

    toggles = item.locator(".label-toggles input")
    assert toggles.nth(0).is_checked()  # proposed: normal, as the run's label set had it
    position = [t.get_attribute("value") for t in toggles.all()].index("emphysema")
    page.keyboard.press("1")  # normal off
    page.keyboard.press(str(position + 1))  # emphysema on
    page.keyboard.press("Enter")
    page.locator(f'#reviews .review.status-corrected[data-id="{review.pk}"]').wait_for()
    review.refresh_from_db()
    assert (review.status, review.labels) == ("corrected", ["emphysema"])
    frozen = services.freeze_label_set(corpus.team, curator)
    assert frozen.images.get(sop_uid=image.sop_uid).labels == ["emphysema"]
