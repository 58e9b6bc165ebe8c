"""Curation with a mouse that cannot misfire (issue 16, problems 2 and 3).

The replayed sequence: Shift+click six "normal" clusters, press l, choose normal; then click
another cluster and press l; then press i on a third. Each action changes exactly the clusters
the user chose, says so in a toast with an Undo link, and clears the selection.
"""

import os
import re
from pathlib import Path

import pytest

from curation import services
from curation.models import ProposedCluster, Verdict

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NORMAL = (
    "心肺膈未见明显异常",
    "胸部未见明显异常",
    "两肺未见明显实质性病变",
    "心肺未见异常征象",
    "双侧膈面光整未见异常",
    "胸廓对称骨质未见破坏",
)
DISEASE = ("主动脉硬化", "双肺纹理增多", "心影增大", "右侧胸腔积液", "双肺气肿")
SHOTS = Path(os.environ.get("CURUI_SHOTS", "/tmp/shots-curui"))


@pytest.fixture
def run(personas):
    """One study per clause, clustered with k as large as the clause count: one clause each."""
    from tests.factories import make_instance, make_report, make_study

    for i, diagnosis in enumerate(NORMAL + DISEASE):
        study = make_study(personas.team, patient_id=f"P{i}")
        make_report(study, diagnosis=diagnosis)
        make_instance(study)
    # The paper's distance keeps every clause apart (the default synonym table would gather
    # some of these normal statements): one clause a cluster, every one pure, listed by size.
    run = services.run_clustering(personas.team, k=len(NORMAL + DISEASE), seed=0,
                                  user=personas.owner, distance="paper")  # fmt: skip
    services.undo_last(personas.team, personas.owner)  # the run's pre-mapping: mapped by hand here
    return run


def card(page, text: str):
    return page.locator("#clusters .cluster", has_text=text).first


def cluster(run, text: str) -> ProposedCluster:
    return ProposedCluster.objects.get(run=run, merged_into=None, members__normalized=text)


def pick_label(page, name: str) -> None:
    page.locator("#label-dialog select").select_option(label=name)
    page.locator("#label-dialog button[value=ok]").click()


def toast(page) -> str:
    page.locator("#toast:not([hidden])").wait_for()
    return page.locator("#toast .toast-text").inner_text()


def wait_toast(page, text: str) -> None:
    """Wait until the toast says exactly ``text`` (it is written once the list is refreshed)."""
    exactly = re.compile(f"^{re.escape(text)}$")
    page.locator("#toast .toast-text", has_text=exactly).wait_for()


def selection(page) -> str:
    return page.locator("#selection-bar .selection-text").inner_text()


def verdicts(run) -> dict[str, tuple[str, str | None]]:
    return {
        text: (cluster(run, text).verdict, getattr(cluster(run, text).label, "key", None))
        for text in NORMAL + DISEASE
    }


def test_six_normals_then_one_then_one_each_changes_only_what_was_clicked(
    login, live_server, personas, run
):
    page = login(personas.owner)
    page.goto(f"{live_server.url}/curation/")
    for text in NORMAL:
        card(page, text).click(modifiers=["Shift"])
    assert selection(page) == "6 clusters selected · Esc clears"
    assert page.locator("#clusters .cluster.selected").count() == 6

    page.keyboard.press("l")
    pick_label(page, "1. normal")
    wait_toast(page, "6 clusters mapped to normal.")
    assert page.locator("#toast .toast-undo").is_visible()
    assert page.locator("#clusters .cluster.selected").count() == 0
    assert selection(page).startswith("Nothing selected")
    after_six = verdicts(run)
    assert all(after_six[text] == (Verdict.LABEL, "normal") for text in NORMAL)

    card(page, "主动脉硬化").click()
    assert selection(page) == "1 cluster selected · Esc clears"
    page.keyboard.press("l")
    pick_label(page, "3. aortosclerosis")
    wait_toast(page, "“主动脉硬化” mapped to aortosclerosis.")

    card(page, "双肺纹理增多").click()
    page.keyboard.press("i")
    wait_toast(page, "“双肺纹理增多” ignored.")

    now = verdicts(run)
    assert all(now[text] == (Verdict.LABEL, "normal") for text in NORMAL)  # intact
    assert now["主动脉硬化"] == (Verdict.LABEL, "aortosclerosis")
    assert now["双肺纹理增多"] == (Verdict.IGNORED, None)
    assert all(now[text] == (Verdict.OPEN, None) for text in DISEASE[2:])


