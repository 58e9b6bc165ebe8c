"""Report text: split a diagnosis into clauses, normalise them, read their polarity.

Pure Python (no Django): the clause pipeline runs inside a Celery task, a management command and
the benchmarks alike.

The paper clusters diagnosis clauses by edit distance after removing digits. Two things it leaves
out matter here:

* Negations and hedges (未见 / 无 / 可能 / 不除外, "no" / "possible") sit a couple of edits away
  from the positive clause, so ``polarity`` reads them and the clustering never puts two
  polarities in one cluster.
* "Normal" is itself written as a negation (心肺膈未见明显异常, "no acute abnormality"). Statements
  of normality are therefore ``negated``; a curator maps that cluster to the normal label.

Cue lists are data: the defaults below cover Chinese and English, and ``polarity`` takes a
team's own ``CueLists``. A cue's scope is the clause it sits in; ``split_clauses`` is what keeps
"未见胸腔积液，主动脉硬化" from negating the aortosclerosis.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

AFFIRMED = "affirmed"
NEGATED = "negated"
UNCERTAIN = "uncertain"
POLARITIES: tuple[str, ...] = (AFFIRMED, NEGATED, UNCERTAIN)
_PSEUDO = "pseudo"

ZH_NEGATION: tuple[str, ...] = (
    "未见", "未", "无", "没有", "不见", "排除", "除外", "阴性", "不大", "不宽", "消失",
    "可能性不大", "可能性小",
    # Normal-appearance descriptors: 双肺纹理清晰, 肋膈角锐利 deny a finding like 未见 does.
    "正常", "清晰", "锐利", "走行自然", "光整", "光滑",
)  # fmt: skip
ZH_UNCERTAINTY: tuple[str, ...] = (
    "可能", "可疑", "疑", "疑似", "似见", "似有", "考虑", "怀疑", "倾向", "待定", "待查",
    "不除外", "未除外", "不能除外", "待除外", "需除外", "请除外", "建议除外",
    "不排除", "未排除", "不能排除", "待排", "待排除", "可能性大", "?",
)  # fmt: skip
EN_NEGATION: tuple[str, ...] = (
    "no", "not", "without", "negative for", "free of", "absence of", "absent", "ruled out",
    "rules out", "unremarkable", "normal", "within normal limits", "unlikely", "resolved",
)  # fmt: skip
EN_UNCERTAINTY: tuple[str, ...] = (
    "possible", "possibly", "probable", "probably", "likely", "may", "might", "could",
    "cannot exclude", "cannot be excluded", "can not be excluded", "cannot rule out",
    "cannot be ruled out", "not excluded", "not be excluded", "not ruled out", "suggest",
    "suggests", "suggesting", "suggestive of", "suspicious for", "suspected", "suspect",
    "questionable", "question of", "consider", "considered", "concerning for", "equivocal",
    "versus", "vs", "differential", "uncertain", "indeterminate",
)  # fmt: skip
# Pseudo-cues contain a cue but are not one: 肋膈角欠锐利 (not sharp) affirms blunting.
ZH_PSEUDO: tuple[str, ...] = ("欠锐利", "不锐利", "欠清晰", "不清晰", "欠光整", "不光整", "欠光滑")
EN_PSEUDO: tuple[str, ...] = ("no change", "not changed", "no interval change")


def _cue_view(text: str) -> str:
    """Width- and case-folded text with single spaces; punctuation kept ("?" is a hedge)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class CueLists:
    """Negation, uncertainty and pseudo cues, matched case- and width-insensitively.

    A cue with Latin letters matches whole words only ("no" never fires inside "nodule"). Where
    cues overlap, the longest one wins, which is how 不除外 (cannot be excluded, a hedge) beats
    除外 (excluded, a negation) and 可能性不大 (unlikely) beats 可能 (possibly). A pseudo cue
    wins the same way and then counts for nothing: 欠锐利 (not sharp) hides the 锐利 in it.
    """

    negation: tuple[str, ...]
    uncertainty: tuple[str, ...]
    pseudo: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Curators edit these lists as text; accept any sequence but store tuples (hashable).
        fields = ("negation", "uncertainty", "pseudo")
        for field in fields:
            object.__setattr__(self, field, tuple(getattr(self, field)))
            for i, cue in enumerate(getattr(self, field)):
                if not isinstance(cue, str) or not _cue_view(cue):
                    raise ValueError(f"cue lists: {field}[{i}] is empty or not text: {cue!r}")
        for one, other in itertools.combinations(fields, 2):
            both = {_cue_view(c) for c in getattr(self, one)} & {
                _cue_view(c) for c in getattr(self, other)
            }
            if both:
                raise ValueError(f"cue lists: {sorted(both)!r} appear in both {one} and {other}")


DEFAULT_CUES = CueLists(
    negation=ZH_NEGATION + EN_NEGATION,
    uncertainty=ZH_UNCERTAINTY + EN_UNCERTAINTY,
    pseudo=ZH_PSEUDO + EN_PSEUDO,
)

