"""The design system (lab/static/lab/app.css, lab/ui.js) measured in Debian chromium: busy and
disabled buttons, toasts, empty states with a next step, form grids that never overlap, table
headers that wrap by word, and no page wider than the window, in English and Chinese.

With DESIGN_SHOTS=/some/folder set, the page walk also saves a screenshot of every page in both
languages there (the README's "Look and feel" says how they were looked at).
"""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser.test_polish import BOXES, HEADER_LINES, overlap
from tests.lab.test_chinese_ui import (
    curation_pages,
    english_pieces,
    main_pages,
    team_with_data,  # noqa: F401 (fixture)
)
from tests.results.conftest import binary_run, label_set, single_run  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LANGUAGES = {"en": "en", "zh": "zh-hans"}
STYLE = """(el) => { const s = getComputedStyle(el);
  return { bg: s.backgroundColor, image: s.backgroundImage, cursor: s.cursor,
           events: s.pointerEvents, busy: el.getAttribute('aria-busy') }; }"""


def in_language(page, language: str) -> None:
    page.set_extra_http_headers({"Accept-Language": LANGUAGES[language]})


def test_a_submitted_form_marks_its_button_busy(login, live_server, personas):
    page = login(personas.owner)
    page.goto(f"{live_server.url}{reverse('labeling:dicom-listener')}")
    button = page.locator("#add-peer button[type=submit]")
    idle = button.evaluate(STYLE)
    assert idle["busy"] is None and idle["cursor"] == "pointer"
    # Stop the navigation after lab/ui.js has seen the submit (window listeners run last).
    page.evaluate("window.addEventListener('submit', (e) => e.preventDefault())")
    page.fill("#id_ae_title", "PACS1")
    page.fill("#id_host", "10.2.3.4")
    button.click()
    busy = button.evaluate(STYLE)
    assert busy["busy"] == "true"
    assert busy["cursor"] == "progress" and busy["events"] == "none"
    assert "repeating-linear-gradient" in busy["image"]


def test_a_form_its_own_script_stopped_is_not_marked_busy(login, live_server, personas):
    page = login(personas.owner)
    page.goto(f"{live_server.url}{reverse('labeling:dicom-listener')}")
    page.evaluate(
        "document.getElementById('add-peer').addEventListener('submit', (e) => e.preventDefault())"
    )
    page.fill("#id_ae_title", "PACS1")
    page.fill("#id_host", "10.2.3.4")
    page.locator("#add-peer button[type=submit]").click()
    assert page.locator("#add-peer button[type=submit]").get_attribute("aria-busy") is None


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_saved_change_says_so_in_a_toast_that_leaves(
    login, live_server, personas, settings, language
):
    settings.CXR_PACS_ALLOWED_HOSTS = ["10.0.0.0/8"]
    page = login(personas.owner)
    in_language(page, language)
    page.goto(f"{live_server.url}{reverse('labeling:dicom-listener')}")
    page.fill("#id_ae_title", "PACS1")
    page.fill("#id_host", "10.2.3.4")
    page.locator("#add-peer button[type=submit]").click()
    toast = page.locator("#toasts .toast.success")
    toast.wait_for()
    assert (
        toast.inner_text().strip().startswith("Peer added." if language == "en" else "对端已添加")
    )
    box = toast.bounding_box()
    viewport = page.viewport_size
    assert (
        box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    ), box  # fixed in the window's corner, whole
    assert toast.evaluate("(el) => getComputedStyle(el.parentElement).position") == "fixed"
    toast.wait_for(state="detached", timeout=10_000)  # a success leaves by itself


