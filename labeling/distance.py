"""How far apart two clauses are: the distance options of the clustering, and synonym tables.

Pure Python (no Django). Clauses reach this module in their *compared* form (``labeling.text``:
normalised, digits gone, negation and hedge cues cut out); polarity is already separated.

Two options, named in ``DISTANCES``:

``"normalized"`` (the default, ``DEFAULT_DISTANCE``)
    A synonym table is applied first (``Synonyms``: 心脏增大 and 心影增宽 become 心影增大,
    "enlarged cardiac silhouette" becomes "cardiomegaly"), then the Levenshtein distance is
    divided by the length of the longer text: a float in [0, 1], the *share of the longer
    text* that must change. Unnormalised, two long phrasings of one finding (胸部正位片未见明显
    异常 / 双肺、心、膈未见明显异常征象) sit further apart than two short clauses about
    different findings (肺气肿 / 胸腔积液), so long, frequent normal statements soak up
    clusters while short findings share them; normalised, every clause counts alike. With
    this option k-medoids also weighs a unique clause by ``1 + ln(occurrences)`` rather than
    by its occurrences (``labeling.medoids.clause_weights``). Measured on the demo corpus
    (``bench/label_clusters.py``, 16,569 reports, k = 29 (label, polarity) pairs): purity
    0.987 against 0.820 for "paper"; macro F1 >= 0.97 from k = 31 against k = 86.

``"paper"``
    The paper's distance: plain unit-cost Levenshtein on the digit-stripped clauses, in whole
    edits, no synonyms. It still differs from the paper in what surrounds it: clauses are
    clustered one polarity at a time (the paper had no polarity, so 未见胸腔积液 could join
    胸腔积液), negation and hedge cues are cut out before comparing (``strip_cues=False``
    keeps them), width, case and punctuation are folded as well as digits, and the k-medoids
    objective counts every occurrence of a clause (the paper's objective over all clauses,
    computed on unique clauses with weights).

Thresholds are in the option's unit: a share in [0, 1] under ``"normalized"``, whole edits under
``"paper"`` (``check_threshold``). ``edits_to_share`` converts a stored edit count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from labeling.text import normalize

NORMALIZED = "normalized"
PAPER = "paper"
DISTANCES: tuple[str, ...] = (NORMALIZED, PAPER)
DEFAULT_DISTANCE = NORMALIZED

MAX_SYNONYMS = 2_000
MAX_SYNONYM_CHARS = 60

# (variant, canonical): phrasings Chinese and English chest radiograph reports use for one
# finding, and modifiers that do not change which finding it is (side, degree, "sign of"),
# which map to nothing. Matched on the normalised, cue-free text (so 未见明显胸腔积液 reaches
# the table as 明显胸腔积液). Dropped modifiers go first, then the phrasings, each stage in one
# pass, longest variant first at each position: a canonical text is never rewritten.
# Polarity is separated before, so a table can never bring 胸腔积液 and 未见胸腔积液 together.
# Written for the demo's vocabulary and common Chinese chest radiograph phrasing; teams pass
# their own.
DEFAULT_SYNONYMS: tuple[tuple[str, str], ...] = (
    # side: which side does not change the finding's label
    ("双侧", ""), ("两侧", ""), ("左侧", ""), ("右侧", ""), ("双", ""), ("两", ""),
    ("左", ""), ("右", ""),
    # degree and "signs of": modifiers, not findings
    ("明显", ""), ("少量", ""), ("少许", ""), ("中等量", ""), ("大量", ""), ("稍", ""),
    ("轻度", ""), ("轻微", ""), ("局限性", ""), ("征象", ""), ("表现", ""),
    # measurements whose digits are gone (心胸比约0.55, 液平约第9后肋水平, 第4-6肋腋段)
    ("心胸比约", ""), ("心胸比", ""), ("液平约第后肋水平", ""), ("液平约第肋水平", ""),
    ("第后肋", ""), ("第前肋", ""), ("第肋", ""), ("腋段", ""),
    # where a diffuse finding is most marked (以中下肺野为著) does not change it either
    ("以中下肺野为著", ""), ("以下肺野为著", ""), ("以中下肺为著", ""), ("以下肺为著", ""),
    ("以两下肺为著", ""), ("以双下肺为著", ""), ("以肺门周围为著", ""), ("为著", ""),
    # the whole chest, as normal statements name it
    ("胸部正位片", "胸部"), ("胸部x线", "胸部"), ("胸片", "胸部"), ("心肺膈", "胸部"),
    ("肺心膈", "胸部"), ("心肺", "胸部"), ("实质性病变", "异常"), ("异常改变", "异常"),
    # heart size
    ("心脏增大", "心影增大"), ("心影扩大", "心影增大"), ("心影增宽", "心影增大"),
    ("心脏扩大", "心影增大"), ("心影饱满", "心影增大"),
    ("心影向增大", "心影增大"), ("心影向下增大", "心影增大"), ("心影向下扩大", "心影增大"),
    ("心影向左增大", "心影增大"), ("心影向左下增大", "心影增大"),
    ("心影向左下扩大", "心影增大"), ("心影大小形态", "心影大小"), ("心脏大小", "心影大小"),
    # lung markings
    ("肺纹理增粗", "肺纹理增多"), ("肺纹理增强", "肺纹理增多"), ("肺纹理增重", "肺纹理增多"),
    ("肺纹理增多增粗", "肺纹理增多"), ("肺纹理增粗模糊", "肺纹理增多"),
    ("肺纹理增多紊乱", "肺纹理增多"), ("肺纹理紊乱", "肺纹理增多"),
    # aorta
    ("主动脉弓", "主动脉"), ("主动脉结", "主动脉"), ("主动脉粥样硬化", "主动脉硬化"),
    ("主动脉钙化", "主动脉硬化"), ("主动脉弓钙化", "主动脉硬化"), ("主动脉结钙化", "主动脉硬化"),
    ("主动脉弓硬化", "主动脉硬化"), ("主动脉迂曲硬化", "主动脉硬化"),
    ("主动脉迂曲钙化", "主动脉硬化"),
    # pleura
    ("胸膜肥厚", "胸膜增厚"), ("胸膜肥厚粘连", "胸膜增厚"), ("胸膜增厚粘连", "胸膜增厚"),
    ("胸壁胸膜增厚", "胸膜增厚"),
    ("肋膈角钝", "肋膈角变钝"), ("肋膈角欠锐利", "肋膈角变钝"), ("肋膈角模糊变钝", "肋膈角变钝"),
    ("肋膈角不锐利", "肋膈角变钝"), ("胸水", "胸腔积液"),
    # interstitium, emphysema, bronchitis
    ("肺间质增生", "间质性改变"), ("间质性病变", "间质性改变"), ("间质纤维增生", "间质性改变"),
    ("间质增生改变", "间质性改变"), ("间质增生", "间质性改变"),
    ("肺气肿改变", "肺气肿"), ("肺肺气肿", "肺气肿"), ("肺肺气肿改变", "肺气肿"),
    ("透亮度增高呈肺气肿", "肺气肿"), ("透亮度增高呈肺气肿改变", "肺气肿"),
    ("肺透亮度增高呈肺气肿", "肺气肿"), ("肺透亮度增高呈肺气肿改变", "肺气肿"), ("肺气肿征", "肺气肿"), ("慢性阻塞性肺气肿", "肺气肿"),
    ("慢支炎", "慢性支气管炎"), ("支气管炎性改变", "支气管炎"),
    # advice carries no finding: one phrase, for one "ignore" decision
    ("请结合临床", "建议复查"), ("结合临床", "建议复查"), ("建议随访复查", "建议复查"),
    ("随访复查", "建议复查"), ("建议个月后复查", "建议复查"), ("个月后复查", "建议复查"),
    ("必要时ct进一步检查", "建议复查"), ("进一步检查", "建议复查"), ("定期复查", "建议复查"),
    # old, inactive lesions
    ("陈旧性病灶", "陈旧病灶"), ("陈旧灶", "陈旧病灶"), ("纤维灶", "陈旧病灶"),
    ("纤维化灶", "陈旧病灶"), ("钙化灶", "陈旧病灶"),
    # English
    ("enlarged cardiac silhouette", "cardiomegaly"), ("cardiac enlargement", "cardiomegaly"),
    ("enlarged heart", "cardiomegaly"), ("heart is enlarged", "cardiomegaly"),
    ("enlargement of the cardiac silhouette", "cardiomegaly"),
    ("pleural fluid", "pleural effusion"), ("effusions", "effusion"),
    ("hyperinflated lungs", "hyperinflation"), ("atherosclerotic aorta", "aortic atherosclerosis"),
    ("calcified aorta", "aortic atherosclerosis"), ("tortuous aorta", "aortic tortuosity"),
    ("blunted costophrenic angle", "costophrenic angle blunting"),
    ("blunting of the costophrenic angle", "costophrenic angle blunting"),
)  # fmt: skip


def check_distance(distance: object) -> str:
    """The option name, or ``ValueError`` naming the options."""
    if not isinstance(distance, str) or distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    return distance


def check_threshold(value: object, distance: str, name: str = "max_distance") -> float | int:
    """A threshold in the option's unit: a share in [0, 1] under "normalized", a non-negative
    whole number of edits under "paper". ``ValueError`` otherwise (bool is not a number)."""
    check_distance(distance)
    if distance == PAPER:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"{name} must be a non-negative whole number of edits, got {value!r}")
        return int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ValueError(
            f"{name} must be a share of the longer text between 0 and 1 under the normalized "
            f"distance, got {value!r}"
        )
    return float(value)


def edits_to_share(edits: int, texts: Iterable[str]) -> float:
    """A stored whole-edit threshold as a share: ``edits`` over the median length of ``texts``
    (the compared or normalised medoid texts it was used with), capped at 1, two decimals.

    A clause of median length within ``edits`` edits of its medoid stays within the share.
    With no texts the median length is taken as 8 characters (the demo's clauses: 4 to 12).
    """
    if isinstance(edits, bool) or not isinstance(edits, int) or edits < 0:
        raise ValueError(f"edits must be a non-negative whole number, got {edits!r}")
    lengths = sorted(len(text) for text in texts if text)
    median = lengths[len(lengths) // 2] if lengths else 8
    return round(min(1.0, edits / max(median, 1)), 2)


@dataclass(frozen=True)
class Synonyms:
    """A validated synonym table: (variant, canonical) pairs in normalised form.

    Build it with ``Synonyms.from_pairs`` (what a team's edited table goes through). Pairs
    with an empty canonical drop their variant (a modifier) and go first; then the others.
    Each stage is one left-to-right pass, longest variant first at each position; a variant
    with Latin letters matches whole words only ("effusions" never fires inside another word).
    """

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def from_pairs(cls, pairs: Iterable[Sequence[str]]) -> Synonyms:
        """Check and normalise pairs; ``ValueError`` with the pair's position otherwise."""
        if isinstance(pairs, str | bytes):
            raise ValueError("synonyms must be a list of (variant, canonical) pairs, not text")
        checked: dict[str, str] = {}
        for i, pair in enumerate(pairs):
            if i >= MAX_SYNONYMS:
                raise ValueError(f"synonyms: at most {MAX_SYNONYMS} pairs")
            if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise ValueError(f"synonyms[{i}] must be a (variant, canonical) pair, got {pair!r}")
            variant, canonical = pair
            if not isinstance(variant, str) or not isinstance(canonical, str):
                raise ValueError(f"synonyms[{i}]: variant and canonical must be text")
            if max(len(variant), len(canonical)) > MAX_SYNONYM_CHARS:
                raise ValueError(f"synonyms[{i}]: at most {MAX_SYNONYM_CHARS} characters each")
            variant, canonical = normalize(variant), normalize(canonical)
            if not variant:
                raise ValueError(f"synonyms[{i}]: the variant {pair[0]!r} has no text to match")
            if variant == canonical:
                raise ValueError(f"synonyms[{i}]: {pair[0]!r} is its own canonical form")
            if checked.get(variant, canonical) != canonical:
                raise ValueError(
                    f"synonyms[{i}]: {pair[0]!r} already maps to {checked[variant]!r}, "
                    f"not {canonical!r}"
                )
            checked[variant] = canonical
        return cls(tuple(sorted(checked.items())))

    def apply(self, text: str) -> str:
        """``text`` (normalised) with every variant replaced by its canonical form."""
        if not self.pairs:
            return text
        for pattern, table in _stages(self.pairs):
            text = " ".join(pattern.sub(lambda m, table=table: table[m.group(0)], text).split())
        return text


DEFAULT_SYNONYM_TABLE = Synonyms.from_pairs(DEFAULT_SYNONYMS)
NO_SYNONYMS = Synonyms(())


def synonyms_for(distance: str, synonyms: Iterable[Sequence[str]] | Synonyms | None) -> Synonyms:
    """The table a run uses: the default under "normalized" when none is given, none under
    "paper" (which refuses one: the paper had no synonyms)."""
    check_distance(distance)
    if distance == PAPER:
        if synonyms is not None:
            raise ValueError('the "paper" distance takes no synonyms; use "normalized"')
        return NO_SYNONYMS
    if synonyms is None:
        return DEFAULT_SYNONYM_TABLE
    return synonyms if isinstance(synonyms, Synonyms) else Synonyms.from_pairs(synonyms)


@lru_cache(maxsize=16)
def _stages(
    pairs: tuple[tuple[str, str], ...],
) -> tuple[tuple[re.Pattern[str], dict[str, str]], ...]:
    """Modifiers are dropped first, so 双肺间质未见明显增生 is 肺间质增生 when the phrasings
    are matched; each stage is one pass."""
    drops = tuple(pair for pair in pairs if not pair[1])
    terms = tuple(pair for pair in pairs if pair[1])
    return tuple(_compile(stage) for stage in (drops, terms) if stage)


def _compile(pairs: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    table = dict(pairs)
    alternatives = []
    for variant in sorted(table, key=len, reverse=True):
        pattern = re.escape(variant)
        if variant[0].isascii() and variant[0].isalnum():
            pattern = r"(?<![a-z0-9])" + pattern
        if variant[-1].isascii() and variant[-1].isalnum():
            pattern += r"(?![a-z0-9])"
        alternatives.append(pattern)
    return re.compile("|".join(alternatives)), table


# --- distances ----------------------------------------------------------------------------------


def dtype_of(distance: str) -> type:
    """Matrix element type: whole edits as int32, shares as float32 (half of float64's memory)."""
    return np.int32 if check_distance(distance) == PAPER else np.float32


def pair_distance(a: str, b: str, distance: str) -> float | int:
    """The distance between two compared texts in the option's unit."""
    if check_distance(distance) == PAPER:
        return Levenshtein.distance(a, b)
    return Levenshtein.normalized_distance(a, b)


def cdist(rows: Sequence[str], columns: Sequence[str], distance: str, dtype=None) -> np.ndarray:
    """``rows x columns`` distances on all cores (rapidfuzz), in the option's unit."""
    scorer = Levenshtein.distance if check_distance(distance) == PAPER else None
    scorer = scorer or Levenshtein.normalized_distance
    return process.cdist(
        rows, columns, scorer=scorer, dtype=dtype or dtype_of(distance), workers=-1
    )


__all__ = [
    "DEFAULT_DISTANCE",
    "DEFAULT_SYNONYMS",
    "DEFAULT_SYNONYM_TABLE",
    "DISTANCES",
    "NORMALIZED",
    "PAPER",
    "Synonyms",
    "cdist",
    "check_distance",
    "check_threshold",
    "edits_to_share",
    "pair_distance",
    "synonyms_for",
]
