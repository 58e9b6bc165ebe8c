"""The workspace page carries its toolbar, selection bar, toast and confirmation dialog, and
the words workspace.js shows, in the user's language."""

import json
import re

import pytest

pytestmark = pytest.mark.django_db


def strings_of(response) -> dict:
    found = re.search(r'<script id="workspace-strings" type="application/json">(.*?)</script>',
                      response.content.decode(), re.S)  # fmt: skip
    return json.loads(found.group(1))


def test_curator_sees_a_button_with_its_key_for_every_action(client, curator, small_run):
    client.force_login(curator)
    page = client.get("/curation/").content.decode()
    for key in "lniomrsu":
        assert re.search(rf'<button type="button" data-key="{key}">[^<]+<kbd>{key}</kbd>', page)
    for element in ('id="selection-bar"', 'id="toast"', 'id="confirm-dialog"'):
        assert element in page


def test_viewer_gets_no_action_buttons(client, personas, small_run):
    client.force_login(personas.teammate)  # a viewer
    page = client.get("/curation/").content.decode()
    assert 'data-key="l"' not in page
    assert 'data-can-curate="0"' in page


def test_strings_come_in_one_and_many_forms_and_in_chinese(client, curator, small_run):
    client.force_login(curator)
    english = strings_of(client.get("/curation/"))
    assert english["selected"] == ["%(n)s cluster selected · Esc clears",
                                   "%(n)s clusters selected · Esc clears"]  # fmt: skip
    assert english["ignored"][0] == "“%(name)s” ignored."
    chinese = strings_of(client.get("/curation/", headers={"accept-language": "zh-hans"}))
    assert chinese["selected"][1] == "已选 %(n)s 个聚类 · 按 Esc 清除"
    assert chinese["undo"] == "撤销"


def test_labels_in_the_dialog_carry_their_name_in_the_ui_language(client, curator, small_run):
    client.force_login(curator)
    assert 'data-name="aortosclerosis"' in client.get("/curation/").content.decode()
    page = client.get("/curation/", headers={"accept-language": "zh-hans"}).content.decode()
    assert 'data-name="主动脉硬化"' in page
    assert ">肯定<" in page  # polarity badges in Chinese too
