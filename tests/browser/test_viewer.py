"""The study page's Cornerstone viewer in Debian chromium, against our own /dicomweb/ endpoints.

These pages open with ?cpu=1, so Cornerstone's CPU path stays covered; the GPU (WebGL) path, the
switch between the two and the controls are in test_viewer_rendering.py and
test_viewer_controls.py.
"""

import pytest
from django.urls import reverse

from labeling.models import Instance
from tests.browser import viewer_support
from tests.browser.viewer_support import (  # IMAGE_RECT: test_heatmap_overlay.py imports it here
    IMAGE_RECT,  # noqa: F401
    LEFT_LUNG,
    MEDIASTINUM,
    RIGHT_LUNG,
    VIEWER,
    canvas_stats,
    drag,
    grid_change,
    region_mean,
    settled_mean,
    wait_for_change,
)
from tests.browser.viewer_support import open_study as open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]
demo_studies = viewer_support.demo_studies


def open_study(login, live_server, user, instance: Instance):
    """The study page in CPU mode, once the viewer has shown its first image (or failed)."""
    return open_page(login, live_server, user, instance, "?cpu=1")


def test_study_page_viewer_draws_the_radiograph_and_a_window_drag_changes_it(
    login, live_server, personas, demo_studies
):
    instance = demo_studies["MONOCHROME2"]
    page = open_study(login, live_server, personas.teammate, instance)
    assert page.get_attribute(VIEWER, "data-state") == "ready"
    before = canvas_stats(page)
    assert before["std"] > 20, (
        f"viewer canvas looks blank: {before['mean']:.1f} ± {before['std']:.1f}"
    )

    drag(page, dx=160, dy=120)
    after = wait_for_change(page, before)
    assert grid_change(before, after) >= 8, "a window / level drag did not change the pixels"
    page.screenshot(path="/tmp/cxr-viewer-window-drag.png")


def test_monochrome1_radiograph_shows_dark_lungs_and_the_tag_panel(
    login, live_server, personas, demo_studies
):
    instance = demo_studies["MONOCHROME1"]
    page = open_study(login, live_server, personas.owner, instance)
    assert page.get_attribute(VIEWER, "data-state") == "ready"
    page.screenshot(path="/tmp/cxr-viewer-monochrome1.png")

    left_lung, right_lung, mediastinum = (
        region_mean(page, instance, region) for region in (LEFT_LUNG, RIGHT_LUNG, MEDIASTINUM)
    )
    assert max(left_lung, right_lung) + 30 < mediastinum, (left_lung, right_lung, mediastinum)

    page.click(f"{VIEWER} summary")
    row = page.locator(f"{VIEWER} [data-role=tags] tr", has_text="(0028,0004)")
    assert row.inner_text().split("\t")[1:] == ["PhotometricInterpretation", "CS", "MONOCHROME1"]


def test_keyboard_inverts_applies_presets_and_resets(login, live_server, personas, demo_studies):
    instance = demo_studies["MONOCHROME1"]
    page = open_study(login, live_server, personas.owner, instance)
    start = canvas_stats(page)
    lungs_at_start = region_mean(page, instance, LEFT_LUNG)

    page.keyboard.press("i")
    inverted = wait_for_change(page, start)
    lungs, mediastinum = (region_mean(page, instance, r) for r in (LEFT_LUNG, MEDIASTINUM))
    assert lungs > mediastinum + 30, (
        f"I did not invert: lungs {lungs:.0f}, mediastinum {mediastinum:.0f}"
    )

    page.keyboard.press("r")
    wait_for_change(page, inverted)
    reset = settled_mean(page, instance, LEFT_LUNG, lungs_at_start)
    assert abs(reset - lungs_at_start) < 3, "R did not reset"

    page.keyboard.press("3")  # bone: lungs sit below the window, so they turn black
    wait_for_change(page, start, minimum=4)
    assert region_mean(page, instance, LEFT_LUNG) < min(lungs_at_start, 10)
    assert page.get_attribute(f"{VIEWER} [data-action=zoom]", "aria-pressed") == "false"
    page.keyboard.press("z")
    assert page.get_attribute(f"{VIEWER} [data-action=zoom]", "aria-pressed") == "true"
    before_zoom = canvas_stats(page)
    drag(page, dx=0, dy=-150)
    assert grid_change(before_zoom, wait_for_change(page, before_zoom)) >= 8, "Z drag did not zoom"


def test_an_image_that_fails_to_load_shows_the_error_tile(
    login, live_server, personas, demo_studies
):
    page = login(personas.owner)
    page.route("**/frames/**", lambda route: route.fulfill(status=500, body="decoder exploded"))
    url = reverse("labeling:study-detail", args=[demo_studies["MONOCHROME2"].study_id])
    page.goto(f"{live_server.url}{url}?cpu=1")
    page.wait_for_selector(f"{VIEWER}[data-state=error]")
    tile = page.locator(f"{VIEWER} [data-role=error]")
    assert tile.is_visible()
    assert demo_studies["MONOCHROME2"].sop_uid in tile.inner_text()
