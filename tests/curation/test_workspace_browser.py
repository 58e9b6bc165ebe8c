"""A curator at the keyboard: merge, rename, map to a label, freeze, and watch Table I change."""

import pytest
from django.conf import settings
from django.test import Client

from tests.browser_support import close_playwright_connections

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(live_server, curator, monkeypatch):
    """A chromium page logged in as the curator (Playwright's sync API runs an asyncio loop)."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    client = Client()
    client.force_login(curator)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        yield tab
        browser.close()
        close_playwright_connections()


def total_of(tab, key: str) -> str:
    return tab.locator(f'#stats tr[data-key="{key}"] .total').inner_text()


def test_curator_merges_renames_maps_freezes_and_sees_table_one_change(
    page, live_server, small_run
):
    page.goto(f"{live_server.url}/curation/")
    assert total_of(page, "increased_lung_marking") == "0"
    clusters = page.locator("#clusters .cluster")
    first = clusters.filter(has_text="双肺纹理增多").first
    second = clusters.filter(has_text="两肺纹理增多、紊乱").first

    first.click()  # a plain click chooses one cluster, Shift+click adds one
    second.click(modifiers=["Shift"])
    page.keyboard.press("m")
    merged = clusters.filter(has_text="两肺纹理增多、紊乱").first
    merged.filter(has_text="双肺纹理增粗").wait_for()  # the members moved in
    assert clusters.filter(has_text="双肺纹理增多").count() == 1

    merged.click()  # each action starts a new step: choose the cluster to act on again
    page.keyboard.press("r")
    page.locator("#rename-dialog input[name=name]").fill("lung markings")
    page.keyboard.press("Enter")
    page.locator(".cluster-name", has_text="lung markings").wait_for()

    page.locator(".cluster", has_text="lung markings").click()
    page.keyboard.press("l")
    page.locator("#label-dialog select").select_option(label="2. increased lung marking")
    page.locator("#label-dialog button[value=ok]").click()
    page.locator(".cluster", has_text="lung markings").locator(".label-badge").wait_for()
    assert total_of(page, "increased_lung_marking") == "4"

    page.goto(f"{live_server.url}/curation/label-sets/")
    page.locator("#freeze-form input[name=note]").fill("first set")
    page.locator("#freeze-form button").click()
    page.get_by_role("heading", name="Label set v1").wait_for()
    assert total_of(page, "increased_lung_marking") == "4"
    # Nothing else is mapped yet, so each of the four images carries this label alone.
    cells = page.locator("#stats tr[data-key=increased_lung_marking] td")
    assert (cells.nth(2).inner_text(), cells.nth(3).inner_text()) == ("4", "100.0")
