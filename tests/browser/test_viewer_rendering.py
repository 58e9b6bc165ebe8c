"""The viewer draws every image it is given on the GPU (WebGL) path, or switches to the CPU path
and says so. Headless chromium's WebGL is software (SwiftShader), the same code path as a GPU.

RG1 (pydicom-data: CR, MONOCHROME1, BitsStored 15, window 15000 / 30000, Pixel Spacing
``0.000\\0.000``) used to come out all black here. The cause was the zero Pixel Spacing: the
loader's metadata provider passed it to Cornerstone, the image got a 0 × 0 extent in world space
and the camera a NaN scale (frontend/src/viewer/sanitize.js). It was not specific to software
WebGL, so these tests check the GPU drawing itself against the server's /rendered PNG.
"""

from pathlib import Path

import pytest
from django.core.management import call_command
from pydicom.data import get_testdata_file

from labeling.models import Instance
from tests.browser import viewer_support
from tests.browser.viewer_support import VIEWER, canvas_stats, correlation_with_rendered, open_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]
demo_studies = viewer_support.demo_studies

PIXEL_SPACING = "00280030"
MIN_CORRELATION = 0.9

# A graphics driver that accepts every WebGL call and draws nothing: draw calls become no-ops.
GPU_DRAWS_NOTHING = """
for (const Context of [WebGLRenderingContext, WebGL2RenderingContext]) {
  for (const name of ['drawArrays', 'drawElements', 'drawArraysInstanced',
                      'drawElementsInstanced', 'drawRangeElements']) {
    if (Context.prototype[name]) Context.prototype[name] = function () {};
  }
}
"""

VIEWER_STATE = """() => {
  const element = document.querySelector('[data-cxr-viewer]');
  const viewer = element.cxrViewer;
  return {
    rendering: element.dataset.rendering,
    reason: element.dataset.renderingReason,
    cpu: viewer.viewport.useCPURendering === true,
    parallelScale: viewer.viewport.getCamera().parallelScale,
    repairs: viewer.entries.map((entry) => entry.repairs),
    sop: viewer.entries.map((entry) => entry.instance['00080018'].Value[0]),
  };
}"""


def rg1_file(name: str) -> Path:
    """A file of pydicom-data (a dev dependency): its wheel ships RG1 for offline use."""
    path = get_testdata_file(name)
    if path is None:
        pytest.fail(f"{name} not found: install the dev extras (pydicom-data)")
    return Path(path)