def test_buttons_esc_undo_and_the_confirmation_for_what_was_not_clicked(
    login, live_server, personas, run
):
    page = login(personas.owner)
    page.goto(f"{live_server.url}/curation/")
    toolbar = page.locator("#toolbar")
    for key in "lniomrsu":
        assert toolbar.locator(f"button[data-key='{key}'] kbd").inner_text() == key

    # Esc clears a selection; so does the bar's button.
    card(page, NORMAL[0]).click()
    card(page, NORMAL[1]).click(modifiers=["Shift"])
    assert selection(page) == "2 clusters selected · Esc clears"
    page.keyboard.press("Escape")
    assert page.locator("#clusters .cluster.selected").count() == 0
    assert toolbar.locator("button[data-key=m]").is_disabled()
    card(page, NORMAL[0]).click(modifiers=["Shift"])
    page.locator("#selection-bar button").click()
    assert page.locator("#clusters .cluster.selected").count() == 0

    # A button does what its key does; the toast's Undo takes it back.
    card(page, "心影增大").click()
    toolbar.get_by_role("button", name="Ignore").click()
    wait_toast(page, "“心影增大” ignored.")
    assert cluster(run, "心影增大").verdict == Verdict.IGNORED
    page.locator("#toast .toast-undo").click()
    wait_toast(page, "Undone: “心影增大” ignored.")
    assert cluster(run, "心影增大").verdict == Verdict.OPEN
    assert page.locator("#toast .toast-undo").is_hidden()

    # Nothing clicked since that action: the focused card was not chosen in this step.
    page.keyboard.press("i")
    dialog = page.locator("#confirm-dialog")
    dialog.locator("li", has_text="心影增大").wait_for()
    assert "did not click" in dialog.inner_text()
    if os.environ.get("CURUI_SHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "confirm-en.png"))
    dialog.locator("button[value=cancel]").click()
    page.locator("#workspace:not(.busy)").wait_for()  # the dialog's close event has come
    assert cluster(run, "心影增大").verdict == Verdict.OPEN
    page.keyboard.press("i")
    dialog.locator("button[value=ok]").click()
    wait_toast(page, "“心影增大” ignored.")
    assert cluster(run, "心影增大").verdict == Verdict.IGNORED

    # Merge: two Shift+clicked clusters through the button, into the one clicked last.
    merge = toolbar.locator("button[data-key=m]")
    card(page, "右侧胸腔积液").click(modifiers=["Shift"])
    assert merge.is_disabled()
    card(page, "双肺气肿").click(modifiers=["Shift"])
    assert merge.is_enabled()
    merge.click()
    wait_toast(page, "2 clusters merged into “双肺气肿”.")
    assert cluster(run, "右侧胸腔积液").pk == cluster(run, "双肺气肿").pk
    assert page.locator("#clusters .cluster.selected").count() == 0


def test_a_refused_action_keeps_the_selection_and_says_why(login, live_server, personas, run):
    page = login(personas.owner)
    page.goto(f"{live_server.url}/curation/")
    card(page, NORMAL[0]).click()
    page.locator("#toolbar button[data-key=l]").click()
    pick_label(page, "3. aortosclerosis")  # a negated clause carries no disease
    page.locator("#toast.error").wait_for()
    assert "only affirmed clusters" in toast(page)
    assert page.locator("#toast .toast-undo").is_hidden()
    assert selection(page) == "1 cluster selected · Esc clears"
    assert cluster(run, NORMAL[0]).verdict == Verdict.OPEN


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_screenshot_of_a_selection_and_a_toast(login, live_server, personas, run, language):
    """Not an assertion of looks: pictures for a person, written when CURUI_SHOTS names a
    folder. The strings are the translated ones in Chinese."""
    page = login(personas.owner)
    page.context.add_cookies([{"name": "django_language", "value": language,
                               "url": live_server.url}])  # fmt: skip
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/curation/")
    card(page, NORMAL[0]).click(modifiers=["Shift"])
    card(page, NORMAL[1]).click(modifiers=["Shift"])
    page.keyboard.press("l")
    page.locator("#label-dialog select").select_option(index=0)
    page.locator("#label-dialog button[value=ok]").click()
    page.locator("#toast:not([hidden])").wait_for()
    for text in NORMAL[2:5]:
        card(page, text).click(modifiers=["Shift"])
    expected = "3 clusters selected" if language == "en" else "已选 3 个聚类"
    assert expected in selection(page)
    assert page.locator("#toast .toast-undo").is_visible()
    if os.environ.get("CURUI_SHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        card(page, NORMAL[4]).evaluate("el => el.scrollIntoView({block: 'center'})")
        page.screenshot(path=str(SHOTS / f"workspace-{language}.png"))


def test_keys_alone_j_k_x_and_the_focus_left_by_the_page_load(login, live_server, personas, run):
    page = login(personas.owner)
    page.goto(f"{live_server.url}/curation/")
    first, second = (page.locator("#clusters .cluster").nth(i) for i in (0, 1))
    names = [first.get_attribute("data-name"), second.get_attribute("data-name")]
    # The page focuses its first card, but nobody chose it: i asks before ignoring it.
    assert selection(page).startswith("Nothing selected: click")
    page.keyboard.press("i")
    page.locator("#confirm-dialog li", has_text=names[0]).wait_for()
    page.keyboard.press("Escape")  # closes the dialog: Cancel
    page.locator("#workspace:not(.busy)").wait_for()
    # j moves onto the second card (chosen), k back onto the first, x selects both.
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("k")
    page.keyboard.press("x")
    assert selection(page) == "2 clusters selected · Esc clears"
    page.keyboard.press("n")
    wait_toast(page, "2 clusters marked as carrying no label.")
    assert page.locator("#confirm-dialog").is_hidden()
    verdict = {c.name: c.verdict for c in ProposedCluster.objects.filter(run=run, merged_into=None)}
    assert [verdict[name] for name in names] == [Verdict.NO_LABEL, Verdict.NO_LABEL]
    assert sum(v == Verdict.NO_LABEL for v in verdict.values()) == 2