# --- character classes -------------------------------------------------------------------------

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_DIGIT = "0-9\uff10-\uff19"  # ASCII and full-width digits
# ① … ⒛ (circled, parenthesised, with full stop), ⓫ … ⓴, ❶ … ➓, ㉑ … ㊿
_ENCLOSED_NUMBER = "\u2460-\u249b\u24eb-\u24f4\u2776-\u2793\u3251-\u325f\u32b1-\u32bf"
_ZH_NUMERAL = "一二三四五六七八九十"

_HEADER = re.compile(
    r"^\s*(?:影像诊断|诊断意见|诊断|印象|结论|意见|impression|diagnosis|conclusion)s?\s*[:：]",
    re.IGNORECASE,
)

# Everything that ends a clause or introduces the next one, in one alternation (order matters:
# numbering before plain punctuation, so "2." is consumed whole).
_CUT = re.compile(
    "|".join(
        (
            # 1.  2、  3)  4）  １．  (not decimals "1.5", not "第2、3肋", not "T12.")
            rf"(?<![A-Za-z{_DIGIT}.．第])[{_DIGIT}]{{1,2}}\s*[.．、)）](?![{_DIGIT}])",
            # (3)  （3）
            rf"[(（]\s*[{_DIGIT}]{{1,2}}\s*[)）]",
            rf"[{_ENCLOSED_NUMBER}]",
            # 一、 二. at the start of a line or after a separator / space
            rf"(?:^|(?<=[\s。；;，,：:]))[{_ZH_NUMERAL}]{{1,2}}[、.．]",
            r"[。；;\n\r！!]",
            "，",
            # An ASCII comma splits Chinese text but not an English list: "No effusion,
            # pneumothorax or consolidation" keeps its negation over the whole list.
            rf"(?<=[{_CJK}])\s*,|,(?=\s*[{_CJK}])",
            # A full stop ends a sentence, not a decimal or an abbreviation ("e.g.", "vs.").
            rf"(?<!\.[a-z])(?<!\bvs)[.．](?=\s|$)|(?<=[{_CJK}])[.．]|[.．](?=[{_CJK}])",
            # Spaces carry no meaning inside Chinese text: between two Han characters they
            # separate clauses.
            rf"(?<=[{_CJK}])\s+(?=[{_CJK}])",
            # "No effusion but mild cardiomegaly": the negation stops at "but".
            r"\s*,?\s+(?:but|however|although)\b",
            # 、 between numbers lists them (第2、3肋); elsewhere see _keep_enumeration_cuts.
            rf"(?<![{_DIGIT}])、|、(?![{_DIGIT}])",
        )
    ),
    re.IGNORECASE,
)
_STRIP = " \t\r\n\u3000,，、.．。;；:：!！-—–·"
_MEANINGFUL = re.compile(rf"[{_CJK}A-Za-z\uff21-\uff3a\uff41-\uff5a]")
# 、 both lists findings (主动脉硬化、肺气肿) and continues one (肺纹理增多、紊乱) or lists
# organs (心、肺、膈未见异常). It separates clauses only when the fragments right before and
# right after it are each at least this many characters long.
_ENUMERATION_MIN_CHARS = 3


def split_clauses(diagnosis: str) -> list[str]:
    """Split a diagnosis into clauses, each exactly as written (numbering and separators dropped).

    Splits on Chinese and Western clause punctuation, line breaks, numbering (``1.`` ``2、``
    ``（3）`` ``①`` ``⑵`` ``一、``), English sentence ends and "but". Empty text gives ``[]``.
    """
    if not isinstance(diagnosis, str):
        raise TypeError(f"diagnosis must be text, not {type(diagnosis).__name__}")
    header = _HEADER.match(diagnosis)
    start = header.end() if header else 0
    cuts = [m.span() for m in _CUT.finditer(diagnosis, start)]
    cuts = _keep_enumeration_cuts(diagnosis, start, cuts)
    pieces, position = [], start
    for cut_start, cut_end in cuts:
        pieces.append(diagnosis[position:cut_start])
        position = cut_end
    pieces.append(diagnosis[position:])
    clauses = (piece.strip(_STRIP) for piece in pieces)
    return [clause for clause in clauses if _MEANINGFUL.search(clause)]


