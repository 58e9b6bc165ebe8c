"""Report text: labels sampled like Table I of the paper, and the findings (所见) and diagnosis
(诊断) written for them the way Chinese radiologists write them.

Varied phrasing, numbering, digits, a few typos, and negated or hedged clauses that do not change
the true labels. Fast; no pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from labeling.vocabulary import NORMAL, PAPER_IMAGE_COUNT, PAPER_LABELS

from .records import AFFIRMED, NEGATED, SIDED_LABELS, SIDES, UNCERTAIN, ClauseTruth, ReportTruth

# Text, people and pixels each draw from their own stream of a seed (see dicom_files.py and
# demo.py for the other two), so one can change without shifting the others.
_STREAM_TEXT = 0x7E47


# --------------------------------------------------------------------------------------------
# Label sampling, shaped like Table I
# --------------------------------------------------------------------------------------------

_DISEASES = tuple(label for label in PAPER_LABELS if label.key != NORMAL)
_P_NORMAL = next(label.paper_total for label in PAPER_LABELS if label.key == NORMAL) / (
    PAPER_IMAGE_COUNT
)
_SINGLE_COUNTS = np.array([label.paper_single for label in _DISEASES], dtype=float)
_MULTI_COUNTS = np.array([label.paper_total - label.paper_single for label in _DISEASES], float)
# Among abnormal images, the share that carry exactly one label.
_P_SINGLE = _SINGLE_COUNTS.sum() / (PAPER_IMAGE_COUNT * (1 - _P_NORMAL))
# Multi-label images carry 2.2 labels on average in the paper (8,904 labels on ~4,000 images).
_MULTI_SIZES = (2, 3, 4)
_MULTI_SIZE_P = (0.82, 0.15, 0.03)


def _sample_labels(rng: np.random.Generator) -> tuple[str, ...]:
    """One image's labels: normal, a single disease, or several, in Table I proportions."""
    if rng.random() < _P_NORMAL:
        return (NORMAL,)
    if rng.random() < _P_SINGLE:
        index = rng.choice(len(_DISEASES), p=_SINGLE_COUNTS / _SINGLE_COUNTS.sum())
        return (_DISEASES[index].key,)
    k = int(rng.choice(_MULTI_SIZES, p=_MULTI_SIZE_P))
    picked = rng.choice(
        len(_DISEASES), size=k, replace=False, p=_MULTI_COUNTS / _MULTI_COUNTS.sum()
    )
    return tuple(_DISEASES[i].key for i in sorted(picked))


def _sample_laterality(labels: Iterable[str], rng: np.random.Generator) -> dict[str, str]:
    """Which side each one-sided sign sits on (patient's side)."""
    return {key: str(rng.choice(SIDES, p=(0.4, 0.4, 0.2))) for key in labels if key in SIDED_LABELS}


# --------------------------------------------------------------------------------------------
# Report text
# --------------------------------------------------------------------------------------------

_SIDE_ZH = {"left": ("左侧", "左"), "right": ("右侧", "右"), "both": ("双侧", "两侧")}

_NORMAL_STATEMENTS = (
    "心肺膈未见明显异常",
    "胸部未见明显异常",
    "两肺未见明显实质性病变",
    "心、肺、膈未见异常",
    "胸部正位片未见明显异常",
    "心肺未见明显异常",
    "双肺、心、膈未见明显异常征象",
    "胸部X线未见明显异常",
)

