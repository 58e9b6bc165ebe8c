"""The viewer's keys, help, wheel, on-image readouts and the study page's layout, in chromium on
the GPU (WebGL) path.

Keys used to stop after a press on the image: the press focuses Cornerstone's viewport element,
whose keydown listener (Cornerstone Tools, tracking modifier keys) calls preventDefault() on every
key, and the viewer's bubbling listener skipped handled events. It now listens in the capture
phase (frontend/src/viewer/mount.js).
"""

import re

import pytest
from django.urls import reverse

from tests.browser import viewer_support
from tests.browser.viewer_support import (
    LEFT_LUNG,
    MEDIASTINUM,
    VIEWER,
    canvas_stats,
    drag,
    grid_change,
    open_study,
    readout,
    region_mean,
    wait_for_change,
    wait_for_readout_change,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
demo_studies = viewer_support.demo_studies

FOCUSED_ROLE = "() => document.activeElement?.dataset?.role ?? document.activeElement?.tagName"


def zoom_percent(page) -> int:
    return int(re.search(r"(\d+)\s*%", readout(page, "zoom")).group(1))


def test_keys_work_after_the_image_was_dragged(login, live_server, personas, demo_studies):
    instance = demo_studies["MONOCHROME1"]
    page = open_study(login, live_server, personas.owner, instance)
    start = canvas_stats(page)
    drag(page, dx=60, dy=40)  # a window drag: focus is on the image now
    dragged = wait_for_change(page, start)
    assert page.evaluate(FOCUSED_ROLE) == "viewport"

    window_before = readout(page, "window")
    page.keyboard.press("1")  # the lung preset
    assert wait_for_readout_change(page, "window", window_before) != window_before
    page.keyboard.press("r")
    wait_for_change(page, dragged, minimum=4)

    page.keyboard.press("i")
    wait_for_change(page, canvas_stats(page), minimum=4)
    lungs, mediastinum = (region_mean(page, instance, r) for r in (LEFT_LUNG, MEDIASTINUM))
    assert lungs > mediastinum + 30, (
        f"I did not invert: lungs {lungs:.0f}, mediastinum {mediastinum:.0f}"
    )

    page.keyboard.press("z")
    assert page.get_attribute(f"{VIEWER} [data-action=zoom]", "aria-pressed") == "true"
    zoom_before = zoom_percent(page)
    drag(page, dx=0, dy=-150)
    page.wait_for_function(
        "([selector, before]) => !document.querySelector(selector).textContent.includes(before)",
        arg=[f"{VIEWER} [data-role=readout-zoom]", f"{zoom_before}%"],
    )
    assert zoom_percent(page) != zoom_before, "Z then a drag did not zoom"

    assert page.evaluate(FOCUSED_ROLE) == "viewport"
    page.keyboard.press("w")
    assert page.get_attribute(f"{VIEWER} [data-action=windowLevel]", "aria-pressed") == "true"
    assert page.get_attribute(f"{VIEWER} [data-action=zoom]", "aria-pressed") == "false"


def test_question_mark_lists_the_viewer_keys_even_after_a_drag(
    login, live_server, personas, demo_studies
):
    page = open_study(login, live_server, personas.teammate, demo_studies["MONOCHROME2"])
    drag(page, dx=30, dy=30)
    help_panel = page.locator("#shortcut-help")
    assert help_panel.is_hidden()

    page.keyboard.press("?")
    assert help_panel.is_visible()
    keys = help_panel.locator(".viewer-help dl").inner_text()
    for key, words in [
        ("W", "Window / level"),
        ("Z", "Zoom"),
        ("I", "Invert"),
        ("R", "Reset"),
        ("4", "Full value range"),
    ]:
        assert key in keys and words in keys, (key, words, keys)
    assert "g" in help_panel.inner_text()  # the page's own shortcuts are still listed

    page.keyboard.press("?")
    assert help_panel.is_hidden()
    page.click(f"{VIEWER} [data-action=help]")
    assert help_panel.is_visible()
    page.keyboard.press("Escape")
    assert help_panel.is_hidden()


def test_the_wheel_zooms_a_single_image_around_the_pointer(
    login, live_server, personas, demo_studies
):
    page = open_study(login, live_server, personas.owner, demo_studies["MONOCHROME2"])
    assert readout(page, "position") == "Image 1 of 1"
    before_pixels = canvas_stats(page)
    before = zoom_percent(page)
    box = page.locator(f"{VIEWER} [data-role=viewport]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    page.mouse.wheel(0, -300)  # away from the user: zoom in
    wait_for_readout_change(page, "zoom", f"Zoom {before}%")
    zoomed_in = zoom_percent(page)
    assert zoomed_in > before * 1.3, (before, zoomed_in)
    assert grid_change(before_pixels, wait_for_change(page, before_pixels)) >= 8
    assert readout(page, "position") == "Image 1 of 1", "the wheel must not step on one image"

    page.mouse.wheel(0, 300)
    wait_for_readout_change(page, "zoom", f"Zoom {zoomed_in}%")
    assert abs(zoom_percent(page) - before) <= 1


def test_readouts_show_patient_date_position_window_and_zoom(
    login, live_server, personas, demo_studies
):
    instance = demo_studies["MONOCHROME2"]
    study = instance.study
    page = open_study(login, live_server, personas.owner, instance)

    assert readout(page, "patient") == study.patient_id
    assert study.patient_id.startswith("ANON-")  # the pseudonym, never the original ID
    date = readout(page, "date")
    assert str(study.study_date.year) in date and study.study_date.strftime("%b") in date
    assert readout(page, "position") == "Image 1 of 1"
    centre, width = page.evaluate(
        """() => {
          const { lower, upper } = document.querySelector('[data-cxr-viewer]').cxrViewer
            .viewport.getProperties().voiRange;
          return [(lower + upper + 1) / 2, upper - lower + 1];
        }"""
    )
    window = readout(page, "window")
    assert window == f"C {round(centre)} / W {round(width)}", (window, centre, width)
    assert zoom_percent(page) > 0

    drag(page, dx=120, dy=-80)
    assert wait_for_readout_change(page, "window", window) != window


def test_readouts_and_status_are_translated(login, live_server, personas, demo_studies):
    page = login(personas.owner)
    page.context.add_cookies(
        [{"name": "django_language", "value": "zh-hans", "url": live_server.url}]
    )
    open_study(login, live_server, personas.owner, demo_studies["MONOCHROME2"], page=page)
    assert readout(page, "position") == "第 1 / 1 幅"
    assert readout(page, "zoom").startswith("缩放")
    assert "年" in readout(page, "date")
    assert "WebGL" in page.inner_text(f"{VIEWER} [data-role=status]")
    assert "显卡" in page.inner_text(f"{VIEWER} [data-role=status]")
    page.context.clear_cookies(name="django_language")


def test_the_report_stands_beside_the_image_on_a_wide_screen(
    login, live_server, personas, demo_studies
):
    page = login(personas.owner)
    url = reverse("labeling:study-detail", args=[demo_studies["MONOCHROME1"].study_id])

    page.set_viewport_size({"width": 1680, "height": 1000})
    page.goto(f"{live_server.url}{url}")
    page.wait_for_selector(f"{VIEWER}:not([data-state=loading])")
    image = page.locator(f"{VIEWER} .viewer-stage").bounding_box()
    report = page.locator("section.report").bounding_box()
    assert report["x"] >= image["x"] + image["width"], (image, report)
    assert report["y"] < image["y"] + image["height"], "the report is not beside the image"
    assert image["width"] > 900, "the image should take the room the wide screen gives"
    page.screenshot(path="/tmp/cxr-viewer-wide.png")

    page.set_viewport_size({"width": 900, "height": 1000})
    image = page.locator(f"{VIEWER} .viewer-stage").bounding_box()
    report = page.locator("section.report").bounding_box()
    assert report["y"] >= image["y"] + image["height"], "on a narrow screen the report goes below"


def test_a_frame_that_fails_to_load_on_the_gpu_path_shows_the_error_tile(
    login, live_server, personas, demo_studies
):
    page = login(personas.owner)
    page.route("**/frames/**", lambda route: route.fulfill(status=500, body="decoder exploded"))
    open_study(login, live_server, personas.owner, demo_studies["MONOCHROME2"], page=page)
    assert page.get_attribute(VIEWER, "data-state") == "error"
    assert page.locator(f"{VIEWER} [data-role=error]").is_visible()
    # A load error is the server's, not the GPU's: no switch to the CPU path.
    assert page.get_attribute(VIEWER, "data-rendering") == "gpu"