def _keep_enumeration_cuts(
    text: str, start: int, cuts: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Drop the 、 cuts that continue a finding or list organs rather than start a clause."""
    kept: list[tuple[int, int]] = []
    for i, (cut_start, cut_end) in enumerate(cuts):
        if text[cut_start:cut_end] == "、":
            left_from = cuts[i - 1][1] if i > 0 else start
            right_to = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
            left = _meaningful_length(text[left_from:cut_start])
            right = _meaningful_length(text[cut_end:right_to])
            if min(left, right) < _ENUMERATION_MIN_CHARS:
                continue
        kept.append((cut_start, cut_end))
    return kept


def _meaningful_length(text: str) -> int:
    return len(_MEANINGFUL.findall(text))


_LEADING_ZH_NUMBERING = re.compile(rf"^\s*[{_ZH_NUMERAL}]{{1,2}}[、.]")
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<=[{_CJK}]) | (?=[{_CJK}])")


def normalize(clause: str) -> str:
    """The form clauses are compared in: what the edit distance should not see is gone.

    NFKC unifies full-width and half-width forms (and turns ① into 1), case is folded, digits and
    numbering are removed (as in the paper), and every run of punctuation, symbols and
    whitespace becomes one space, dropped entirely next to Han characters.
    """
    if not isinstance(clause, str):
        raise TypeError(f"clause must be text, not {type(clause).__name__}")
    text = unicodedata.normalize("NFKC", clause).casefold()
    text = _LEADING_ZH_NUMBERING.sub(" ", text)
    folded = text.translate(_FOLD)
    folded = " ".join(folded.split())
    return _SPACE_NEXT_TO_CJK.sub("", folded)


class _FoldTable(dict):
    """``str.translate`` table filled on demand, one entry per code point ever seen.

    Digits vanish; punctuation, symbols, separators and control characters become a space;
    everything else maps to itself.
    """

    def __missing__(self, codepoint: int) -> str | int:
        category = unicodedata.category(chr(codepoint))
        if category == "Nd":
            folded: str | int = ""
        elif category[0] in "PSZC":
            folded = " "
        else:
            folded = codepoint
        self[codepoint] = folded
        return folded


_FOLD = _FoldTable()


def polarity(clause: str, cues: CueLists | None = None) -> str:
    """Whether a clause affirms, negates or hedges its finding: one of ``POLARITIES``.

    A hedge anywhere in the clause makes it ``uncertain`` (可能 / "possible" weakens a negation
    too: "possibly no effusion" is not a clean negative), otherwise a negation cue makes it
    ``negated``. The scope of a cue is the clause: split the diagnosis first.
    """
    if not isinstance(clause, str):
        raise TypeError(f"clause must be text, not {type(clause).__name__}")
    view = _cue_view(clause)
    if not view:
        raise ValueError("clause is empty: polarity needs the text of one clause")
    pattern, kinds = _compile_cues(cues or DEFAULT_CUES)
    found = {kinds[match.group(0)] for match in pattern.finditer(view)}
    if UNCERTAIN in found:
        return UNCERTAIN
    if NEGATED in found:
        return NEGATED
    return AFFIRMED


def without_cues(clause: str, cues: CueLists | None = None) -> str:
    """``normalize(clause)`` with its negation and hedge cues cut out (pseudo cues stay).

    Within one polarity the cue says nothing about *which* finding a clause is about, yet
    it dominates the edit distance: 考虑支气管炎可能 is closer to 考虑肺气肿可能 than to
    支气管炎. Clustering compares clauses in this form. A clause that is nothing but cues keeps
    its normalised text.
    """
    return _cut_cues(normalize(clause), cues or DEFAULT_CUES)


def _cut_cues(normalized: str, cues: CueLists) -> str:
    pattern, kinds = _compile_cues(cues, normalized=True)
    if not kinds:
        return normalized
    kept = pattern.sub(lambda m: m.group(0) if kinds[m.group(0)] == _PSEUDO else " ", normalized)
    return _SPACE_NEXT_TO_CJK.sub("", " ".join(kept.split())) or normalized


@dataclass(frozen=True)
class ClauseReading:
    """Everything the clustering needs from one clause, read in one pass."""

    normalized: str
    compared: str  # normalised, negation and hedge cues cut out
    polarity: str


def read_clause(clause: str, cues: CueLists | None = None) -> ClauseReading:
    """``normalize``, ``without_cues`` and ``polarity`` of a clause, normalising only once."""
    cues = cues or DEFAULT_CUES
    normalized = normalize(clause)
    return ClauseReading(normalized, _cut_cues(normalized, cues), polarity(clause, cues))


@lru_cache(maxsize=64)
def _compile_cues(
    cues: CueLists, normalized: bool = False
) -> tuple[re.Pattern[str], dict[str, str]]:
    """One alternation over all cues, longest first, so the longest cue wins at each position.

    Cues are put in the same form as the text they are matched against: the cue view for
    ``polarity``, the normalised form for ``without_cues`` (where "?" has no form and drops out).
    """
    form = normalize if normalized else _cue_view
    kinds = {form(cue): NEGATED for cue in cues.negation}
    kinds.update({form(cue): UNCERTAIN for cue in cues.uncertainty})
    kinds.update({form(cue): _PSEUDO for cue in cues.pseudo})
    kinds.pop("", None)
    if not kinds:
        return re.compile("(?!)"), kinds
    alternatives = [_cue_pattern(cue) for cue in sorted(kinds, key=len, reverse=True)]
    # Python's re tries every alternative at every position; a look-ahead on the possible first
    # characters skips most positions at once.
    first = re.escape("".join(sorted({cue[0] for cue in kinds})))
    return re.compile(f"(?=[{first}])(?:{'|'.join(alternatives)})"), kinds


def _cue_pattern(cue: str) -> str:
    """Escape a cue; anchor Latin word edges so "no" does not match inside "nodule"."""
    pattern = re.escape(cue)
    if cue[0].isascii() and cue[0].isalnum():
        pattern = r"(?<![a-z0-9])" + pattern
    if cue[-1].isascii() and cue[-1].isalnum():
        pattern += r"(?![a-z0-9])"
    return pattern
