"""What the study-page viewer's browser tests share: the pages they open and how they read the
canvas back. The viewer draws on Cornerstone's GPU (WebGL) path unless a page asks for ?cpu=1."""

import base64
import io

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from labeling.models import Instance

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

# The canvas region showing the whole current image, resampled to width × height, as base64
# grey bytes (row-major).
IMAGE_PIXELS = """([width, height]) => {
  const viewer = document.querySelector('[data-cxr-viewer]').cxrViewer;
  const [x0, y0, x1, y1] = viewer.imageCanvasRect();
  const source = document.querySelector('[data-cxr-viewer] canvas');
  const copy = document.createElement('canvas');
  copy.width = width; copy.height = height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(source, x0, y0, x1 - x0, y1 - y0, 0, 0, width, height);
  const data = ctx.getImageData(0, 0, width, height).data;
  let text = '';
  for (let i = 0; i < data.length; i += 4) {
    text += String.fromCharCode(Math.round((data[i] + data[i + 1] + data[i + 2]) / 3));
  }
  return btoa(text);
}"""


@pytest.fixture
def demo_studies(personas, tmp_path) -> dict[str, Instance]:
    """Two synthetic radiographs (seed 0: one MONOCHROME1, one MONOCHROME2), by photometric;
    one image per study."""
    call_command(
        "demo", "--team", personas.team.name, "--images", "2", "--size", "256",
        "--workers", "1", "--out", str(tmp_path / "demo"),
    )  # fmt: skip
    instances = {i.photometric: i for i in Instance.objects.select_related("study", "series")}
    assert set(instances) == {"MONOCHROME1", "MONOCHROME2"}
    return instances


def open_study(login, live_server, user, instance: Instance, query: str = "", page=None):
    """The study page, once the viewer has shown its first image (or failed)."""
    page = page or login(user)
    url = reverse("labeling:study-detail", args=[instance.study_id])
    page.goto(f"{live_server.url}{url}{query}")
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


def readout(page, role: str) -> str:
    return page.inner_text(f"{VIEWER} [data-role=readout-{role}]")


def wait_for_readout_change(page, role: str, before: str) -> str:
    """A readout once it differs from ``before`` (it follows the next render), or the last seen."""
    for _ in range(40):
        text = readout(page, role)
        if text != before:
            return text
        page.wait_for_timeout(50)
    return text


def rendered_url(instance: Instance, width: int, height: int) -> str:
    """WADO-RS /rendered of the instance's first frame, fitted into width × height."""
    url = reverse(
        "dicomweb:frame-rendered",
        kwargs={
            "study": instance.study.study_uid,
            "series": instance.series.series_uid,
            "sop": instance.sop_uid,
            "frames": "1",
        },
    )
    return f"{url}?viewport={width},{height}"


def correlation_with_rendered(page, live_server, instance: Instance) -> float:
    """Pearson correlation of the image on the canvas with the server's /rendered PNG of the
    same frame, fetched at the size the image has on the canvas and compared pixel by pixel."""
    x0, y0, x1, y1 = page.evaluate(
        "() => document.querySelector('[data-cxr-viewer]').cxrViewer.imageCanvasRect()"
    )
    url = rendered_url(instance, round(x1 - x0), round(y1 - y0))
    response = page.request.get(f"{live_server.url}{url}", headers={"Accept": "image/png"})
    assert response.ok, f"{url}: HTTP {response.status}"
    server = np.asarray(Image.open(io.BytesIO(response.body())).convert("L"), dtype=np.float64)
    height, width = server.shape
    ours = np.frombuffer(base64.b64decode(page.evaluate(IMAGE_PIXELS, [width, height])), np.uint8)
    ours = ours.reshape(height, width).astype(np.float64)
    assert server.std() > 10, "the server's rendering is blank: nothing to compare with"
    if ours.std() == 0:
        return 0.0
    return float(np.corrcoef(ours.ravel(), server.ravel())[0, 1])
