"""Label corpora with expected tags, and how to score ``labeling.text`` against them.

* ``en_impressions.jsonl``: 480 English chest radiograph impressions written for this project
  (``make_en_corpus.py`` says how), each with expected ``{finding: polarity}`` tags, a ``normal``
  flag (no affirmed or uncertain finding) and the kinds of sentence it holds (mixed, pseudo,
  hedge, normal, plain).
* ``zh_cases.jsonl``: Chinese case tables of the same shape, kinds mixed-scope, pseudo-negation,
  hedge and normal statement; a normal case says whether it ``states_normal`` (a statement of
  normality, not only a denied finding).
* ``en_fresh.jsonl``, ``zh_fresh.jsonl``: 46 English and 40 Chinese sentences in phrasings the
  two corpora above do not use, written and committed after the reader was tuned and before it
  was run on them. Its first run (bench/labels.py commit) missed two English sentences, which
  then got rules of their own ("otherwise" ends a scope, "no ... to suggest" negates), so its
  figures since are no longer held out.
* ``labeling.synth.generate_reports`` reports, scored with the generator's own clause truth.

Each corpus splits in two deterministic halves, ``tune`` and ``heldout`` (CRC-32 of the case id).

Which finding a clause is about is decided here, for measurement only: a keyword table per
language (``EN_FINDINGS``, ``ZH_FINDINGS``); for synthetic reports the generator's clause whose
text the clause overlaps. ``labeling.text`` never sees these tables.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from labeling.text import AFFIRMED, NEGATED, UNCERTAIN, CueLists, read_clause, split_clauses

HERE = Path(__file__).resolve().parent
HALVES = ("tune", "heldout")

EN_FINDINGS: dict[str, str] = {
    "cardiomegaly": r"cardiomegaly|enlarged cardiac silhouette|heart (?:size )?is (?:\w+ly )?"
    r"enlarged|heart is not enlarged|heart size is enlarged",
    "edema": r"edema|failure|vascular congestion",
    "effusion": r"effusion",
    "pneumothorax": r"pneumothora",
    "consolidation": r"consolidation|airspace (?:disease|opacit)",
    "pneumonia": r"pneumonia",
    "atelectasis": r"atelecta",
    "nodule": r"nodule",
    "mass": r"\bmass(?:es)?\b",
    "emphysema": r"emphysema|copd|chronic obstructive|hyperinflat|hyperexpand",
    "fracture": r"fracture",
    "granuloma": r"granuloma",
    "degenerative": r"degenerative|spondylosis",
    "aorta": r"aort",
    "hernia": r"hernia",
    "scoliosis": r"scoliosis",
    "adenopathy": r"adenopathy",
    "opacity": r"(?<!airspace )opacit|infiltrate",
    "scarring": r"scarring|fibrosis",
    "lowvolume": r"low lung volumes|hypoinflation",
}
ZH_FINDINGS: dict[str, str] = {
    "heart": r"心影|心脏",
    "effusion": r"积液",
    "nodule": r"结节",
    "calcification": r"^(?!.*主动脉).*钙化",
    "aorta": r"主动脉",
    "pneumonia": r"炎症|肺炎|感染",
    "edema": r"水肿",
    "marking": r"纹理",
    "atelectasis": r"膨胀不全|不张",
    "pleura": r"胸膜",
    "bronchitis": r"支气管炎",
    "emphysema": r"肺气肿",
    "pneumothorax": r"气胸",
    "tb": r"结核",
    "granuloma": r"肉芽肿",
    "opacity": r"斑片影",
    "fracture": r"骨折",
    "interstitial": r"间质",
    "consolidation": r"实变",
    "mass": r"肿块",
    "lymph": r"淋巴结",
    "cpa": r"肋膈角",
}


def half(case_id: str) -> str:
    return HALVES[zlib.crc32(case_id.encode()) % 2]


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    tags: dict[str, str]
    normal: bool
    kinds: tuple[str, ...]
    states_normal: bool | None = None

    @property
    def half(self) -> str:
        return half(self.id)


def _load(name: str) -> list[Case]:
    rows = (json.loads(line) for line in (HERE / name).read_text("utf-8").splitlines() if line)
    return [
        Case(r["id"], r["text"], r["tags"], r["normal"], tuple(r["kinds"]), r.get("states_normal"))
        for r in rows
    ]


@lru_cache(maxsize=1)
def english() -> list[Case]:
    return _load("en_impressions.jsonl")


@lru_cache(maxsize=1)
def chinese() -> list[Case]:
    return _load("zh_cases.jsonl")


@lru_cache(maxsize=2)
def fresh(language: str) -> list[Case]:
    return _load(f"{language}_fresh.jsonl")


@lru_cache(maxsize=4)
def _compiled(language: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    table = EN_FINDINGS if language == "en" else ZH_FINDINGS
    return tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in table.items())


def findings_in(clause: str, language: str) -> set[str]:
    """The findings a clause mentions, by the keyword table of its language."""
    return {name for name, pattern in _compiled(language) if pattern.search(clause)}


Mentions = dict[str, set[str]]  # finding -> the polarities it was read with


def read_mentions(
    text: str, finder: Callable[[str], Iterable[str]], cues: CueLists | None = None
) -> Mentions:
    """Split, read each clause, and gather each finding's polarities."""
    mentions: Mentions = {}
    for clause in split_clauses(text, cues):
        reading = read_clause(clause, cues)  # a normal statement is negated: never abnormal
        for finding in finder(clause):
            mentions.setdefault(finding, set()).add(reading.polarity)
    return mentions


