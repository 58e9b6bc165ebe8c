"""Report text: split a diagnosis into clauses, normalise them, read their polarity.

Pure Python (no Django): the clause pipeline runs inside a Celery task, a management command and
the benchmarks alike.

The paper clusters diagnosis clauses by edit distance after removing digits. Two things it leaves
out matter here:

* Negations and hedges (未见 / 无 / 可能 / 不除外, "no" / "possible") sit a couple of edits away
  from the positive clause, so ``polarity`` reads them and the clustering never puts two
  polarities in one cluster.
* "Normal" is itself written as a negation (心肺膈未见明显异常, "no acute abnormality").
  Statements of normality are therefore ``negated``, and ``is_normal`` (the ``normal`` flag of
  ``read_clause``) tells them from a denied finding (心影不大, "no pneumothorax"), so that they
  map to the normal label and never make a report abnormal.

A cue's scope is one clause, so ``split_clauses`` cuts where a scope ends or begins: at
punctuation, at the terminators of the cue lists (but, with, which, 但, 伴, 余 ...), and before a
negation or hedge that opens a new scope mid-sentence ("Cardiomegaly | without pulmonary edema",
心影增大 | 未见胸腔积液). That keeps "未见胸腔积液，主动脉硬化" from negating the aortosclerosis,
and "no change in the cardiomegaly" (a pseudo cue) from negating anything.

Cue lists are data: the defaults below cover Chinese and English, and ``split_clauses``,
``polarity`` and ``is_normal`` take a team's own ``CueLists`` (terminators included).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
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
    "resolution of", "clear", "negative", "intact",
)  # fmt: skip
EN_UNCERTAINTY: tuple[str, ...] = (
    "possible", "possibly", "probable", "probably", "likely", "may", "might", "could",
    "cannot exclude", "cannot be excluded", "can not be excluded", "cannot rule out",
    "cannot be ruled out", "not excluded", "not be excluded", "not ruled out", "suggest",
    "suggests", "suggesting", "suggestive of", "suspicious for", "suspected", "suspect",
    "questionable", "question of", "consider", "considered", "concerning for", "equivocal",
    "versus", "vs", "differential", "uncertain", "indeterminate", "may represent",
    "could represent", "likely represents",
)  # fmt: skip
# Pseudo-cues contain a cue but are not one: 肋膈角欠锐利 (not sharp) affirms blunting, and a
# comparison with the last study (无明显变化, "no change in the cardiomegaly") says the finding is
# still there. As in NegBio's and CheXpert's rule sets, "not only" and "no increase" negate nothing.
ZH_PSEUDO: tuple[str, ...] = (
    "欠锐利", "不锐利", "欠清晰", "不清晰", "欠光整", "不光整", "欠光滑",
    "无明显变化", "未见明显变化", "无变化", "未见变化", "无著变", "未见著变", "变化不大",
    "无明显吸收", "未见明显吸收", "未见吸收", "无吸收",
)  # fmt: skip
EN_PSEUDO: tuple[str, ...] = (
    "no change", "not changed", "no interval change", "no significant change",
    "no significant interval change", "not significantly changed", "without change",
    "without significant change", "without interval change", "no substantial change",
    "no appreciable change", "no increase", "no improvement", "not only",
    # "No consolidation to suggest pneumonia": the hedge is under the negation (CheXpert reads
    # it as a negation too).
    "to suggest",
)  # fmt: skip
# Where a cue's scope ends: the cut points of ``split_clauses`` besides punctuation. A terminator
# is dropped from the clauses it separates ("Stable cardiomegaly with no failure" gives "Stable
# cardiomegaly" and "no failure").
ZH_TERMINATORS: tuple[str, ...] = (
    "但", "但是", "伴", "伴有", "及", "以及", "余", "其余", "并", "并且", "另", "另见",
)  # fmt: skip
EN_TERMINATORS: tuple[str, ...] = (
    "but", "however", "although", "though", "whereas", "with", "except", "except for",
    "which", "otherwise",
)  # fmt: skip
DEFAULT_TERMINATORS: tuple[str, ...] = ZH_TERMINATORS + EN_TERMINATORS


def _cue_view(text: str) -> str:
    """Width- and case-folded text with single spaces; punctuation kept ("?" is a hedge)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class CueLists:
    """Negation, uncertainty and pseudo cues, and the terminators that end their scope,
    matched case- and width-insensitively.

    A cue with Latin letters matches whole words only ("no" never fires inside "nodule"). Where
    cues overlap, the longest one wins, which is how 不除外 (cannot be excluded, a hedge) beats
    除外 (excluded, a negation) and 可能性不大 (unlikely) beats 可能 (possibly). A pseudo cue
    wins the same way and then counts for nothing: 欠锐利 (not sharp) hides the 锐利 in it.
    """

    negation: tuple[str, ...]
    uncertainty: tuple[str, ...]
    pseudo: tuple[str, ...] = ()
    terminators: tuple[str, ...] = DEFAULT_TERMINATORS

    def __post_init__(self) -> None:
        # Curators edit these lists as text; accept any sequence but store tuples (hashable).
        fields = ("negation", "uncertainty", "pseudo", "terminators")
        for field in fields:
            object.__setattr__(self, field, tuple(getattr(self, field)))
            for i, cue in enumerate(getattr(self, field)):
                if not isinstance(cue, str) or not _cue_view(cue):
                    raise ValueError(f"cue lists: {field}[{i}] is empty or not text: {cue!r}")
        # Every cached reading keys on the cue lists: hash their long tuples once.
        object.__setattr__(self, "_hash", hash(tuple(getattr(self, f) for f in fields)))
        for one, other in itertools.combinations(fields, 2):
            both = {_cue_view(c) for c in getattr(self, one)} & {
                _cue_view(c) for c in getattr(self, other)
            }
            if both:
                raise ValueError(f"cue lists: {sorted(both)!r} appear in both {one} and {other}")

    def __hash__(self) -> int:  # equality stays the dataclass's, over the four lists
        return self._hash

    def __reduce__(self) -> tuple[type, tuple[tuple[str, ...], ...]]:
        # Rebuilt, not restored: a string's hash differs from one process to the next.
        return (CueLists, (self.negation, self.uncertainty, self.pseudo, self.terminators))


