"""The study page's Cornerstone viewer in Debian chromium, against our own /dicomweb/ endpoints.

Pages open with ?cpu=1: headless chromium renders Cornerstone's GPU path black.
"""

import pytest
from django.core.management import call_command
from django.urls import reverse

from labeling.models import Instance

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWER = "[data-cxr-viewer]"
# Where labeling/synth/anatomy.py draws the anatomy, as fractions of (column, row, column, row).
LEFT_LUNG = (0.22, 0.30, 0.36, 0.55)
RIGHT_LUNG = (0.64, 0.30, 0.78, 0.55)
MEDIASTINUM = (0.46, 0.30, 0.54, 0.70)

# Copies the viewer canvas (2D or WebGL) into a 2D canvas and returns the mean grey level of a
# rectangle (canvas pixels; the whole canvas when none is given) and of an 8×8 grid of cells.
CANVAS_STATS = """(rect) => {
  const source = document.querySelector('[data-cxr-viewer] canvas');
  const copy = document.createElement('canvas');
  copy.width = source.width; copy.height = source.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(source, 0, 0);
  const [x0, y0, x1, y1] = (rect || [0, 0, copy.width, copy.height]).map(Math.round);
  const data = ctx.getImageData(x0, y0, x1 - x0, y1 - y0).data;
  const w = x1 - x0, h = y1 - y0, grid = new Array(64).fill(0), counts = new Array(64).fill(0);
  let sum = 0, sumSq = 0;
  for (let i = 0; i < w * h; i++) {
    const grey = (data[4 * i] + data[4 * i + 1] + data[4 * i + 2]) / 3;
    sum += grey; sumSq += grey * grey;
    const cell = Math.floor((Math.floor(i / w) * 8) / h) * 8 + Math.floor(((i % w) * 8) / w);
    grid[cell] += grey; counts[cell] += 1;
  }
  const mean = sum / (w * h);
  return { mean, std: Math.sqrt(sumSq / (w * h) - mean * mean),
           grid: grid.map((g, k) => g / counts[k]) };
}"""

# Canvas rectangle showing image rectangle [c0, r0, c1, r1] of the current image.
IMAGE_RECT = """([c0, r0, c1, r1]) => {
  const viewer = document.querySelector('[data-cxr-viewer]').cxrViewer;
  const [x0, y0] = viewer.imagePointToCanvas(c0, r0);
  const [x1, y1] = viewer.imagePointToCanvas(c1, r1);
  return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
}"""


@pytest.fixture
def demo_studies(personas, tmp_path) -> dict[str, Instance]:
    """Two synthetic radiographs (seed 0: one MONOCHROME1, one MONOCHROME2), by photometric."""
    call_command(
        "demo", "--team", personas.team.name, "--images", "2", "--size", "256",
        "--workers", "1", "--out", str(tmp_path / "demo"),
    )  # fmt: skip
    instances = {i.photometric: i for i in Instance.objects.select_related("study")}
    assert set(instances) == {"MONOCHROME1", "MONOCHROME2"}
    return instances


def open_study(login, live_server, user, instance: Instance):
    """The study page in CPU mode, once the viewer has shown its first image (or failed)."""
    page = login(user)
    url = reverse("labeling:study-detail", args=[instance.study_id])
    page.goto(f"{live_server.url}{url}?cpu=1")
    page.wait_for_selector(f"{VIEWER}:not([data-state=loading])")
    return page


def canvas_stats(page, rect=None) -> dict:
    return page.evaluate(CANVAS_STATS, rect)


def region_mean(page, instance: Instance, fractions: tuple[float, float, float, float]) -> float:
    """Mean grey level on screen of an image region given as fractions of columns / rows."""
    c0, r0, c1, r1 = fractions
    image_rect = [
        c0 * instance.columns,
        r0 * instance.rows,
        c1 * instance.columns,
        r1 * instance.rows,
    ]
    return canvas_stats(page, page.evaluate(IMAGE_RECT, image_rect))["mean"]


def grid_change(before: dict, after: dict) -> float:
    return max(abs(a - b) for a, b in zip(before["grid"], after["grid"], strict=True))


def drag(page, dx: float, dy: float) -> None:
    """A primary-button drag from the middle of the viewport."""
    box = page.locator(f"{VIEWER} [data-role=viewport]").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=8)
    page.mouse.up()


def wait_for_change(page, before: dict, minimum: float = 8.0) -> dict:
    """Rendering follows input by an animation frame or two: poll briefly for the new pixels."""
    for _ in range(40):
        after = canvas_stats(page)
        if grid_change(before, after) >= minimum:
            return after
        page.wait_for_timeout(50)
    return after


def settled_mean(page, instance: Instance, region, target: float, tolerance: float = 3.0) -> float:
    """A region's mean once it comes within ``tolerance`` of ``target``, or the last one seen
    after two seconds: a reset redraws over a frame or two, and the first changed frame can be a
    half-drawn one (seen as an all-black region under load)."""
    for _ in range(40):
        mean = region_mean(page, instance, region)
        if abs(mean - target) < tolerance:
            break
        page.wait_for_timeout(50)
    return mean


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