def tags_right(expected: dict[str, str], mentions: Mentions) -> bool:
    """Every expected finding read with its expected polarity, and only with it."""
    return all(mentions.get(f) == {p} for f, p in expected.items())


def abnormal(mentions: Mentions) -> bool:
    return any(ps & {AFFIRMED, UNCERTAIN} for ps in mentions.values())


@dataclass
class Score:
    """Counts for the issue's goals; a share is None where its group is empty."""

    mixed: list[bool]
    normal: list[bool]
    affirmed: list[bool]
    exact: list[bool]

    @staticmethod
    def share(results: list[bool]) -> float | None:
        return sum(results) / len(results) if results else None


def score(cases: Iterable[Case], language: str, cues: CueLists | None = None) -> Score:
    result = Score([], [], [], [])
    for case in cases:
        mentions = read_mentions(case.text, lambda c: findings_in(c, language), cues)
        right = tags_right(case.tags, mentions)
        result.exact.append(right and all(f in case.tags for f in mentions))
        if "mixed" in case.kinds:
            result.mixed.append(right)
        if case.normal:
            result.normal.append(not abnormal(mentions))
        affirmed = {f: p for f, p in case.tags.items() if p == AFFIRMED}
        if affirmed:
            result.affirmed.append(tags_right(affirmed, mentions))
    return result


# --- synthetic Chinese reports, scored with the generator's clause truth ------------------------


def _spans(text: str, pieces: Iterable[str]) -> list[tuple[int, int]]:
    """Where each piece sits in text, searched left to right."""
    spans, at = [], 0
    for piece in pieces:
        start = text.find(piece, at)
        if start < 0:
            start = text.find(piece)
        spans.append((start, start + len(piece)))
        at = max(at, start + len(piece))
    return spans


def synth_score(reports, cues: CueLists | None = None) -> tuple[Score, list[bool]]:
    """Score ``generate_reports`` output; also each normal statement's ``normal`` flag.

    A report is normal when its truth is the normal label and none of its clauses is hedged
    (a hedge is an uncertain abnormal mention, which keeps a report out of the normal class).
    """
    result, flags = Score([], [], [], []), []
    for report in reports:
        truth_spans = _spans(report.diagnosis, (c.text for c in report.clauses))
        clauses = split_clauses(report.diagnosis, cues)
        mentions: Mentions = {}
        for clause, (start, end) in zip(clauses, _spans(report.diagnosis, clauses), strict=True):
            reading = read_clause(clause, cues)
            labels = {
                truth.label
                for truth, (t_start, t_end) in zip(report.clauses, truth_spans, strict=True)
                if truth.label and t_start < end and start < t_end
            }
            if "normal" in labels:
                flags.append(reading.normal)
            for label in labels - {"normal"}:
                mentions.setdefault(label, set()).add(reading.polarity)
        expected = {c.label: c.polarity for c in report.clauses if c.label not in (None, "normal")}
        right = tags_right(expected, mentions)
        result.exact.append(right and all(f in expected for f in mentions))
        if report.labels == ("normal",) and UNCERTAIN not in expected.values():
            result.normal.append(not abnormal(mentions))
        affirmed = {f: p for f, p in expected.items() if p == AFFIRMED}
        if affirmed:
            result.affirmed.append(tags_right(affirmed, mentions))
    return result, flags


__all__ = ["AFFIRMED", "NEGATED", "UNCERTAIN", "Case", "Score", "chinese", "english", "half"]
