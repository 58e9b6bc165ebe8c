"""The Content-Security-Policy in chromium: no page a user reaches breaks it.

Every page records the `securitypolicyviolation` events its document fires (an init script) and
the console's CSP messages (which also cover the viewer's decode worker). Pages are driven the
way people use them, so the code that runs after loading runs too: the viewer draws, chart
tooltips open, the workspace loads a cluster, Swagger UI renders the schema.

Production serves static files through WhiteNoise inside the middleware stack, so scripts and the
decode worker carry the policy (tests/lab/test_csp.py::test_static_files_carry_the_policy_too);
Django's live server serves them beside the middleware. The fixture below gives them the same
header, so the worker compiles its WebAssembly codecs under the policy here as it does there.
"""

import io

import pytest
from csp.middleware import CSPMiddleware
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.urls import reverse
from pydicom import uid as dcm_uid

from labeling.models import Instance
from labeling.services import ingest_file
from tests.curation.conftest import cluster_with, corpus, curator, small_run  # noqa: F401
from tests.dicom_factory import make_dx, to_bytes
from tests.results.conftest import binary_run, label_set, single_run  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(
    `${e.effectiveDirective} refused ${e.blockedURI || "inline code"} ` +
    `(${e.sourceFile}:${e.lineNumber}) ${e.sample}`);
});
"""


@pytest.fixture(autouse=True)
def _static_files_under_the_policy(monkeypatch):
    serve = StaticFilesHandler.serve

    def serve_with_the_policy(self, request):
        response = serve(self, request)
        return CSPMiddleware(lambda _request: response).process_response(request, response)

    monkeypatch.setattr(StaticFilesHandler, "serve", serve_with_the_policy)


@pytest.fixture(scope="module", autouse=True)
def _record_violations(browser_context):
    browser_context.add_init_script(RECORD_VIOLATIONS)


class Tour:
    """One page, visited URL after URL, with what each of them refused."""

    def __init__(self, page, base: str) -> None:
        self.page, self.base = page, base
        self.console: list[str] = []
        self.refused: dict[str, list[str]] = {}
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def visit(self, url: str, ready: str | None = None) -> None:
        self.page.goto(f"{self.base}{url}")
        if ready:
            self.page.wait_for_selector(ready)
        self.record(url)

    def record(self, where: str) -> None:
        """What the current page and the console have refused since the last record."""
        self.page.wait_for_load_state("networkidle")
        found = self.page.evaluate("window.cspViolations || []") + self.console
        self.console = []
        if found:
            self.refused.setdefault(where, []).extend(found)

    def hover_middle(self, selector: str) -> str:
        """Hovers the middle of a chart and returns the text it then shows (its tooltip)."""
        self.page.locator(selector).hover()  # scrolled into view, the pointer at its middle
        self.page.wait_for_function(
            "(s) => document.querySelector(s).innerText.trim() !== ''", arg=selector
        )
        return self.page.locator(selector).inner_text()


def tour_for(login, live_server, user) -> Tour:
    return Tour(login(user), live_server.url)


def test_no_page_a_user_reaches_refuses_anything(
    login,
    live_server,
    personas,
    label_set,  # noqa: F811 - the fixtures imported above
    single_run,  # noqa: F811
    binary_run,  # noqa: F811
    small_run,  # noqa: F811
):
    tour = tour_for(login, live_server, personas.owner)
    tour.visit(reverse("home"))
    tour.visit(reverse("labeling:upload"))
    tour.visit(reverse("labeling:pacs"))
    tour.visit(reverse("labeling:study-list"), "img")

    # The study page, with the viewer drawing a demo radiograph, then a window drag.
    study = label_set.images.order_by("pk").first().instance.study
    tour.visit(f"{reverse('labeling:study-detail', args=[study.pk])}?cpu=1",
               "[data-cxr-viewer][data-state=ready]")  # fmt: skip
    viewport = tour.page.locator("[data-cxr-viewer] [data-role=viewport]").bounding_box()
    tour.page.mouse.move(viewport["x"] + 100, viewport["y"] + 100)
    tour.page.mouse.down()
    tour.page.mouse.move(viewport["x"] + 180, viewport["y"] + 160, steps=6)
    tour.page.mouse.up()
    tour.record("the viewer, dragged")
    # The GPU path that browsers with WebGL take (headless chromium draws it black).
    tour.visit(reverse("labeling:study-detail", args=[study.pk]),
               "[data-cxr-viewer]:not([data-state=loading])")  # fmt: skip

    # The curation workspace, one cluster's detail loaded into it, and its own page.
    tour.visit(reverse("curation:workspace"), "#clusters .cluster")
    tour.page.locator("#clusters .cluster").first.click()
    tour.page.keyboard.press("Enter")
    tour.page.wait_for_selector("#detail .words li")
    tour.record("the workspace's cluster detail")
    cluster = cluster_with(small_run, "主动脉硬化")
    tour.visit(reverse("curation:cluster-detail", args=[cluster.pk]), ".words li")
    tour.visit(reverse("curation:label-sets"))
    tour.visit(reverse("curation:review"))
    tour.visit(reverse("curation:unmapped"))
    tour.visit(reverse("curation:labels"))

    # Jobs: the list, a finished run's live page with its curves, the launch form.
    tour.visit(reverse("training:job-list"))
    tour.visit(reverse("training:job-detail", args=[single_run.pk]), "#job-chart canvas")
    assert tour.hover_middle("#job-chart")
    tour.record("the job's curves, hovered")
    tour.visit(reverse("training:launch"))
    tour.visit(reverse("training:model-list"))
    tour.visit(reverse("training:model-detail", args=[single_run.pk]))

    # Results: the run page with every chart, a tooltip each, and the comparison.
    tour.visit(reverse("results:run-list"))
    tour.visit(reverse("results:run", args=[single_run.pk]), "[data-chart=curves] canvas")
    for chart in ("roc", "confusion", "apCdf"):
        tour.page.wait_for_selector(f"[data-chart={chart}] canvas")
    assert tour.hover_middle("[data-chart=confusion]")
    assert tour.hover_middle("[data-chart=curves]")
    tour.record("the run page's tooltips")
    tour.visit(f"{reverse('results:compare')}?runs={single_run.pk}&runs={binary_run.pk}",
               "[data-compare-roc] canvas")  # fmt: skip

    # The API documentation, rendered from the schema, one operation opened.
    tour.visit(reverse("api-docs"), ".swagger-ui .opblock")
    tour.page.locator(".swagger-ui .opblock-summary").first.click()
    tour.page.wait_for_selector(".swagger-ui .opblock-body")
    tour.record("the API docs, an operation opened")

    assert tour.refused == {}, tour.refused


def test_the_login_pages_and_the_django_admin_refuse_nothing(login, live_server, browser_context):
    browser_context.clear_cookies()
    stranger = Tour(browser_context.new_page(), live_server.url)
    stranger.visit(reverse("login"), "form")
    stranger.visit(reverse("admin:login"), "form")
    stranger.page.close()

    operator = get_user_model().objects.create_superuser("operator", password="pw-operator-1234")
    tour = tour_for(login, live_server, operator)
    tour.visit(reverse("admin:index"))
    tour.visit(reverse("admin:auth_user_changelist"), "#result_list")
    tour.visit(reverse("admin:auth_user_change", args=[operator.pk]), "form")
    tour.visit(reverse("admin:curation_labelset_changelist"))
    assert tour.refused == {} and stranger.refused == {}, (tour.refused, stranger.refused)


def test_compressed_radiographs_decode_in_the_worker_under_the_policy(login, live_server, personas):
    """JPEG 2000 and JPEG-LS frames reach the browser as stored; the decode worker compiles its
    WebAssembly codec for each ('wasm-unsafe-eval') and the viewer draws them."""
    tour = tour_for(login, live_server, personas.teammate)
    for identity, syntax in ((71, dcm_uid.JPEG2000Lossless), (72, dcm_uid.JPEGLSLossless)):
        data = to_bytes(make_dx(syntax=syntax, identity=identity, rows=128, columns=128))
        result = ingest_file(personas.team, io.BytesIO(data), name=f"{identity}.dcm")
        assert result.instance_id, result
        instance = Instance.objects.get(pk=result.instance_id)
        assert instance.transfer_syntax == syntax
        tour.visit(f"{reverse('labeling:study-detail', args=[instance.study_id])}?cpu=1",
                   "[data-cxr-viewer]:not([data-state=loading])")  # fmt: skip
        assert tour.page.get_attribute("[data-cxr-viewer]", "data-state") == "ready", syntax
    assert tour.refused == {}, tour.refused


def test_markup_asks_for_behaviour_with_data_attributes_not_inline_handlers(
    login, live_server, personas
):
    """The language switcher submits on change, and a check-all box ticks its boxes (the PACS
    search results' one), without an inline handler."""
    tour = tour_for(login, live_server, personas.owner)
    tour.visit(reverse("labeling:study-list"))
    tour.page.select_option("select[name=language]", "zh-hans")
    tour.page.wait_for_load_state()
    tour.page.wait_for_selector("html[lang=zh-hans]")
    tour.page.evaluate("""() => {
      const box = (name) => Object.assign(document.createElement("input"), {type: "checkbox", name});
      const all = box("all");
      all.dataset.checkAll = "#boxes input[name=study]";
      const boxes = Object.assign(document.createElement("div"), {id: "boxes"});
      boxes.append(box("study"), box("study"), box("other"));
      document.querySelector("main").append(all, boxes);
    }""")
    tour.page.check("input[name=all]")
    checked = tour.page.eval_on_selector_all("#boxes input", "els => els.map(e => e.checked)")
    assert checked == [True, True, False]
    tour.page.uncheck("input[name=all]")
    checked = tour.page.eval_on_selector_all("#boxes input", "els => els.map(e => e.checked)")
    assert checked == [False, False, False]
    tour.record("the switchers")
    assert tour.refused == {}, tour.refused