@pytest.fixture
def rg1(personas) -> dict[str, Instance]:
    """RG1 uncompressed and JPEG 2000 lossless, imported into one study of two images."""
    files = [rg1_file("RG1_UNCR.dcm"), rg1_file("RG1_J2KR.dcm")]
    call_command("ingest", "--team", personas.team.name, *map(str, files))
    instances = Instance.objects.select_related("study", "series")
    by_syntax = {i.transfer_syntax: i for i in instances}
    assert set(by_syntax) == {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.90"}
    assert len({i.study_id for i in instances}) == 1
    return {
        "uncompressed": by_syntax["1.2.840.10008.1.2.1"],
        "j2k": by_syntax["1.2.840.10008.1.2.4.90"],
    }


def wait_for_image(page, sop_uid: str) -> None:
    """Until the viewer has drawn the image with this SOP Instance UID."""
    page.wait_for_function(
        """(sop) => {
          const element = document.querySelector('[data-cxr-viewer]');
          const viewer = element.cxrViewer;
          if (!viewer || element.dataset.state !== 'ready') return false;
          const entry = viewer.entries[viewer.viewport.getCurrentImageIdIndex()];
          return entry?.instance['00080018'].Value[0] === sop;
        }""",
        arg=sop_uid,
    )


def test_rg1_draws_on_the_gpu_like_the_servers_rendering(login, live_server, personas, rg1):
    page = open_study(login, live_server, personas.owner, rg1["uncompressed"])
    state = page.evaluate(VIEWER_STATE)
    assert (state["rendering"], state["reason"], state["cpu"]) == ("gpu", "gpu", False)
    # The cause, named: the zero Pixel Spacing was taken out of what Cornerstone was given, and
    # the camera it fits to the image is a finite one (it was NaN).
    assert state["repairs"] == [[PIXEL_SPACING], [PIXEL_SPACING]]
    assert state["parallelScale"] > 0

    for image in state["sop"]:
        instance = rg1["uncompressed"] if image == rg1["uncompressed"].sop_uid else rg1["j2k"]
        wait_for_image(page, image)
        correlation = correlation_with_rendered(page, live_server, instance)
        print(f"{instance.transfer_syntax}: Pearson r = {correlation:.4f} (GPU vs /rendered)")
        assert correlation >= MIN_CORRELATION, (instance.transfer_syntax, correlation)
        assert page.get_attribute(VIEWER, "data-rendering") == "gpu"
        page.keyboard.press("ArrowRight")
    page.screenshot(path="/tmp/cxr-viewer-rg1-gpu.png")


def test_a_blank_gpu_frame_switches_to_cpu_rendering_and_says_so(login, live_server, personas, rg1):
    page = login(personas.owner)
    page.add_init_script(GPU_DRAWS_NOTHING)
    open_study(login, live_server, personas.owner, rg1["uncompressed"], page=page)
    wait_for_image(page, rg1["uncompressed"].sop_uid)

    state = page.evaluate(VIEWER_STATE)
    assert (state["rendering"], state["reason"], state["cpu"]) == ("cpu", "blank", True)
    status = page.locator(f"{VIEWER} [data-role=status]")
    assert "switched to CPU rendering" in status.inner_text()
    assert status.get_attribute("data-fallback") == "true"
    assert page.is_checked(f"{VIEWER} [data-role=cpu-toggle]")
    correlation = correlation_with_rendered(page, live_server, rg1["uncompressed"])
    assert correlation >= MIN_CORRELATION, correlation


def test_the_cpu_toggle_switches_rendering_both_ways(login, live_server, personas, demo_studies):
    instance = demo_studies["MONOCHROME2"]
    page = open_study(login, live_server, personas.teammate, instance)
    toggle = f"{VIEWER} [data-role=cpu-toggle]"
    assert page.get_attribute(VIEWER, "data-rendering") == "gpu"
    assert not page.is_checked(toggle)
    assert "WebGL" in page.inner_text(f"{VIEWER} [data-role=status]")

    page.check(toggle)
    page.wait_for_selector(f"{VIEWER}[data-rendering=cpu][data-state=ready]")
    assert page.evaluate(VIEWER_STATE)["cpu"] is True
    assert "CPU rendering" in page.inner_text(f"{VIEWER} [data-role=status]")
    assert canvas_stats(page)["std"] > 20, "the CPU path drew a blank canvas"
    assert correlation_with_rendered(page, live_server, instance) >= MIN_CORRELATION
    page.keyboard.press("z")  # the checkbox has the focus: keys still reach the viewer
    assert page.get_attribute(f"{VIEWER} [data-action=zoom]", "aria-pressed") == "true"

    page.uncheck(toggle)
    page.wait_for_selector(f"{VIEWER}[data-rendering=gpu][data-state=ready]")
    assert page.evaluate(VIEWER_STATE)["cpu"] is False
    assert correlation_with_rendered(page, live_server, instance) >= MIN_CORRELATION


def test_cpu_mode_from_the_url_checks_the_toggle(login, live_server, personas, demo_studies):
    page = open_study(login, live_server, personas.owner, demo_studies["MONOCHROME1"], "?cpu=1")
    assert page.get_attribute(VIEWER, "data-rendering") == "cpu"
    assert page.is_checked(f"{VIEWER} [data-role=cpu-toggle]")
