"""Rough edges of issue 16 (problem 7), checked in the HTML: label names on case cards in the
UI's language, a job's configuration as a key/value table, the Grad-CAM button's two labels."""

import re
from html import unescape

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from curation.models import LabelSet
from labeling.vocabulary import PAPER_LABELS

from .pages import engine_outputs

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def visible_text(html: str) -> str:
    """What a person reads: tags (and so attributes and links) removed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", body))


def test_case_cards_show_label_names_in_chinese_not_keys(client, personas, single_run):
    metrics, _ = engine_outputs(single_run)
    client.force_login(personas.owner)
    key = "increased_lung_marking"
    assert key in metrics["class_names"]
    html = client.get(
        reverse("results:cases", args=[single_run.pk]), {"label": key, "outcome": "tp"}, **ZH
    ).content.decode()
    text = visible_text(html)
    zh = {label.key: label.zh for label in PAPER_LABELS}
    assert zh[key] in text
    for name in metrics["class_names"]:
        assert name not in text, f"the key {name} is shown on the page"


def test_a_jobs_configuration_is_a_key_value_table_not_raw_code(client, personas, single_run):
    client.force_login(personas.owner)
    html = client.get(reverse("training:job-detail", args=[single_run.pk]), **ZH).content.decode()
    table = re.search(r'<table class="kv" id="job-config">(.*?)</table>', html, re.S)
    assert table, "no configuration table"
    rows = dict(
        (unescape(k).strip(), unescape(re.sub(r"<[^>]+>", " ", v)).strip())
        for k, v in re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', table.group(1), re.S)
    )
    config = single_run.config  # {"label_set": 2, "engine": {...}}: the engine's block flattened
    engine = config["engine"]
    assert len(rows) == 1 + len(engine)  # one row a setting, by its name in the UI's language
    label_set = LabelSet.objects.get(pk=config["label_set"])
    assert rows["标签集"] == str(label_set)  # the label set by version, not its id
    assert rows["任务"] == "单病种"  # task name, not single_disease
    assert rows["轮数"] == str(engine["epochs"])
    assert rows["评估方式"] == "中心裁剪"  # the choice's name, not "center"
    assert rows["划分（训练 / 验证 / 测试）"] == " / ".join(
        str(v) for v in engine["split_fractions"]
    )
    assert not set(rows) & {"label_set", *engine}, "a setting is still shown by its key"
    assert "{'" not in visible_text(html), "the configuration is still shown as a Python dict"


def test_the_gradcam_button_carries_both_labels_translated():
    config = {"runs": [], "strings": {}}
    with translation.override("zh-hans"):
        html = render_to_string("results/_heatmap_controls.html", {"heatmap_config": config})
        on, off = translation.gettext("Hide overlay"), translation.gettext("Show overlay")
    assert on != "Hide overlay" and off != "Show overlay", "not translated"
    assert f'data-label-on="{on}"' in html and f'data-label-off="{off}"' in html
