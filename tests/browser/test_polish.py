"""Rough edges of issue 16 (problem 7), measured in Debian chromium: disabled buttons look
disabled, CJK table headers wrap by word, the launch form's fields never overlap, the results
table's reference column has room, and the Grad-CAM button names what a click will do."""

import pytest
from django.urls import reverse

from tests.browser.test_heatmap_overlay import CONTROLS, explained, sent  # noqa: F401 (fixtures)
from tests.browser.test_viewer import open_study
from tests.results.conftest import label_set, single_run  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ZH = {"Accept-Language": "zh-hans"}
# Each header's text: its height in lines (a Range covers exactly the text, not the padding).
HEADER_LINES = """(selector) => [...document.querySelectorAll(selector)].map((th) => {
  const range = document.createRange();
  range.selectNodeContents(th);
  const line = parseFloat(getComputedStyle(th).lineHeight);
  return { text: th.textContent.trim(), lines: range.getBoundingClientRect().height / line };
})"""
BOXES = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
  const r = el.getBoundingClientRect();
  return { id: el.id || el.className, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom };
})"""


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x0"] < b["x1"] - 0.5
        and b["x0"] < a["x1"] - 0.5
        and a["y0"] < b["y1"] - 0.5
        and (b["y0"] < a["y1"] - 0.5)
    )


def test_a_disabled_button_looks_disabled(login, live_server, personas):
    page = login(personas.owner)  # no frozen label set: the launch button is disabled
    page.goto(f"{live_server.url}{reverse('training:launch')}")
    style = page.evaluate("""() => {
      const disabled = document.querySelector('form.launch button[type=submit]');
      const enabled = document.createElement('button');
      document.body.append(enabled);
      const s = (el) => ({ bg: getComputedStyle(el).backgroundColor,
                            cursor: getComputedStyle(el).cursor, disabled: el.disabled });
      return { disabled: s(disabled), enabled: s(enabled) };
    }""")
    assert style["disabled"]["disabled"] is True
    assert style["disabled"]["bg"] != style["enabled"]["bg"]
    assert style["disabled"]["cursor"] == "not-allowed"


@pytest.mark.parametrize("width", [1100, 760, 480])
def test_the_launch_form_fields_never_overlap(login, live_server, personas, label_set, width):  # noqa: F811
    page = login(personas.owner)
    page.set_viewport_size({"width": width, "height": 900})
    page.set_extra_http_headers(ZH)
    page.goto(f"{live_server.url}{reverse('training:launch')}?preset=cpu")
    controls = page.evaluate(BOXES, "form.launch .field select, form.launch .field input")
    fields = page.evaluate(BOXES, "form.launch > .field, form.launch > fieldset")
    preset = page.evaluate(BOXES, "#id_preset")[0]
    chosen = page.evaluate(BOXES, "#id_label_set")[0]
    assert not overlap(preset, chosen), (preset, chosen)
    for i, a in enumerate(fields):
        for b in fields[i + 1 :]:
            assert not overlap(a, b), (a, b)
    for box in controls:  # every control stays inside the form
        assert box["x1"] <= page.evaluate(BOXES, "form.launch")[0]["x1"] + 0.5, box


@pytest.mark.parametrize("width", [1100, 820])
def test_chinese_headers_wrap_by_word_and_the_reference_column_has_room(
    login,
    live_server,
    personas,
    single_run,  # noqa: F811
    width,
):
    page = login(personas.owner)
    page.set_viewport_size({"width": width, "height": 900})
    page.set_extra_http_headers(ZH)
    page.goto(f"{live_server.url}{reverse('results:run', args=[single_run.pk])}")
    headers = page.evaluate(HEADER_LINES, ".results-table thead th, .table thead th")
    assert headers and any("\u4e00" <= ch <= "\u9fff" for h in headers for ch in h["text"])
    for header in headers:
        assert header["lines"] <= 2.2, header  # one or two lines, not one per character
    reference = page.evaluate(BOXES, ".results-table td.reference")
    assert reference and all(r["x1"] - r["x0"] >= 15 * 15 for r in reference), reference
    lines = page.evaluate(HEADER_LINES, ".results-table td.reference div")
    assert all(line["lines"] <= 1.2 for line in lines), lines


def test_a_squeezed_table_keeps_each_chinese_header_word_on_one_line(login, live_server, personas):
    """Any .table under the app's stylesheet: eight Chinese headers in a 320 px box used to
    break between every character (one per line); now each word stays whole."""
    page = login(personas.owner)
    page.set_extra_http_headers(ZH)
    page.goto(f"{live_server.url}{reverse('training:job-list')}")
    page.evaluate("""() => {
      const box = document.createElement('div');
      box.style.width = '320px';
      box.innerHTML = '<table class="table" id="squeezed"><thead><tr>' +
        ['状态', '任务类型', '网络结构', '标签集', '创建时间', '完成时间', '尝试次数', '工作节点']
          .map((t) => `<th>${t}</th>`).join('') + '</tr></thead></table>';
      document.querySelector('main').append(box);
    }""")
    headers = page.evaluate(HEADER_LINES, "#squeezed th")
    assert len(headers) == 8
    assert all(h["lines"] <= 1.2 for h in headers), headers


def test_the_gradcam_button_says_hide_overlay_while_the_overlay_is_on(
    login,
    live_server,
    personas,
    explained,  # noqa: F811
    sent,  # noqa: F811
):
    _run, instance = explained
    page = open_study(login, live_server, personas.teammate, instance)
    button = f"{CONTROLS} [data-role=heatmap-toggle]"
    assert page.inner_text(button).strip() == "Show overlay"
    page.click(button)
    assert page.get_attribute(button, "aria-pressed") == "true"
    assert page.inner_text(button).strip() == "Hide overlay"
    page.click(button)
    assert page.inner_text(button).strip() == "Show overlay"


def test_case_cards_hold_their_label_names(login, live_server, personas, single_run):  # noqa: F811
    page = login(personas.owner)
    page.set_viewport_size({"width": 820, "height": 900})
    url = reverse("results:cases", args=[single_run.pk])
    page.goto(f"{live_server.url}{url}?label=increased_lung_marking&outcome=tn")
    cards = page.evaluate("""() => [...document.querySelectorAll('article.case')].map((card) =>
      ({ text: card.innerText, spill: card.scrollWidth - card.clientWidth }))""")
    assert cards
    for card in cards:
        assert "increased_lung_marking" not in card["text"], card
        assert card["spill"] <= 0, card
