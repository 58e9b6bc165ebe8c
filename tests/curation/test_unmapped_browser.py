"""A curator empties the unmapped queue from the keyboard: a digit maps, n marks no label."""

# Fixtures shared with other modules are imported by name; pytest, not the code, uses them.
# ruff: noqa: F401, F811

import pytest

from curation import services
from curation.models import ClauseDecision

from .test_label_sets import curated  # fixture
from .test_unmapped_queue import FRACTURE, arrived  # fixture
from .test_workspace_browser import page  # fixture: chromium, logged in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_curator_maps_one_clause_with_a_digit_and_marks_the_next_as_no_label(
    page,
    live_server,
    arrived,
    curator,
):
    team = arrived[0].team
    services.auto_label_new_reports(team, curator)
    page.goto(f"{live_server.url}/curation/unmapped/")
    items = page.locator("#unmapped .unmapped-item")
    assert items.count() == 2 and "current" in items.first.get_attribute("class")

    page.keyboard.press("5")  # the fifth label: pleural thickening
    page.locator(f'#unmapped .unmapped-item[data-text="{FRACTURE}"]').wait_for(state="detached")
    page.keyboard.press("n")
    page.locator("#unmapped .empty").wait_for()

    decisions = dict(
        ClauseDecision.objects.of_team(team)
        .filter(normalized__in=[FRACTURE, "未见肺结节"])
        .values_list("normalized", "verdict")
    )
    assert decisions == {FRACTURE: "label", "未见肺结节": "no_label"}
    assert ClauseDecision.objects.get(normalized=FRACTURE).label.key == "pleural_thickening"