DEFAULT_CUES = CueLists(
    negation=ZH_NEGATION + EN_NEGATION,
    uncertainty=ZH_UNCERTAINTY + EN_UNCERTAINTY,
    pseudo=ZH_PSEUDO + EN_PSEUDO,
    terminators=DEFAULT_TERMINATORS,
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
# numbering before plain punctuation, so "2." is consumed whole). The terminators of a team's
# ``CueLists`` are added to it by ``_cut_pattern``.
_PUNCTUATION_CUTS: tuple[str, ...] = (
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
    # 、 between numbers lists them (第2、3肋); elsewhere see _keep_cuts.
    rf"(?<![{_DIGIT}])、|、(?![{_DIGIT}])",
)
_STRIP = " \t\r\n\u3000,，、.．。;；:：!！-—–·"
_MEANINGFUL = re.compile(rf"[{_CJK}A-Za-z\uff21-\uff3a\uff41-\uff5a]")
# 、 both lists findings (主动脉硬化、肺气肿) and continues one (肺纹理增多、紊乱) or lists
# organs (心、肺、膈未见异常). It separates clauses only when the fragments right before and
# right after it are each at least this many characters long.
_ENUMERATION_MIN_CHARS = 3
# A terminator separates clauses only between two fragments of at least this many characters:
# 请及时复查 is not cut at 及.
_TERMINATOR_MIN_CHARS = 2
# Words that hold a terminator without being one (合并 is "combined with", 及时 "promptly").
_NOT_TERMINATORS: tuple[str, ...] = (
    "合并", "并发", "及时", "残余", "剩余", "多余", "consistent with", "compatible with",
    "compared with", "in keeping with", "along with", "together with", "associated with",
)  # fmt: skip
# Terminators that join a list: under a negation or hedge they keep its scope (未见胸腔积液及
# 气胸 denies both), elsewhere they separate two findings (心影增大及胸腔积液).
_LIST_JOINERS = frozenset({"及", "以及"})
# A clause this short that holds nothing but hedges joins the clause before it.
_LONGEST_HEDGE = 24
# 、 after an attribute lists attributes, not findings: 心影大小、形态未见异常.
_ZH_ATTRIBUTES = ("大小", "形态", "位置", "轮廓", "密度", "分布", "走行", "结构")

# Cues that open a new scope in the middle of a sentence: they stand before what they negate or
# hedge ("Cardiomegaly without pulmonary edema", 心影增大未见胸腔积液). Cues that follow their
# finding ("pneumothorax is not seen", 主动脉硬化可能 with nothing after it) never cut. Only the
# cues of a team's lists that are also here open a scope.
_SCOPE_OPENERS = frozenset(
    (
        "未见", "未", "无", "没有", "不见", "考虑", "不除外", "不排除", "未除外", "未排除",
        "不能除外", "不能排除", "可疑", "疑", "疑似", "怀疑", "似见", "可能", "请除外",
        "需除外", "建议除外", "待排", "待排除",
        "no", "without", "negative for", "free of", "absence of", "possible", "possibly",
        "probable", "probably", "likely", "cannot exclude", "cannot rule out",
        "suspicious for", "concerning for", "suggestive of", "question of", "questionable",
        "may represent", "could represent", "likely represents", "consider",
    )
)  # fmt: skip
# Before a mid-sentence opener, Chinese text must end a finding (心影增大 | 未见...), not name
# the organ the cue is about (主动脉 | 未见钙化, 心影 | 不大): it ends in one of these characters
# or in a shadow (斑片影, not 心影 or 肺门影).
_ZH_FINDING_ENDS = frozenset("大宽厚液化节肿炎症变多粗钝张满灶块折高乱糊曲出重核生连裹胸")
_ZH_ORGAN_SHADOWS = frozenset("心门")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
# English text before a mid-sentence opener must not end in a word that needs it ("There is |
# no effusion", "The lungs are | free of disease").
_EN_LINKING_WORDS = frozenset(
    "is are was were be been being has have had there of to for by in on as".split()
)
# After a negated list, a comma followed by one of these starts an affirmed finding: "No focal
# consolidation, mild bibasilar atelectasis".
_EN_AFFIRMING_AFTER_COMMA = re.compile(
    r",\s*(?=(?:mild|moderate|severe|small|large|minimal|trace|stable|persistent|new|"
    r"increased|increasing|decreased|chronic|there is|there are)\b)",
    re.IGNORECASE,
)


@lru_cache(maxsize=64)
def _cut_pattern(terminators: tuple[str, ...]) -> re.Pattern[str]:
    """The punctuation cuts plus the terminators (group ``t``), longest terminator first."""
    # "No effusion, but mild cardiomegaly": the comma and spaces go with the terminator.
    alternatives = _as_written({_cue_view(t) for t in terminators})
    parts = list(_PUNCTUATION_CUTS)
    if alternatives:
        first = re.escape("".join(sorted({_cue_view(t)[0] for t in terminators})))
        parts.append(rf"(?=[\s,{first}])\s*,?\s*(?P<t>{alternatives})\s*")
    return re.compile("|".join(parts), re.IGNORECASE)


def split_clauses(diagnosis: str, cues: CueLists | None = None) -> list[str]:
    """Split a diagnosis into clauses, each exactly as written (numbering and separators dropped).

    Splits on Chinese and Western clause punctuation, line breaks, numbering (``1.`` ``2、``
    ``（3）`` ``①`` ``⑵`` ``一、``), English sentence ends, and the terminators of ``cues``
    (but, with, which, 但, 伴, 余 ...), which end a cue's scope. It also splits where the scope
    of a negation or hedge begins mid-sentence: "Cardiomegaly without pulmonary edema" gives
    ``["Cardiomegaly", "without pulmonary edema"]``, 心影增大未见胸腔积液 gives
    ``["心影增大", "未见胸腔积液"]``; so ``polarity`` of each clause reads one scope. Empty text
    gives ``[]``.
    """
    if not isinstance(diagnosis, str):
        raise TypeError(f"diagnosis must be text, not {type(diagnosis).__name__}")
    cues = cues or DEFAULT_CUES
    header = _HEADER.match(diagnosis)
    start = header.end() if header else 0
    matches = list(_cut_pattern(cues.terminators).finditer(diagnosis, start))
    cuts = _keep_cuts(diagnosis, start, matches, cues)
    pieces, position = [], start
    for cut_start, cut_end in cuts:
        pieces.append((position, cut_start))
        position = cut_end
    pieces.append((position, len(diagnosis)))
    spans: list[tuple[int, int]] = []
    for piece_start, piece_end in pieces:
        bounds = _split_scopes(diagnosis[piece_start:piece_end], cues)
        for a, b in itertools.pairwise(bounds):
            clause = diagnosis[piece_start + a : piece_start + b]
            stripped = clause.strip(_STRIP)
            if not _MEANINGFUL.search(stripped):
                continue
            a += piece_start + len(clause) - len(clause.lstrip(_STRIP))
            b = a + len(stripped)
            if spans and _only_a_hedge(stripped, cues):
                # "右肺结节，待排", "Right lower lobe opacity, likely": the hedge is about the
                # finding before it.
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
    return [diagnosis[a:b] for a, b in spans]


def _only_a_hedge(clause: str, cues: CueLists) -> bool:
    """Whether a clause is one hedge and nothing else (punctuation aside)."""
    return len(clause) <= _LONGEST_HEDGE and _cue_view(clause).strip(_STRIP) in _hedges(cues)


@lru_cache(maxsize=64)
def _hedges(cues: CueLists) -> frozenset[str]:
    return frozenset(_cue_view(cue).strip(_STRIP) for cue in cues.uncertainty)


def _keep_cuts(
    text: str, start: int, matches: list[re.Match[str]], cues: CueLists
) -> list[tuple[int, int]]:
    """Drop the 、 cuts that continue a finding or list organs rather than start a clause, and
    the terminators that are part of a word or join a list under a cue."""
    kept: list[tuple[int, int]] = []
    for i, match in enumerate(matches):
        cut_start, cut_end = match.span()
        left_from = matches[i - 1].end() if i > 0 else start
        right_to = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        left, right = text[left_from:cut_start], text[cut_end:right_to]
        if "t" in match.re.groupindex and match.group("t") is not None:
            if not _terminates(text, match, left, right, cues):
                continue
        elif text[cut_start:cut_end] == "、":
            if min(_meaningful_length(left), _meaningful_length(right)) < _ENUMERATION_MIN_CHARS:
                continue
            if left.rstrip().endswith(_ZH_ATTRIBUTES):
                continue
        kept.append((cut_start, cut_end))
    return kept


def _terminates(text: str, match: re.Match[str], left: str, right: str, cues: CueLists) -> bool:
    word = _cue_view(match.group("t"))
    if min(_meaningful_length(left), _meaningful_length(right)) < _TERMINATOR_MIN_CHARS:
        # Nothing to separate: a leading 余 ("余未见异常") stays inside its clause.
        return False
    at = match.start("t")
    for other in _NOT_TERMINATORS:
        inside = other.find(word)
        if inside >= 0 and _cue_view(text[at - inside : at - inside + len(other)]) == other:
            return False
    if word in _LIST_JOINERS:
        pattern, kinds = _compile_cues(cues)
        if any(kinds[m.group(0)] != _PSEUDO for m in pattern.finditer(_cue_view(left))):
            return False
    return True


def _split_scopes(piece: str, cues: CueLists) -> list[int]:
    """Where a piece is cut (its bounds included): before each negation or hedge that opens a
    new scope mid-sentence."""
    pattern, kinds, openers = _compile_scope(cues)
    found = [m for m in pattern.finditer(piece) if kinds[_matched_cue(m.group(0))] != _PSEUDO]
    if not found or not openers:
        return [0, len(piece)]
    cuts: list[int] = []
    for match in found:
        left = piece[cuts[-1] if cuts else 0 : match.start()]
        if _matched_cue(match.group(0)) in openers and _opens_scope(left, piece[match.end() :]):
            cuts.append(match.start())
    cuts = _affirming_commas(piece, cuts, found)
    return [0, *cuts, len(piece)]


@lru_cache(maxsize=4096)
def _matched_cue(written: str) -> str:
    """The cue view of a cue as a text wrote it (few spellings, so cached)."""
    return _cue_view(written)


def _opens_scope(left: str, right: str) -> bool:
    """Whether a cue between ``left`` and ``right`` starts a scope of its own."""
    if not _MEANINGFUL.search(right):
        return False  # 主动脉硬化可能, "atelectasis likely": the cue follows its finding
    left = left.rstrip(_STRIP)
    if not left or not _MEANINGFUL.search(left):
        return False
    last = left[-1]
    if _CJK_CHAR.match(last):
        if last == "影":
            return len(left) > 1 and left[-2] not in _ZH_ORGAN_SHADOWS
        return last in _ZH_FINDING_ENDS
    words = re.findall(r"[a-z]+", left.casefold())
    return bool(words) and words[-1] not in _EN_LINKING_WORDS


def _affirming_commas(piece: str, cuts: list[int], found: list[re.Match[str]]) -> list[int]:
    """Add a cut at ", mild ..." after a negated or hedged stretch (English lists)."""
    if "," not in piece:
        return cuts
    extra = []
    for comma in _EN_AFFIRMING_AFTER_COMMA.finditer(piece):
        before = max((c for c in cuts if c <= comma.start()), default=0)
        if any(before <= m.start() < comma.start() for m in found):
            extra.append(comma.end())
    return sorted({*cuts, *extra})


@lru_cache(maxsize=64)
def _compile_scope(
    cues: CueLists,
) -> tuple[re.Pattern[str], dict[str, str], frozenset[str]]:
    """All cues matched in the text as written (offsets are the text's), and the openers."""
    kinds = {_cue_view(cue): NEGATED for cue in cues.negation}
    kinds.update({_cue_view(cue): UNCERTAIN for cue in cues.uncertainty})
    kinds.update({_cue_view(cue): _PSEUDO for cue in cues.pseudo})
    openers = frozenset(
        cue for cue, kind in kinds.items() if kind != _PSEUDO and cue in _SCOPE_OPENERS
    )
    kinds.pop("", None)
    if not kinds:
        return re.compile("(?!)"), kinds, openers
    # As in _compile_cues: a look-ahead on the possible first characters skips most positions.
    first = re.escape("".join(sorted({cue[0] for cue in kinds})))
    return re.compile(f"(?=[{first}])(?:{_as_written(kinds)})", re.IGNORECASE), kinds, openers


def _as_written(words: Iterable[str]) -> str:
    """An alternation (longest first) matching words in cue view as written in the text: any
    case, any run of spaces, Latin words whole."""
    alternatives = []
    for word in sorted(words, key=len, reverse=True):
        pattern = r"\s+".join(re.escape(part) for part in word.split(" "))
        if word[0].isascii() and word[0].isalnum():
            pattern = r"(?<![a-z0-9])" + pattern
        if word[-1].isascii() and word[-1].isalnum():
            pattern += r"(?![a-z0-9])"
        alternatives.append(pattern)
    return "|".join(alternatives)


def _meaningful_length(text: str) -> int:
    return len(_MEANINGFUL.findall(text))


_LEADING_ZH_NUMBERING = re.compile(rf"^\s*[{_ZH_NUMERAL}]{{1,2}}[、.]")
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<=[{_CJK}]) | (?=[{_CJK}])")


