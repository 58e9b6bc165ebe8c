"""The Content-Security-Policy: on every answer, strict, and nothing on a page that it refuses.

Chromium checks the pages themselves (tests/browser/test_csp.py); these tests are the fast
half: the header on every route, and no inline script, style or handler in what is rendered,
in the templates or in our scripts.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.curation.conftest import corpus, curator, small_run  # noqa: F401 (fixtures)
from tests.lab.test_access import OBJECT_ROUTES, world  # noqa: F401 (world is a fixture)

ROOT = Path(__file__).resolve().parents[2]
HEADER = "Content-Security-Policy"
# Script types that are data, never run (json_script writes application/json).
DATA_SCRIPTS = {"application/json", "application/ld+json"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def directives(header: str) -> dict[str, list[str]]:
    policy = {}
    for part in header.split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


def assert_strict_policy(response, where: str) -> None:
    header = response.get(HEADER)
    assert header, f"{where}: no {HEADER} header"
    policy = directives(header)
    for name, sources in policy.items():
        assert "'unsafe-inline'" not in sources, f"{where}: {name} allows inline code"
        assert "'unsafe-eval'" not in sources, f"{where}: {name} allows eval"
        assert "*" not in sources, f"{where}: {name} allows any host"
    assert policy["default-src"] == ["'self'"], where
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"], where
    assert policy["style-src"] == ["'self'"], where
    assert policy["connect-src"] == ["'self'"], where
    assert policy["worker-src"] == ["'self'"], where
    assert policy["img-src"] == ["'self'", "data:", "blob:"], where
    assert policy["object-src"] == ["'none'"], where
    assert policy["base-uri"] == ["'none'"], where
    assert policy["form-action"] == ["'self'"], where
    assert policy["frame-ancestors"] == ["'none'"], where


class _InlineCode(HTMLParser):
    """What a page holds that the policy refuses: inline scripts and styles, style attributes,
    event handler attributes and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script: str | None = None  # the opening tag of an inline script being read

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style":
            self.found.append("<style> element")
        if tag == "script" and "src" not in attrs and attrs.get("type") not in DATA_SCRIPTS:
            self._script = self.get_starttag_text()
        for name, value in attrs.items():
            if name == "style":
                self.found.append(f"style attribute on <{tag}>: {value!r}")
            elif name.startswith("on"):
                self.found.append(f"{name} handler on <{tag}>: {value!r}")
            elif name in {"href", "src", "action", "formaction"} and (value or "").strip(
            ).lower().startswith("javascript:"):  # fmt: skip
                self.found.append(f"javascript: URL in <{tag} {name}>")

    def handle_data(self, data):
        if self._script is not None and data.strip():
            self.found.append(f"inline script {self._script}: {data.strip()[:80]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def inline_code(html: str) -> list[str]:
    parser = _InlineCode()
    parser.feed(html)
    return parser.found


def assert_clean_page(response, where: str) -> None:
    assert_strict_policy(response, where)
    if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
        found = inline_code(response.content.decode("utf-8", "replace"))
        assert not found, f"{where}: {found}"


def _routes_without_arguments(resolver: URLResolver, prefix: str = "") -> list[str]:
    names = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            names += _routes_without_arguments(entry, namespace)
        elif isinstance(entry, URLPattern) and entry.name and not entry.pattern.regex.groups:
            names.append(prefix + entry.name)
    return names


PLAIN_ROUTES = sorted(set(_routes_without_arguments(get_resolver())))


def test_the_inline_code_finder_finds_each_kind():
    html = (
        '<p style="color:red" onclick="x()"><a href="javascript:x()">a</a></p>'
        "<style>p{}</style><script>alert(1)</script>"
        '<script id="c" type="application/json">{"a": 1}</script><script src="/s.js"></script>'
    )
    found = inline_code(html)
    assert len(found) == 5, found
    assert [kind for kind in ("style attribute", "onclick", "javascript:", "<style>", "inline")
            if not any(kind in item for item in found)] == []  # fmt: skip


def test_every_route_answers_with_the_strict_policy_and_pages_hold_no_inline_code(
    personas,
    world,  # noqa: F811 - the fixture imported above
):
    """Every named route, asked as a browser asks (GET, whatever the answer: a page, JSON,
    DICOM, a redirect, 405 for POST-only routes, 404), as a member and as a stranger."""
    client = Client(headers={"Accept": BROWSER_ACCEPT})
    client.force_login(personas.owner)
    urls = [reverse(name) for name in PLAIN_ROUTES]
    urls += [reverse(name, kwargs=fill(world)) for name, fill in OBJECT_ROUTES.items()]
    urls += ["/no/such/page/"]
    for url in urls:
        assert_clean_page(client.get(url), url)
    stranger = Client(headers={"Accept": BROWSER_ACCEPT})
    for url in (reverse("login"), reverse("admin:login"), reverse("home"), "/no/such/page/"):
        assert_clean_page(stranger.get(url), f"anonymous {url}")


def test_the_django_admin_pages_hold_no_inline_code(db):
    staff = get_user_model().objects.create_superuser("operator", password="pw-operator-1234")
    client = Client(headers={"Accept": BROWSER_ACCEPT})
    client.force_login(staff)
    admin_routes = [name for name in PLAIN_ROUTES if name.startswith("admin:")]
    assert len(admin_routes) > 10
    for name in admin_routes:
        url = reverse(name)
        response = client.get(url)
        assert response.status_code in {200, 302, 403, 405}, (url, response.status_code)
        assert_clean_page(response, url)


def test_the_word_cloud_sizes_words_with_classes_not_style_attributes(
    client,
    small_run,  # noqa: F811 - the fixture imported above
    curator,  # noqa: F811 - the fixture imported above
):
    from tests.curation.conftest import cluster_with

    client.force_login(curator)
    cluster = cluster_with(small_run, "主动脉硬化")
    url = reverse("curation:cluster-detail", args=[cluster.pk])
    for response in (client.get(url), client.get(url + "?partial=1")):
        assert_clean_page(response, url)
        html = response.content.decode()
        # The top word weighs 10 tenths of itself; the others less, never nothing.
        weights = [int(w) for w in re.findall(r'<li class="weight-(\d+)"[^>]*>', html)]
        assert weights and weights[0] == 10 and all(0 <= w <= 10 for w in weights), weights
    css = (ROOT / "lab/static/lab/app.css").read_text()
    assert all(f".weight-{w}" in css for w in range(11))


def test_the_api_answers_a_browser_with_json_not_drf_s_browsable_pages(
    personas,
    world,  # noqa: F811 - the fixture imported above
):
    """The browsable API's pages carry inline styles; Swagger UI (/api/docs/) is the
    interactive documentation."""
    client = Client(headers={"Accept": BROWSER_ACCEPT})
    client.force_login(personas.owner)
    for url in (
        reverse("api-root"),
        reverse("study-list"),
        reverse("job-detail", args=[world.job.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "application/json", url
        assert_strict_policy(response, url)


def test_the_api_docs_load_swagger_and_its_start_up_code_from_files(client):
    page = client.get(reverse("api-docs"))
    assert_clean_page(page, "api docs")
    html = page.content.decode()
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in src for src in sources), sources
    start_up = [src for src in sources if src.startswith(reverse("api-docs")) and "script" in src]
    assert len(start_up) == 1, sources
    script = client.get(start_up[0].replace("&amp;", "&"))
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()
    assert reverse("schema") in script.content.decode()


def test_static_files_carry_the_policy_too(settings):
    """A worker script's own policy is what governs it (the viewer's decode worker compiles its
    WebAssembly codecs under it): WhiteNoise's answers go through the policy's middleware."""
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = Client().get(f"{settings.STATIC_URL}lab/app.css")
    assert response.status_code == 200
    assert response.get("Content-Type", "").startswith("text/css")
    assert_strict_policy(response, "a static file")


TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
INLINE_IN_TEMPLATES = [
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"<style[\s>]", re.I), "a <style> element"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an event handler attribute"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I), "an inline <script>"),
]


@pytest.mark.parametrize(
    "template",
    sorted({str(p.relative_to(ROOT)) for d in TEMPLATE_DIRS for p in d.rglob("*.html")}),
)
def test_no_template_holds_inline_code(template):
    text = (ROOT / template).read_text(encoding="utf-8")
    found = [what for pattern, what in INLINE_IN_TEMPLATES if pattern.search(text)]
    assert not found, f"{template} holds {', '.join(found)}: move it into a static file"


OUR_SCRIPTS = sorted(
    str(p.relative_to(ROOT))
    for p in [*(ROOT / "frontend/src").rglob("*.js"), *ROOT.glob("*/static/**/*.js")]
)
INLINE_IN_SCRIPTS = [
    (re.compile(r"""setAttribute\(\s*["']style["']"""), "setAttribute('style')"),
    (re.compile(r"""createElement\(\s*["']style["']"""), "a <style> element"),
    (re.compile(r"""\sstyle=\\?["']"""), "markup with a style attribute"),
    (re.compile(r"""\son[a-z]+=\\?["']"""), "markup with an event handler"),
    (re.compile(r"\beval\(|\bnew Function\("), "eval"),
]


@pytest.mark.parametrize("script", OUR_SCRIPTS)
def test_no_script_of_ours_writes_inline_styles_or_evaluates_code(script):
    text = (ROOT / script).read_text(encoding="utf-8")
    found = [what for pattern, what in INLINE_IN_SCRIPTS if pattern.search(text)]
    assert not found, f"{script} uses {', '.join(found)}, which the policy refuses"