# Affirmed phrasings per label. {side} is the laterality, {ribs}/{rib}/{ctr} are digits.
_AFFIRMED: dict[str, tuple[str, ...]] = {
    "increased_lung_marking": (
        "双肺纹理增多",
        "两肺纹理增粗",
        "肺纹理增多、紊乱",
        "双肺纹理增多、增粗",
        "两下肺纹理增多",
        "双肺纹理增强",
        "肺纹理增粗、模糊",
        "双肺纹理增多以中下肺野为著",
    ),
    "aortosclerosis": (
        "主动脉硬化",
        "主动脉迂曲硬化",
        "主动脉弓钙化",
        "主动脉结钙化",
        "主动脉粥样硬化",
        "主动脉弓硬化",
        "主动脉迂曲、钙化",
    ),
    "increased_heart_shadow": (
        "心影增大",
        "心影饱满",
        "心影向左增大",
        "心影稍大",
        "心影增大（心胸比约{ctr}）",
        "心影向左下扩大",
        "心脏增大",
    ),
    "pleural_thickening": (
        "{side}胸膜增厚",
        "胸膜增厚",
        "{side}胸膜肥厚粘连",
        "{side}胸壁胸膜增厚",
        "{side}第{ribs}肋腋段胸膜增厚",
        "{side}胸膜局限性增厚",
        "双侧胸膜肥厚粘连",
    ),
    "pulmonary_interstitial_hyperplasia": (
        "肺间质增生",
        "双肺间质性改变",
        "两肺间质纤维增生",
        "双下肺间质性病变",
        "双肺间质增生改变",
        "肺间质性改变",
    ),
    "costophrenic_angle_blunting": (
        "{side}肋膈角变钝",
        "{side}肋膈角钝",
        "{side}肋膈角稍钝",
        "{side}肋膈角欠锐利",
        "{side}肋膈角模糊变钝",
        "肋膈角变钝",
    ),
    "pleural_effusion": (
        "胸腔积液",
        "{side}胸腔少量积液",
        "{side}胸腔积液",
        "{side}少量胸腔积液",
        "{side}胸腔中等量积液",
        "{side}胸腔积液（液平约第{rib}后肋水平）",
    ),
    "emphysema": (
        "肺气肿",
        "双肺气肿征象",
        "慢性阻塞性肺气肿",
        "两肺肺气肿改变",
        "肺气肿征",
        "双肺透亮度增高呈肺气肿改变",
    ),
    "bronchitis": (
        "支气管炎",
        "慢性支气管炎",
        "支气管炎性改变",
        "双肺支气管炎表现",
        "慢支炎改变",
        "支气管炎征象",
        "慢性支气管炎改变",
    ),
}

# Statements that deny a finding. They mention the label's words but leave it absent.
_NEGATED: dict[str, tuple[str, ...]] = {
    "increased_lung_marking": ("双肺纹理清晰", "肺纹理未见增多", "两肺纹理走行自然"),
    "aortosclerosis": ("主动脉未见钙化", "主动脉未见明显硬化", "主动脉结不大"),
    "increased_heart_shadow": ("心影不大", "心影未见增大", "心影大小正常", "心影大小形态未见异常"),
    "pleural_thickening": ("未见胸膜增厚", "胸膜未见增厚", "双侧胸膜未见明显增厚"),
    "pulmonary_interstitial_hyperplasia": ("未见间质性改变", "双肺间质未见明显增生"),
    "costophrenic_angle_blunting": ("双侧肋膈角锐利", "肋膈角清晰锐利", "两侧肋膈角锐利"),
    "pleural_effusion": ("未见胸腔积液", "双侧胸腔未见积液", "无胸腔积液", "未见明显胸腔积液"),
    "emphysema": ("无明显肺气肿征象", "未见肺气肿", "未见明显肺气肿"),
    "bronchitis": ("未见支气管炎征象", "无支气管炎表现"),
}

# Hedged statements: the radiologist raises a finding without committing to it.
_HEDGE_FORMS = (
    "考虑{core}可能",
    "不除外{core}",
    "{core}可能",
    "疑似{core}",
    "可疑{core}",
    "{core}？",
)
_HEDGE_CORES: dict[str, tuple[str, ...]] = {
    "increased_lung_marking": ("肺纹理增多",),
    "aortosclerosis": ("主动脉硬化",),
    "increased_heart_shadow": ("心影增大", "心影饱满"),
    "pleural_thickening": ("胸膜增厚",),
    "pulmonary_interstitial_hyperplasia": ("肺间质增生", "间质性改变"),
    "costophrenic_angle_blunting": ("肋膈角变钝",),
    "pleural_effusion": ("少量胸腔积液", "胸腔积液"),
    "emphysema": ("肺气肿",),
    "bronchitis": ("支气管炎", "慢性支气管炎"),
}

# Clauses outside the ten labels: advice and incidental findings.
_OTHER_CLAUSES = (
    "请结合临床",
    "建议随访复查",
    "胸椎退行性变",
    "胸椎轻度侧弯",
    "必要时CT进一步检查",
    "右上肺陈旧性病灶",
    "左上肺少许纤维灶",
    "建议{months}个月后复查",
)

# Typos seen in dictated reports: a character swapped for a similar-sounding or -looking one.
_TYPOS = {
    "膈": "隔",
    "纹": "文",
    "增": "曾",
    "影": "映",
    "钝": "顿",
    "厚": "后",
    "积": "极",
    "液": "夜",
    "肿": "种",
    "炎": "严",
    "粗": "祖",
    "变": "便",
    "硬": "梗",
}
_TYPO_RATE = 0.04