def normalize(clause: str) -> str:
    """The form clauses are compared in: what the edit distance should not see is gone.

    NFKC unifies full-width and half-width forms (and turns ① into 1), case is folded, digits and
    numbering are removed (as in the paper), and every run of punctuation, symbols and
    whitespace becomes one space, dropped entirely next to Han characters.

    The question mark stays, joined to the word before it: it is a hedge (心影增大？ is uncertain),
    and curation decisions are keyed by this form, so 心影增大？ and the affirmed 心影增大 must not
    become one text and share one decision. The clustering compares clauses with their cues cut
    out (``without_cues``), so there the mark is gone again.
    """
    if not isinstance(clause, str):
        raise TypeError(f"clause must be text, not {type(clause).__name__}")
    text = unicodedata.normalize("NFKC", clause).casefold()
    text = _LEADING_ZH_NUMBERING.sub(" ", text)
    folded = text.translate(_FOLD)
    folded = _SPACE_BEFORE_MARK.sub("?", " ".join(folded.split()))
    return _SPACE_NEXT_TO_CJK.sub("", folded)


_SPACE_BEFORE_MARK = re.compile(r" ?\?+")


class _FoldTable(dict):
    """``str.translate`` table filled on demand, one entry per code point ever seen.

    Digits vanish; punctuation (but the question mark), symbols, separators and control
    characters become a space; everything else maps to itself.
    """

    def __missing__(self, codepoint: int) -> str | int:
        category = unicodedata.category(chr(codepoint))
        if codepoint == ord("?"):  # a hedge: kept (see ``normalize``)
            folded: str | int = codepoint
        elif category == "Nd":
            folded = ""
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


