"""The UI ships in English and Simplified Chinese: every marked string has a translation."""

import re
from pathlib import Path

from django.urls import reverse

PO_FILE = Path(__file__).resolve().parents[2] / "locale/zh_Hans/LC_MESSAGES/django.po"


def po_entries(path: Path) -> list[tuple[str, str, bool]]:
    """(msgid, msgstr, fuzzy) for each entry but the header."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        msgid = re.search(r'^msgid ((?:".*"\n)+)', block + "\n", re.M)
        msgstr = re.search(r'^msgstr(?:\[0\])? ((?:".*"\n?)+)', block + "\n", re.M)
        if not msgid or not msgstr:
            continue
        ident = "".join(re.findall(r'"(.*)"', msgid.group(1)))
        if ident:
            text = "".join(re.findall(r'"(.*)"', msgstr.group(1)))
            entries.append((ident, text, "#, fuzzy" in block))
    return entries


def test_every_message_has_a_chinese_translation():
    entries = po_entries(PO_FILE)
    assert len(entries) > 50
    untranslated = [ident for ident, text, fuzzy in entries if not text or fuzzy]
    assert not untranslated, f"translate these in {PO_FILE.name}: {untranslated}"


def repeated_unit(text: str) -> str | None:
    """The shortest piece that ``text`` is two or more copies of, if it is one."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text == text[:size] * (len(text) // size):
            return text[:size]
    return None


def test_no_translation_repeats_itself():
    """A translation pasted twice reads twice on the page; a real one never repeats whole."""
    repeated = [ident for ident, text, _fuzzy in po_entries(PO_FILE) if repeated_unit(text)]
    assert not repeated, f"these translations repeat themselves: {repeated}"


def test_the_login_page_speaks_chinese_when_asked(client, db):
    page = client.get(reverse("login"), headers={"accept-language": "zh-hans"}).content.decode()
    assert "登录" in page and "用户名" in page


def test_the_language_picker_switches_the_home_page(client, personas):
    client.force_login(personas.owner)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    page = client.get(reverse("home")).content.decode()
    assert "你的团队" in page and "Your teams" not in page


def test_task_names_read_as_words_in_either_language(client, personas):
    """The engine's task names (single_disease...) are identifiers, never shown as such."""
    client.force_login(personas.owner)

    def task_options(page: str) -> dict[str, str]:
        return dict(re.findall(r'<option value="(\w+)"(?: selected)?>([^<]*)</option>', page))

    english = task_options(client.get(reverse("training:launch")).content.decode())
    assert english["single_disease"] == "Single disease"
    assert english["normal_abnormal"] == "Normal vs abnormal"
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    chinese = task_options(client.get(reverse("training:launch")).content.decode())
    assert chinese["single_disease"] == "单病种"
    assert chinese["multi_label"] == "多病种（多标签）"


ROOT = PO_FILE.parents[3]
TEMPLATE_STRING = re.compile(r"""\{%\s*translate\s+(["'])(.+?)\1""")
PYTHON_STRING = re.compile(r"""\b_\((["'])(.+?)\1\)""")


def marked_strings() -> set[str]:
    found = set()
    for path in (ROOT / "templates").rglob("*.html"):
        # {% translate %} looks a constant up with each % doubled, as makemessages writes it.
        text = path.read_text(encoding="utf-8")
        found |= {m.group(2).replace("%", "%%") for m in TEMPLATE_STRING.finditer(text)}
    for app in ("lab", "teams", "jobs", "labeling", "curation", "training", "results"):
        for path in (ROOT / app).rglob("*.py"):
            found |= {m.group(2) for m in PYTHON_STRING.finditer(path.read_text(encoding="utf-8"))}
    return found


def test_the_catalogue_is_up_to_date_with_the_code():
    """A string marked in a template or in Python but missing from the .po: run makemessages."""
    catalogue = {ident for ident, _text, _fuzzy in po_entries(PO_FILE)}
    missing = sorted(marked_strings() - catalogue)
    assert not missing, f"manage.py makemessages -l zh_Hans, then translate: {missing}"