# Characters that end a clause; a clause body never contains one.
CLAUSE_SEPARATORS = ("。", "；", ";", "，", ",", "\n")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
_NUMBERINGS = ("none", "dot", "dot_space", "dun", "paren", "circled", "half_paren")
_NUMBERING_P = (0.35, 0.2, 0.05, 0.15, 0.1, 0.1, 0.05)


def pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(template: str, side: str | None, rng: np.random.Generator) -> str:
    """Fill a phrase template's side and digit slots."""
    first_rib = int(rng.integers(3, 8))
    return template.format(
        side=pick(rng, _SIDE_ZH[side or "both"]),
        ribs=f"{first_rib}-{first_rib + int(rng.integers(1, 4))}",
        rib=int(rng.integers(8, 11)),
        ctr=f"0.{int(rng.integers(53, 66))}",
        months=int(rng.integers(1, 7)),
    )


def _with_typo(text: str, rng: np.random.Generator) -> str:
    """Occasionally swap one character for a common mistyped one."""
    spots = [i for i, char in enumerate(text) if char in _TYPOS]
    if not spots or rng.random() >= _TYPO_RATE:
        return text
    i = spots[int(rng.integers(len(spots)))]
    return text[:i] + _TYPOS[text[i]] + text[i + 1 :]


def _affirmed_clause(label: str, side: str | None, rng: np.random.Generator) -> ClauseTruth:
    if label == NORMAL:
        return ClauseTruth(pick(rng, _NORMAL_STATEMENTS), NORMAL, NEGATED)
    return ClauseTruth(_fill(pick(rng, _AFFIRMED[label]), side, rng), label, AFFIRMED)


def _distractor_clause(label: str, rng: np.random.Generator, hedge_p: float) -> ClauseTruth:
    """A negated or hedged clause about a label the image does not have."""
    if rng.random() < hedge_p:
        text = pick(rng, _HEDGE_FORMS).format(core=pick(rng, _HEDGE_CORES[label]))
        return ClauseTruth(text, label, UNCERTAIN)
    return ClauseTruth(pick(rng, _NEGATED[label]), label, NEGATED)


def _diagnosis_clauses(
    labels: tuple[str, ...], laterality: Mapping[str, str], rng: np.random.Generator
) -> list[ClauseTruth]:
    """The clause bodies (no numbering yet): true labels, distractors, incidental remarks."""
    clauses = [_affirmed_clause(key, laterality.get(key), rng) for key in labels]
    rng.shuffle(clauses)
    absent = [label.key for label in _DISEASES if label.key not in labels]
    n_distractors = int(rng.choice((0, 1, 2), p=(0.55, 0.35, 0.10)))
    hedge_p = 0.2 if labels == (NORMAL,) else 0.5
    for key in rng.choice(absent, size=min(n_distractors, len(absent)), replace=False):
        clauses.insert(
            int(rng.integers(len(clauses) + 1)), _distractor_clause(str(key), rng, hedge_p)
        )
    if rng.random() < 0.18:
        clauses.append(ClauseTruth(_fill(pick(rng, _OTHER_CLAUSES), None, rng), None, AFFIRMED))
    return [ClauseTruth(_with_typo(c.text, rng), c.label, c.polarity) for c in clauses]


def _number_prefix(style: str, i: int) -> str:
    return {
        "none": "",
        "dot": f"{i}.",
        "dot_space": f"{i}. ",
        "dun": f"{i}、",
        "paren": f"（{i}）",
        "circled": _CIRCLED[(i - 1) % len(_CIRCLED)],
        "half_paren": f"{i})",
    }[style]


def _assemble(
    clauses: list[ClauseTruth], rng: np.random.Generator
) -> tuple[str, list[ClauseTruth]]:
    """Number and join clauses the way reports do; return the text and the numbered clauses."""
    style = str(rng.choice(_NUMBERINGS, p=_NUMBERING_P))
    if len(clauses) == 1 and rng.random() < 0.7:
        style = "none"
    if style == "none":
        main, alt = pick(rng, ("。", "；", "，", ";")), pick(rng, ("。", "，", "\n"))
    else:
        main, alt = pick(rng, ("\n", "\n", "；", "。", ";")), pick(rng, ("。", "；", "\n"))
    numbered = [
        ClauseTruth(_number_prefix(style, i) + c.text, c.label, c.polarity)
        for i, c in enumerate(clauses, start=1)
    ]
    text = numbered[0].text
    for clause in numbered[1:]:
        text += (main if rng.random() < 0.85 else alt) + clause.text
    if rng.random() < 0.6:
        text += "。"
    return text, numbered