def _cut_cues(normalized: str, cues: CueLists, keep_whole: bool = True) -> str:
    """The text without its negation and hedge cues; all of it where that leaves nothing
    (unless ``keep_whole`` is false)."""
    pattern, kinds = _compile_cues(cues, normalized=True)
    if not kinds:
        return normalized
    kept = pattern.sub(lambda m: m.group(0) if kinds[m.group(0)] == _PSEUDO else " ", normalized)
    rest = _SPACE_NEXT_TO_CJK.sub("", " ".join(kept.split()))
    return rest or normalized if keep_whole else rest


# --- normal statements -------------------------------------------------------------------------

# A clause states normality when it is negated, says nothing but these words once its cues are
# cut out, and holds one of the markers: 心肺未见异常, 两肺纹理清晰, "Clear lungs", "Heart size
# normal", "No acute cardiopulmonary abnormality". A denied finding is not a normal statement:
# 心影不大 and "No pneumothorax" name what is absent (不大 is no marker, "pneumothorax" no such word).
_ZH_NORMAL_WORDS: tuple[str, ...] = (
    "心肺膈", "心肺", "心脏", "心影", "双肺", "两肺", "肺野", "肺纹理", "纹理", "肺门", "肺",
    "心", "膈面", "膈肌", "膈", "纵隔", "气管", "肋膈角", "胸廓", "胸部", "胸片", "正位片",
    "正侧位", "x线", "平片", "隔", "骨质", "所见", "大小", "形态", "走行", "分布", "结构", "明显",
    "实质性", "异常", "病变", "征象", "改变", "双侧", "两侧", "双", "两", "各", "均", "余",
    "其余", "及", "和", "居中",
)  # fmt: skip
_EN_NORMAL_WORDS = frozenset(
    """acute active cardiopulmonary pulmonary disease diseases process processes abnormality
    abnormalities abnormal finding findings evidence radiographic of chest x ray xray radiograph
    radiographs study exam examination film heart size lungs lung the a an is are appear appears
    and bilaterally bilateral both cardiomediastinal cardiac silhouette silhouettes contour
    contours mediastinal mediastinum hilar hila osseous bony structures structure thorax xxxx
    pulmonary vascularity vasculature significant identified seen demonstrated visualized
    grossly otherwise overall focal cardiopulmonary intrathoracic thoracic pleural spaces
    costophrenic angles diaphragm diaphragms""".split()
)
_NORMAL_MARKERS: frozenset[str] = frozenset(
    (
        "正常", "清晰", "锐利", "走行自然", "光整", "光滑", "异常", "病变",
        "normal", "clear", "unremarkable", "within normal limits", "negative", "intact",
        "abnormality", "abnormalities", "disease", "process", "findings",
    )
)  # fmt: skip
_NORMAL_ONLY = re.compile(
    r"(?:\s|"
    + "|".join(sorted(map(re.escape, _ZH_NORMAL_WORDS), key=len, reverse=True))
    + r"|(?<![a-z])(?:"
    + "|".join(sorted(_EN_NORMAL_WORDS, key=len, reverse=True))
    + r")(?![a-z]))*"
)
_MARKER_SEARCH = re.compile(
    "|".join(
        rf"(?<![a-z]){re.escape(m)}(?![a-z])" if m.isascii() else re.escape(m)
        for m in sorted(_NORMAL_MARKERS, key=len, reverse=True)
    )
)


