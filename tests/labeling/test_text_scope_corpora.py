"""The label corpora of issue #15, case by case and as the goals ``bench/labels.py`` prints."""

from __future__ import annotations

import json

import pytest

from labeling.synth import generate_reports
from labeling.text import read_clause, split_clauses
from tests.labeling.corpora import (
    HALVES,
    HERE,
    Score,
    chinese,
    english,
    findings_in,
    fresh,
    read_mentions,
    score,
    synth_score,
    tags_right,
)
from tests.labeling.corpora.make_en_corpus import SENTENCES, build

_POLARITY = {"+": "affirmed", "-": "negated", "?": "uncertain"}
ENGLISH_TABLE = [
    pytest.param(text, {t[:-1]: _POLARITY[t[-1]] for t in spec.split()}, kind, id=text)
    for text, spec, kind in SENTENCES
    if kind != "plain"
]


def _read_as_expected(text: str, tags: dict[str, str], language: str) -> None:
    mentions = read_mentions(text, lambda clause: findings_in(clause, language))
    assert tags_right(tags, mentions), (split_clauses(text), mentions)
    assert set(mentions) <= set(tags), mentions


@pytest.mark.parametrize(("text", "tags", "kind"), ENGLISH_TABLE)
def test_english_case_reads_its_expected_tags(text, tags, kind):
    _read_as_expected(text, tags, "en")
    if kind == "normal":
        assert all(read_clause(clause).normal for clause in split_clauses(text))


@pytest.mark.parametrize("case", chinese(), ids=lambda case: f"{case.id}-{case.text}")
def test_chinese_case_reads_its_expected_tags(case):
    _read_as_expected(case.text, case.tags, "zh")
    if case.states_normal is not None:
        flags = [read_clause(clause).normal for clause in split_clauses(case.text)]
        assert all(flags) if case.states_normal else not any(flags), flags


@pytest.mark.parametrize(
    ("case", "language"),
    [(case, language) for language in ("en", "zh") for case in fresh(language)],
    ids=lambda value: getattr(value, "text", value),
)
def test_fresh_sentence_reads_its_expected_tags(case, language):
    _read_as_expected(case.text, case.tags, language)


@pytest.mark.parametrize("half", HALVES)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_each_half_of_each_corpus_meets_the_goals(language, half):
    cases = [case for case in (english() if language == "en" else chinese()) if case.half == half]
    result = score(cases, language)
    assert len(result.mixed) >= 15
    assert Score.share(result.mixed) >= 0.98
    assert Score.share(result.normal) >= 0.97
    assert Score.share(result.affirmed) >= 0.97


def test_demo_reports_meet_the_normal_and_affirmed_goals():
    result, flags = synth_score(generate_reports(3000, seed=0))
    assert len(result.normal) > 500 and len(result.affirmed) > 500
    assert Score.share(result.normal) >= 0.97
    assert Score.share(result.affirmed) >= 0.97
    assert Score.share(flags) >= 0.97  # the demo's normal statements are flagged normal


def test_the_keyword_tables_find_exactly_the_tagged_findings():
    # So a case can fail only because of how it was split and read, not how it was measured.
    for language, cases in (("en", english()), ("zh", chinese())):
        for case in cases:
            assert findings_in(case.text, language) == set(case.tags), case


def test_the_english_corpus_is_what_its_script_writes():
    committed = [
        json.loads(line) for line in (HERE / "en_impressions.jsonl").read_text("utf-8").splitlines()
    ]
    assert committed == build()
    assert len(committed) >= 400


def test_the_halves_are_deterministic_and_both_hold_every_kind():
    for cases in (english(), chinese()):
        for half in HALVES:
            kinds = {kind for case in cases if case.half == half for kind in case.kinds}
            assert {"mixed", "pseudo", "hedge", "normal"} <= kinds
    # CRC-32 of the ids: the same halves on every machine and every run.
    assert [sum(case.half == half for case in english()) for half in HALVES] == [240, 240]
    assert [sum(case.half == half for case in chinese()) for half in HALVES] == [44, 44]