def _findings(labels: tuple[str, ...], laterality: Mapping[str, str], rng) -> str:
    """The 所见 section: sentences describing what the image shows, consistent with its labels."""
    has = set(labels).__contains__

    def side(key: str) -> str:
        return _SIDE_ZH[laterality.get(key, "both")][0]

    thorax = (
        pick(rng, ("胸廓呈桶状，肋间隙增宽", "胸廓前后径增大，肋间隙增宽"))
        if has("emphysema")
        else pick(rng, ("胸廓对称，气管居中", "胸廓两侧对称，气管及纵隔居中", "胸廓对称，纵隔居中"))
    )
    lung = []
    if has("increased_lung_marking"):
        lung.append(pick(rng, ("双肺纹理增多、增粗，以中下肺野为著", "两肺纹理增多，走行紊乱")))
    if has("pulmonary_interstitial_hyperplasia"):
        lung.append(pick(rng, ("双肺可见网格状及细线状影", "两下肺野见网织状密度增高影")))
    if has("emphysema"):
        lung.append(pick(rng, ("双肺野透亮度增高，外周肺纹理稀疏", "两肺透亮度增加，肺纹理纤细")))
    if has("bronchitis"):
        lung.append(pick(rng, ("双肺门周围支气管壁增厚，可见轨道征", "肺门旁可见环形及双轨状影")))
    if not lung:
        lung.append(pick(rng, ("双肺纹理清晰，走行自然", "两肺纹理分布及走行未见异常")))
    lung.append(pick(rng, ("双肺野内未见明显实质性病变", "两肺野未见明显渗出及占位性病变")))
    hila = pick(rng, ("双肺门影不大", "两侧肺门未见增大", "肺门影不大，结构清晰"))
    if has("increased_heart_shadow"):
        heart = pick(rng, ("心影向左下增大，心胸比约0.{n}", "心影增大，心胸比约0.{n}", "心影饱满"))
        heart = heart.format(n=int(rng.integers(53, 66)))
    else:
        heart = pick(rng, ("心影大小、形态未见异常", "心影不大", "心脏大小形态正常"))
    parts = [thorax, *lung, hila, heart]
    if has("aortosclerosis"):
        parts.append(pick(rng, ("主动脉结突出，可见弧形钙化影", "主动脉弓壁可见条状钙化")))
    pleura = []
    if has("pleural_thickening"):
        pleura.append(f"{side('pleural_thickening')}胸壁内缘见带状致密影")
    if has("pleural_effusion"):
        pleura.append(f"{side('pleural_effusion')}下肺野见外高内低弧形致密影")
    if has("costophrenic_angle_blunting"):
        pleura.append(f"{side('costophrenic_angle_blunting')}肋膈角变钝")
    if has("emphysema"):
        pleura.append("双侧膈肌低平")
    if not pleura:
        pleura.append(pick(rng, ("双侧膈面光整，肋膈角锐利", "两膈面光滑，肋膈角清晰")))
    parts += pleura
    parts.append(pick(rng, ("所见骨质未见明显异常", "胸廓骨质结构完整")))
    return "。".join(parts) + "。"


def _write_report(
    labels: tuple[str, ...], laterality: Mapping[str, str], rng: np.random.Generator
) -> ReportTruth:
    findings = _findings(labels, laterality, rng)
    diagnosis, clauses = _assemble(_diagnosis_clauses(labels, laterality, rng), rng)
    return ReportTruth(labels, findings, diagnosis, tuple(clauses))


@dataclass(frozen=True)
class PlannedReport:
    """A report with the sides of its one-sided signs, which the image must show too."""

    truth: ReportTruth
    laterality: tuple[tuple[str, str], ...]


def check_count_and_seed(n: int, seed: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n (number of images) must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def plan_reports(
    n: int, seed: int, labels_per_image: Sequence[tuple[str, ...]] | None = None
) -> list[PlannedReport]:
    """The n reports of a seed, in order; the images and the text files follow them.

    Labels are sampled like Table I unless `labels_per_image` gives each image's labels (the
    enriched demo of demo.py); the text is written for them either way.
    """
    rng = np.random.default_rng([seed, _STREAM_TEXT])
    planned = []
    for i in range(n):
        labels = _sample_labels(rng) if labels_per_image is None else labels_per_image[i]
        laterality = _sample_laterality(labels, rng)
        truth = _write_report(labels, laterality, rng)
        planned.append(PlannedReport(truth, tuple(sorted(laterality.items()))))
    return planned


def generate_reports(n: int, seed: int = 0) -> list[ReportTruth]:
    """n reports with their true labels, without pixels; identical to those `generate_demo`
    writes for the same n and seed."""
    check_count_and_seed(n, seed)
    return [planned.truth for planned in plan_reports(n, seed)]