def is_normal(clause: str, cues: CueLists | None = None) -> bool:
    """Whether a clause asserts normality ("Clear lungs", "No active disease", 心肺未见异常,
    两肺纹理清晰, 心影大小形态未见异常) rather than deny one finding.

    Such a clause is ``negated`` by ``polarity`` (its three values are a contract); this flag is
    what maps it to the normal label and keeps it from making a report abnormal.
    """
    cues = cues or DEFAULT_CUES
    return _is_normal(clause, normalize(clause), polarity(clause, cues), cues)


def _is_normal(clause: str, normalized: str, polarity_: str, cues: CueLists) -> bool:
    if polarity_ != NEGATED or not _MARKER_SEARCH.search(_cue_view(clause)):
        return False
    return _normal_words_only(_cut_cues(normalized, cues, keep_whole=False))


def _normal_words_only(rest: str) -> bool:
    return bool(_NORMAL_ONLY.fullmatch(rest))


@dataclass(frozen=True)
class ClauseReading:
    """Everything the clustering needs from one clause, read in one pass."""

    normalized: str
    compared: str  # normalised, negation and hedge cues cut out
    polarity: str
    normal: bool = False  # the clause asserts normality (see ``is_normal``)


def read_clause(clause: str, cues: CueLists | None = None) -> ClauseReading:
    """``normalize``, ``without_cues``, ``polarity`` and ``is_normal`` of a clause, normalising
    only once."""
    cues = cues or DEFAULT_CUES
    normalized = normalize(clause)
    polarity_ = polarity(clause, cues)
    rest = _cut_cues(normalized, cues, keep_whole=False)
    normal = (
        polarity_ == NEGATED
        and bool(_MARKER_SEARCH.search(_cue_view(clause)))
        and _normal_words_only(rest)
    )
    return ClauseReading(normalized, rest or normalized, polarity_, normal)


@lru_cache(maxsize=64)
def _compile_cues(
    cues: CueLists, normalized: bool = False
) -> tuple[re.Pattern[str], dict[str, str]]:
    """One alternation over all cues, longest first, so the longest cue wins at each position.

    Cues are put in the same form as the text they are matched against: the cue view for
    ``polarity``, the normalised form for ``without_cues`` (where "?" is a cue to cut as well).
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
