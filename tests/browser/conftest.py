"""Browser fixtures: the Vite bundle, Debian chromium through Playwright, a logged-in page.

Django's live server serves static files through the staticfiles finders, so the viewer's
bundle, decode worker and WASM codecs come from frontend/dist exactly as in production.
"""

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.browser_support import close_playwright_connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(settings.BASE_DIR)
FRONTEND = REPO / "frontend"


def _frontend_inputs() -> list[Path]:
    sources = [p for p in (FRONTEND / "src").rglob("*") if p.is_file()]
    return [*sources, FRONTEND / "vite.config.js", REPO / "package-lock.json"]


def _bundle_is_stale(bundle: Path) -> bool:
    if not bundle.exists():
        return True
    built = bundle.stat().st_mtime
    return any(path.stat().st_mtime > built for path in _frontend_inputs())


def _npm(*args: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the browser tests need it to build frontend/dist")
    subprocess.run([npm, *args], cwd=REPO, check=True)


@pytest.fixture(scope="session")
def frontend_dist() -> Path:
    """frontend/dist, built first when missing or older than its sources (minutes, once)."""
    dist = FRONTEND / "dist"
    if _bundle_is_stale(dist / "viewer.js"):
        if not (REPO / "node_modules" / ".package-lock.json").exists():
            _npm("ci", "--no-audit", "--no-fund", "--loglevel=error")
        _npm("run", "--silent", "build")
    return dist


@pytest.fixture(autouse=True)
def _serve_frontend(settings, frontend_dist: Path) -> None:
    """Settings skip STATICFILES_DIRS when dist did not exist at import time: name it here."""
    settings.STATICFILES_DIRS = [("dist", frontend_dist)]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium (no `playwright install`); headless, software path, no network calls."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make chromium)")
    # Playwright's sync API keeps an asyncio loop in this thread while it runs, so Django takes
    # every ORM call of these tests (all synchronous) for one made from async code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        close_playwright_connections()


@pytest.fixture(scope="module")
def browser_context(browser) -> Iterator[object]:
    """One context per module: its HTTP cache keeps the 5 MB viewer bundle between tests."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def login(browser_context, live_server):
    """login(user) -> a new Playwright page whose session is that user's; closed after the test."""
    pages = []

    def open_page(user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        browser_context.clear_cookies()
        browser_context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )
        page = browser_context.new_page()
        pages.append(page)
        return page

    yield open_page
    for page in pages:
        page.close()