def test_an_error_toast_stays_until_closed(login, live_server, personas):
    page = login(personas.owner)
    page.goto(f"{live_server.url}{reverse('home')}")
    page.evaluate("""() => {
      document.dispatchEvent(new CustomEvent('cxr:toast', {detail: {message: 'Could not save <b>', kind: 'error'}}));
      document.dispatchEvent(new CustomEvent('cxr:toast', {detail: {message: 'Saved', kind: 'info'}}));
    }""")
    error = page.locator("#toasts .toast.error")
    assert error.get_attribute("role") == "alert"
    assert error.locator(".toast-text").inner_text() == "Could not save <b>"  # text, not markup
    page.locator("#toasts .toast.info").wait_for(state="detached", timeout=10_000)
    assert error.is_visible()  # the info toast left; the error is still there
    error.locator(".toast-close").click()
    error.wait_for(state="detached")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_empty_lists_offer_the_next_step(login, live_server, personas, language):
    page = login(personas.outsider)  # the other team has nothing yet
    in_language(page, language)
    pages = {
        "training:job-list": ("#no-jobs", "curation:label-sets"),
        "training:model-list": ("#no-models", "training:launch"),
        "results:run-list": ("#no-runs", "training:launch"),
        "labeling:study-list": ("#no-studies", "labeling:upload"),
        "home": ("#no-studies", "labeling:upload"),
    }
    for name, (selector, target) in pages.items():
        page.goto(f"{live_server.url}{reverse(name)}")
        if shots := os.environ.get("DESIGN_SHOTS"):
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=Path(shots) / f"empty-{name.split(':')[-1]}.{language}.png")
        state = page.locator(f"{selector}.empty-state")
        assert state.locator(".empty-state-title").inner_text().strip(), name
        link = state.locator("a.button")
        assert link.get_attribute("href") == reverse(target), name
        with page.expect_navigation():
            link.click()
        assert page.url == f"{live_server.url}{reverse(target)}", name


@pytest.mark.parametrize("width", [1100, 480])
def test_form_grids_never_overlap(login, live_server, personas, width):
    page = login(personas.owner)
    page.set_viewport_size({"width": width, "height": 900})
    in_language(page, "zh")
    for name, form in (("labeling:dicom-listener", "#add-peer"),
                       ("labeling:dicom-listener", "#listener-settings"),
                       ("labeling:pacs", "#pacs-connection")):  # fmt: skip
        page.goto(f"{live_server.url}{reverse(name)}")
        fields = page.evaluate(BOXES, f"{form} > .field")
        assert len(fields) >= 2, (name, form)
        for i, a in enumerate(fields):
            for b in fields[i + 1 :]:
                assert not overlap(a, b), (form, a, b)
        right = page.evaluate(BOXES, form)[0]["x1"]
        for box in page.evaluate(BOXES, f"{form} .field input, {form} .field select"):
            assert box["x1"] <= right + 0.5, (form, box)


def test_chinese_table_headers_wrap_only_between_words(
    login,
    live_server,
    personas,
    team_with_data,  # noqa: F811
):
    page = login(personas.owner)
    page.set_viewport_size({"width": 640, "height": 900})
    in_language(page, "zh")
    for name in ("training:job-list", "training:model-list", "results:run-list"):
        page.goto(f"{live_server.url}{reverse(name)}")
        headers = page.evaluate(HEADER_LINES, "table th")
        assert headers, name
        for header in headers:
            words = max(1, len(header["text"].split()))
            assert header["lines"] < words + 0.5, (name, header)


# Every page fits its window: nothing is wider than the viewport but a table that scrolls.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll('main *')].filter((el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1) return false;
    return !el.closest('.table-scroll, table, pre, .log, .viewer, .chart, .job-chart');
  }).map((el) => el.tagName + '.' + el.className + '#' + el.id).slice(0, 5);
}"""


# The text a person sees once scripts ran, one line a piece, less code (as english_runs reads).
SHOWN = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('code, kbd, pre, samp, script, style, svg, canvas, template').forEach((el) => el.remove());
  document.body.append(copy);
  copy.style.cssText = 'position:absolute; left:-99999px; top:0; width:1100px';
  const lines = copy.innerText.split('\\n').filter((line) => line.trim());
  copy.remove();
  return lines;
}"""


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_page_fits_its_window(login, live_server, personas, team_with_data, language):  # noqa: F811
    shots = os.environ.get("DESIGN_SHOTS")
    page = login(personas.owner)
    in_language(page, language)
    spilled, english = {}, {}
    pages = main_pages(personas.team, team_with_data)
    # The curation pages are photographed too (their look is the curation work's, not checked).
    shown = {**pages, **(curation_pages(personas.team) if shots else {})}
    for name, url in shown.items():
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("load")
        assert page.locator("html").get_attribute("lang") == LANGUAGES[language], name
        if name in pages and (found := page.evaluate(OVERFLOW)):
            spilled[name] = found
        if name in pages and language == "zh" and (found := english_pieces(page.evaluate(SHOWN))):
            english[name] = found  # what scripts wrote, too (the live job page's table...)
        if shots:
            folder = Path(shots)
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=folder / f"{name.replace(' ', '-')}.{language}.png", full_page=True
            )
    assert not spilled, spilled
    assert not english, english
