"""Synthetic chest radiographs with Chinese reports: demo data whose truth is known.

The platform has to show its whole path (import, label extraction, training, evaluation) on a
fresh machine with no hospital data, and its tests need reports and images whose true labels
are known. This module makes both, deterministically for a seed:

* `generate_reports(n, seed)`: labels sampled like Table I of the paper, and for each image a
  findings (所见) and a diagnosis (诊断) section written the way Chinese radiologists write them:
  varied phrasing, numbering, digits, a few typos, and negated or hedged clauses that do not
  change the true labels. Fast; no pixels.
* `render_chest(labels, size, rng)`: a procedural chest radiograph (12-bit stored values) with
  a visible, label-specific sign for each label, of a strength that varies per image.
* `generate_demo(out_dir, n, seed)`: both of the above as DICOM files, a `reports.jsonl` the
  import reads and a `truth.json` only tests and benchmarks read (the label pipeline never
  does: it must find the labels from the text alone).

Conventions: images are PA views as a radiologist reads them, so the patient's right is on the
image's left. `laterality` values ("left", "right", "both") name the patient's side.

Pure module: numpy, Pillow and pydicom only, no Django.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian

from labeling.vocabulary import LABEL_KEYS, NORMAL, PAPER_IMAGE_COUNT, PAPER_LABELS

AFFIRMED = "affirmed"
NEGATED = "negated"
UNCERTAIN = "uncertain"
POLARITIES = (AFFIRMED, NEGATED, UNCERTAIN)

MONOCHROME1 = "MONOCHROME1"
MONOCHROME2 = "MONOCHROME2"
MAX_STORED = 4095  # 12 bits stored
MIN_SIZE = 64

# Labels drawn on one side of the chest; the report names the same side as the image shows.
SIDED_LABELS = ("pleural_thickening", "costophrenic_angle_blunting", "pleural_effusion")
SIDES = ("left", "right", "both")


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClauseTruth:
    """One diagnosis clause as written, with what it really says.

    `text` is exactly the substring of the diagnosis (numbering, digits and typos included).
    The normal statement (心肺膈未见明显异常 ...) is recorded as label "normal" with polarity
    "negated", because that is how it is written: it denies any abnormality. The text pipeline
    maps the negated "no abnormality" cluster to the normal label. Clauses outside the ten
    labels (请结合临床, 胸椎退行性变 ...) have label None.
    """

    text: str
    label: str | None
    polarity: str


@dataclass(frozen=True)
class ReportTruth:
    """An image's true labels and the report written for it."""

    labels: tuple[str, ...]
    findings: str
    diagnosis: str
    clauses: tuple[ClauseTruth, ...]


@dataclass
class DemoManifest:
    """What `generate_demo` wrote, for the ingest step and the command's summary line."""

    out_dir: Path
    dicom_paths: list[Path]
    reports_path: Path
    truth_path: Path
    n_images: int
    n_patients: int
    n_studies: int
    seconds: float


class OutputFolderError(OSError):
    """The demo output folder cannot be created or written."""


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


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _fill(template: str, side: str | None, rng: np.random.Generator) -> str:
    """Fill a phrase template's side and digit slots."""
    first_rib = int(rng.integers(3, 8))
    return template.format(
        side=_pick(rng, _SIDE_ZH[side or "both"]),
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
        return ClauseTruth(_pick(rng, _NORMAL_STATEMENTS), NORMAL, NEGATED)
    return ClauseTruth(_fill(_pick(rng, _AFFIRMED[label]), side, rng), label, AFFIRMED)


def _distractor_clause(label: str, rng: np.random.Generator, hedge_p: float) -> ClauseTruth:
    """A negated or hedged clause about a label the image does not have."""
    if rng.random() < hedge_p:
        text = _pick(rng, _HEDGE_FORMS).format(core=_pick(rng, _HEDGE_CORES[label]))
        return ClauseTruth(text, label, UNCERTAIN)
    return ClauseTruth(_pick(rng, _NEGATED[label]), label, NEGATED)


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
        clauses.append(ClauseTruth(_fill(_pick(rng, _OTHER_CLAUSES), None, rng), None, AFFIRMED))
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
        main, alt = _pick(rng, ("。", "；", "，", ";")), _pick(rng, ("。", "，", "\n"))
    else:
        main, alt = _pick(rng, ("\n", "\n", "；", "。", ";")), _pick(rng, ("。", "；", "\n"))
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
        _pick(rng, ("胸廓呈桶状，肋间隙增宽", "胸廓前后径增大，肋间隙增宽"))
        if has("emphysema")
        else _pick(
            rng, ("胸廓对称，气管居中", "胸廓两侧对称，气管及纵隔居中", "胸廓对称，纵隔居中")
        )
    )
    lung = []
    if has("increased_lung_marking"):
        lung.append(_pick(rng, ("双肺纹理增多、增粗，以中下肺野为著", "两肺纹理增多，走行紊乱")))
    if has("pulmonary_interstitial_hyperplasia"):
        lung.append(_pick(rng, ("双肺可见网格状及细线状影", "两下肺野见网织状密度增高影")))
    if has("emphysema"):
        lung.append(_pick(rng, ("双肺野透亮度增高，外周肺纹理稀疏", "两肺透亮度增加，肺纹理纤细")))
    if has("bronchitis"):
        lung.append(_pick(rng, ("双肺门周围支气管壁增厚，可见轨道征", "肺门旁可见环形及双轨状影")))
    if not lung:
        lung.append(_pick(rng, ("双肺纹理清晰，走行自然", "两肺纹理分布及走行未见异常")))
    lung.append(_pick(rng, ("双肺野内未见明显实质性病变", "两肺野未见明显渗出及占位性病变")))
    hila = _pick(rng, ("双肺门影不大", "两侧肺门未见增大", "肺门影不大，结构清晰"))
    if has("increased_heart_shadow"):
        heart = _pick(rng, ("心影向左下增大，心胸比约0.{n}", "心影增大，心胸比约0.{n}", "心影饱满"))
        heart = heart.format(n=int(rng.integers(53, 66)))
    else:
        heart = _pick(rng, ("心影大小、形态未见异常", "心影不大", "心脏大小形态正常"))
    parts = [thorax, *lung, hila, heart]
    if has("aortosclerosis"):
        parts.append(_pick(rng, ("主动脉结突出，可见弧形钙化影", "主动脉弓壁可见条状钙化")))
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
        pleura.append(_pick(rng, ("双侧膈面光整，肋膈角锐利", "两膈面光滑，肋膈角清晰")))
    parts += pleura
    parts.append(_pick(rng, ("所见骨质未见明显异常", "胸廓骨质结构完整")))
    return "。".join(parts) + "。"


def _write_report(
    labels: tuple[str, ...], laterality: Mapping[str, str], rng: np.random.Generator
) -> ReportTruth:
    findings = _findings(labels, laterality, rng)
    diagnosis, clauses = _assemble(_diagnosis_clauses(labels, laterality, rng), rng)
    return ReportTruth(labels, findings, diagnosis, tuple(clauses))


@dataclass(frozen=True)
class _PlannedReport:
    truth: ReportTruth
    laterality: tuple[tuple[str, str], ...]


def _check_count_and_seed(n: int, seed: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"n (number of images) must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _plan_reports(n: int, seed: int) -> list[_PlannedReport]:
    rng = np.random.default_rng([seed, _STREAM_TEXT])
    planned = []
    for _ in range(n):
        labels = _sample_labels(rng)
        laterality = _sample_laterality(labels, rng)
        truth = _write_report(labels, laterality, rng)
        planned.append(_PlannedReport(truth, tuple(sorted(laterality.items()))))
    return planned


def generate_reports(n: int, seed: int = 0) -> list[ReportTruth]:
    """n reports with their true labels, without pixels; identical to those `generate_demo`
    writes for the same n and seed."""
    _check_count_and_seed(n, seed)
    return [planned.truth for planned in _plan_reports(n, seed)]


# --------------------------------------------------------------------------------------------
# Pixels: procedural anatomy
# --------------------------------------------------------------------------------------------

# Anatomy is drawn on a grid of at most this edge, then upsampled smoothly; fine noise is added
# at full size. Coordinates: x in [-0.5, 0.5] left to right, y in [0, 1] top to bottom, so one
# unit is the image edge on both axes.
_RENDER_MAX = 320

# Independent random streams per part, so adding a label never shifts the others' numbers: the
# same rng renders the same anatomy and noise with or without any sign.
_PARTS = (
    "anatomy",
    "sides",
    "strength",
    "vessels",
    "ilm",
    "interstitial",
    "bronchitis",
    "aorta",
    "pleura",
    "mottle",
    "noise",
)


@dataclass
class _Anatomy:
    """One patient's body geometry and exposure, in image units."""

    body_half_width: float
    shoulder_y: float
    lung_cx: float
    lung_rx: float
    lung_cy: float
    lung_ry: float
    lung_medial: float
    dome_peak: tuple[float, float]  # image left (patient right), image right (patient left)
    dome_height: float
    heart_cx: float
    heart_cy: float
    heart_hw: float
    heart_hh: float
    knob: tuple[float, float, float]  # x, y, radius of the aortic knob
    rib_y0: float
    rib_spacing: float
    rib_curve: float
    air: float  # how much the lungs darken
    tissue: float
    gamma: float
    floor: float
    span: float
    noise_shift: int  # fine noise is uniform over 0..255 >> noise_shift
    gastric_bubble: bool
    vessel_gain: float = 1.0
    vessel_pruning: float = 0.0


def _sample_anatomy(rng: np.random.Generator) -> _Anatomy:
    peak = rng.uniform(0.63, 0.68)
    return _Anatomy(
        body_half_width=rng.uniform(0.43, 0.47),
        shoulder_y=rng.uniform(0.06, 0.1),
        lung_cx=rng.uniform(0.2, 0.215),
        lung_rx=rng.uniform(0.175, 0.19),
        lung_cy=rng.uniform(0.55, 0.58),
        lung_ry=rng.uniform(0.43, 0.46),
        lung_medial=rng.uniform(0.03, 0.04),
        dome_peak=(peak, peak + rng.uniform(0.015, 0.04)),
        dome_height=rng.uniform(0.055, 0.08),
        heart_cx=rng.uniform(0.045, 0.06),
        heart_cy=rng.uniform(0.57, 0.6),
        heart_hw=rng.uniform(0.16, 0.18),
        heart_hh=rng.uniform(0.11, 0.125),
        knob=(rng.uniform(0.055, 0.07), rng.uniform(0.31, 0.34), rng.uniform(0.022, 0.028)),
        rib_y0=rng.uniform(0.08, 0.1),
        rib_spacing=rng.uniform(0.058, 0.066),
        rib_curve=rng.uniform(0.75, 1.0),
        air=rng.uniform(0.3, 0.36),
        tissue=rng.uniform(0.58, 0.64),
        gamma=rng.uniform(0.9, 1.1),
        floor=rng.uniform(60, 220),
        span=rng.uniform(3300, 3750),
        noise_shift=int(rng.integers(2, 4)),
        gastric_bubble=bool(rng.random() < 0.75),
    )


def _apply_shape_signs(a: _Anatomy, labels: set[str], strength: Mapping[str, float]) -> None:
    """Signs that change the body's geometry rather than add a shadow."""
    if "increased_heart_shadow" in labels:
        s = strength["increased_heart_shadow"]
        a.heart_hw *= 1 + 0.4 * s
        a.heart_cx += 0.025 * s
        a.heart_hh *= 1 + 0.1 * s
    if "emphysema" in labels:
        s = strength["emphysema"]
        a.dome_height *= 1 - 0.75 * s
        a.dome_peak = (a.dome_peak[0] + 0.06 * s, a.dome_peak[1] + 0.06 * s)
        a.lung_ry += 0.03 * s
        a.air *= 1 + 0.4 * s
        a.heart_hw *= 1 - 0.12 * s
        a.rib_curve *= 1 - 0.35 * s
        a.rib_spacing *= 1 + 0.08 * s
        a.vessel_pruning = 0.7 * s
    if "increased_lung_marking" in labels:
        a.vessel_gain = 1 + 0.7 * strength["increased_lung_marking"]


@dataclass
class _Canvas:
    """The low-resolution grid and the fields shared by the signs."""

    g: int
    x: np.ndarray  # (1, g)
    y: np.ndarray  # (g, 1)
    px: float  # one grid pixel in image units
    side: np.ndarray  # (1, g): -1 on the image's left half (patient right), +1 on the right
    u: np.ndarray  # (1, g): distance from the midline
    density: np.ndarray = field(init=False)
    air: np.ndarray = field(init=False)  # where lung air darkens, 0..1

    @classmethod
    def make(cls, g: int) -> _Canvas:
        x = ((np.arange(g, dtype=np.float32) + 0.5) / g - 0.5)[None, :]
        y = ((np.arange(g, dtype=np.float32) + 0.5) / g)[:, None]
        return cls(g, x, y, 1.0 / g, np.where(x < 0, -1.0, 1.0).astype(np.float32), np.abs(x))


def _ramp(d: np.ndarray | float, width: float) -> np.ndarray:
    """A soft step: 0 where d < -width/2, 1 where d > width/2, linear between."""
    return np.clip(np.asarray(d, dtype=np.float32) / np.float32(width) + np.float32(0.5), 0, 1)


def _box1d(a: np.ndarray, r: int, axis: int) -> np.ndarray:
    pad = [(0, 0), (0, 0)]
    pad[axis] = (r + 1, r)
    c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float32)
    n = 2 * r + 1
    if axis == 0:
        return (c[n:] - c[:-n]) / np.float32(n)
    return (c[:, n:] - c[:, :-n]) / np.float32(n)


def _blur(a: np.ndarray, radius: int, passes: int = 2) -> np.ndarray:
    """Approximate Gaussian blur by repeated box filters (cheap: cost independent of radius)."""
    if radius < 1:
        return a
    for _ in range(passes):
        a = _box1d(_box1d(a, radius, 0), radius, 1)
    return a


def _splat(g: int, xs: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Add weighted points (image units) into a g×g grid with bilinear weights."""
    fx, fy = (xs + 0.5) * g - 0.5, ys * g - 0.5
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    ok = (x0 >= 0) & (x0 < g - 1) & (y0 >= 0) & (y0 < g - 1)
    x0, y0, tx, ty, w = x0[ok], y0[ok], (fx - x0)[ok], (fy - y0)[ok], weights[ok]
    i = y0 * g + x0
    acc = np.bincount(i, w * (1 - tx) * (1 - ty), minlength=g * g)
    acc += np.bincount(i + 1, w * tx * (1 - ty), minlength=g * g)
    acc += np.bincount(i + g, w * (1 - tx) * ty, minlength=g * g)
    acc += np.bincount(i + g + 1, w * tx * ty, minlength=g * g)
    return acc.reshape(g, g).astype(np.float32)


def _segment_points(segments: np.ndarray, step: float) -> tuple[np.ndarray, ...]:
    """Points every `step` along segments (rows x0, y0, x1, y1, weight); weights per point."""
    if len(segments) == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    x0, y0, x1, y1, w = segments.T
    counts = np.maximum(2, np.ceil(np.hypot(x1 - x0, y1 - y0) / step).astype(int))
    owner = np.repeat(np.arange(len(segments)), counts)
    t = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) / np.repeat(
        counts - 1, counts
    )
    xs = x0[owner] + (x1 - x0)[owner] * t
    ys = y0[owner] + (y1 - y0)[owner] * t
    return xs, ys, w[owner] * step


def _dome(c: _Canvas, a: _Anatomy) -> np.ndarray:
    """The diaphragm's top edge per column: highest mid-lung, lowest at the chest wall."""
    peak = np.where(c.side < 0, a.dome_peak[0], a.dome_peak[1])
    return peak + a.dome_height * ((c.u - a.lung_cx) / 0.2) ** 2


def _lung_radius(c: _Canvas, a: _Anatomy) -> np.ndarray:
    """Normalised elliptical radius of each pixel in its side's lung outline (1 on the edge)."""
    return np.sqrt(((c.u - a.lung_cx) / a.lung_rx) ** 2 + ((c.y - a.lung_cy) / a.lung_ry) ** 2)


def _lungs(c: _Canvas, a: _Anatomy) -> np.ndarray:
    edge = 2 * c.px
    inside = _ramp((1 - _lung_radius(c, a)) * a.lung_rx, edge)
    return inside * _ramp(c.u - a.lung_medial, edge) * _ramp(_dome(c, a) - c.y, edge)


def _ellipse(c: _Canvas, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    r = np.sqrt(((c.x - cx) / rx) ** 2 + ((c.y - cy) / ry) ** 2)
    return _ramp((1 - r) * min(rx, ry), 2 * c.px)


def _body(c: _Canvas, a: _Anatomy) -> np.ndarray:
    """Soft tissue: a neck widening into the shoulders, thinner towards the sides."""
    t = np.clip((c.y - a.shoulder_y + 0.05) / 0.12, 0, 1)
    half = 0.09 + (a.body_half_width - 0.09) * t * t * (3 - 2 * t)
    inside = _ramp(half - c.u, 3 * c.px)
    thickness = np.sqrt(np.clip(1 - (c.x / half) ** 2, 0, 1))
    return inside * (0.55 + 0.45 * thickness)


def _heart(c: _Canvas, a: _Anatomy) -> np.ndarray:
    """The cardiac silhouette: an ellipse tilted down towards the apex (image right)."""
    cos, sin = np.float32(np.cos(0.45)), np.float32(np.sin(0.45))
    dx, dy = c.x - a.heart_cx, c.y - a.heart_cy
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    r = np.sqrt((along / a.heart_hw) ** 2 + (across / a.heart_hh) ** 2)
    return _ramp((1 - r) * a.heart_hh, 2 * c.px)


def _mediastinum(c: _Canvas, a: _Anatomy) -> np.ndarray:
    half = 0.045 + 0.02 * np.clip((c.y - 0.1) / 0.35, 0, 1)
    band = _ramp(half - np.abs(c.x - 0.008), 2 * c.px) * _ramp(0.62 - c.y, 0.05)
    kx, ky, kr = a.knob
    knob = _ellipse(c, kx, ky, kr, kr)
    return np.maximum(np.maximum(band, knob), _heart(c, a))


def _ribs(c: _Canvas, a: _Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """Posterior ribs arching out from the spine and anterior ribs sloping down to the sternum.

    Each set is one phase field (all ribs in one pass): a rib wherever the phase is near an
    integer, brighter at its cortical edges.
    """
    u = c.u
    phase = (c.y - a.rib_y0 + 0.35 * u - a.rib_curve * 1.5 * u * u) / a.rib_spacing
    phase = phase * (1 - 0.025 * phase)  # ribs spread apart going down
    t = phase - np.round(phase)
    half = 0.23
    band = _ramp(half - np.abs(t), 2 * c.px / a.rib_spacing)
    cortex = 0.6 + 0.4 * (np.abs(t) / half) ** 2
    count = _ramp(phase + 0.3, 0.2) * _ramp(10.4 - phase, 0.2)
    span = _ramp(u - 0.025, 2 * c.px) * _ramp(a.body_half_width - 0.015 - u, 4 * c.px)
    posterior = band * cortex * count * span
    phase_a = (c.y - a.rib_y0 - 0.13 + 0.55 * (u - 0.4)) / (a.rib_spacing * 1.3)
    t_a = phase_a - np.round(phase_a)
    anterior = _ramp(0.2 - np.abs(t_a), 3 * c.px / a.rib_spacing)
    anterior *= _ramp(phase_a + 0.3, 0.2) * _ramp(5.4 - phase_a, 0.2) * _ramp(u - 0.1, 0.06)
    anterior *= _ramp(0.42 - u, 0.04)
    return posterior, anterior


def _segments_field(c: _Canvas, segments: Sequence[tuple[float, ...]], radius: float) -> np.ndarray:
    """Max over segments (x0, y0, x1, y1) of a soft band of half-width `radius`.

    Each segment is evaluated only inside its bounding box, which is a small part of the grid.
    """
    out = np.zeros((c.g, c.g), np.float32)
    margin = radius + 2 * c.px
    for x0, y0, x1, y1 in segments:
        cols = _window(c.x[0], min(x0, x1) - margin, max(x0, x1) + margin)
        rows = _window(c.y[:, 0], min(y0, y1) - margin, max(y0, y1) + margin)
        gx, gy = c.x[:, cols], c.y[rows, :]
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((gx - x0) * dx + (gy - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        d = np.hypot(gx - x0 - t * dx, gy - y0 - t * dy)
        np.maximum(out[rows, cols], _ramp(radius - d, 2 * c.px), out=out[rows, cols])
    return out


def _window(coords: np.ndarray, low: float, high: float) -> slice:
    """The slice of sorted grid coordinates between low and high."""
    return slice(int(np.searchsorted(coords, low)), int(np.searchsorted(coords, high)))


def _clavicles(c: _Canvas) -> np.ndarray:
    segs = []
    for s in (-1.0, 1.0):
        segs += [(s * 0.03, 0.175, s * 0.12, 0.15), (s * 0.12, 0.15, s * 0.26, 0.105)]
    return _segments_field(c, segs, 0.011)


def _spine(c: _Canvas) -> np.ndarray:
    column = _ramp(0.03 - np.abs(c.x), 2 * c.px)
    plates = 0.75 + 0.25 * np.cos(2 * np.pi * c.y / 0.048) ** 8
    return column * plates


def _blob(c: _Canvas, cx: float, cy: float, r: float) -> np.ndarray:
    """A Gaussian spot, built as an outer product (separable, so cheap)."""
    return np.exp(-((c.y - cy) ** 2) / (r * r)) * np.exp(-((c.x - cx) ** 2) / (r * r))


def _vessel_tree(
    rng: np.random.Generator, side: float, hilum: tuple[float, float], min_len: float, jitter: float
) -> np.ndarray:
    """Branching vessels from one hilum: rows (x0, y0, x1, y1, weight).

    Grown a generation at a time with array operations: every branch forks in two, shorter and
    fainter, until it is too short, too deep or leaves the chest.
    """
    n = int(rng.integers(4, 7))
    angle = np.linspace(np.radians(rng.uniform(-75, -55)), np.radians(rng.uniform(95, 115)), n)
    angle += rng.normal(0, 0.1, n)
    if side < 0:
        angle = np.pi - angle
    x = hilum[0] + side * rng.uniform(0.0, 0.025, n)
    y = hilum[1] + rng.uniform(-0.05, 0.05, n)
    length, weight = rng.uniform(0.05, 0.08, n), np.ones(n)
    generations = []
    for depth in range(7):
        x1, y1 = x + length * np.cos(angle), y + length * np.sin(angle)
        generations.append(np.stack([x, y, x1, y1, weight], axis=1))
        grow = (length * 0.75 >= min_len) & (np.abs(x1) < 0.42) & (y1 > 0.08) & (y1 < 0.8)
        if depth == 6 or not grow.any():
            break
        x1, y1, angle, length, weight = x1[grow], y1[grow], angle[grow], length[grow], weight[grow]
        m = len(x1)
        spread = np.radians(rng.uniform(14, 32, m))
        x, y = np.repeat(x1, 2), np.repeat(y1, 2)
        turn = np.stack([-spread, spread], axis=1).ravel()
        angle = np.repeat(angle, 2) + turn + rng.normal(0, jitter, 2 * m)
        length = np.repeat(length, 2) * rng.uniform(0.62, 0.85, 2 * m)
        weight = np.repeat(weight, 2) * 0.8
    return np.concatenate(generations)


def _rasterise(c: _Canvas, segments: np.ndarray) -> np.ndarray:
    """Draw weighted segments as lines a few grid pixels wide, peak about the weight.

    Every kind of line (vessels, extra markings, bronchial walls) goes through one splat and
    one blur per image: blurring is linear, so the sum of blurred lines is the blurred sum.
    """
    xs, ys, ws = _segment_points(segments, c.px * 0.7)
    r = max(1, round(c.g / 384))
    return _blur(_splat(c.g, xs, ys, ws / c.px), r) * np.float32(1.2 * r)


def _thicken(segments: np.ndarray, offset: float) -> np.ndarray:
    """Add two parallel copies of each segment, `offset` either side: a wider line."""
    x0, y0, x1, y1, w = segments.T
    length = np.maximum(np.hypot(x1 - x0, y1 - y0), 1e-9)
    nx, ny = -(y1 - y0) / length * offset, (x1 - x0) / length * offset
    copies = [segments]
    for sign in (-1.0, 1.0):
        copies.append(
            np.stack([x0 + sign * nx, y0 + sign * ny, x1 + sign * nx, y1 + sign * ny, w * 0.8], 1)
        )
    return np.concatenate(copies)


def _vessels(rng: np.random.Generator, min_len: float, jitter: float) -> np.ndarray:
    """Lung markings: a vessel tree per hilum, trunks drawn wider than peripheral branches."""
    segments = np.concatenate(
        [
            _vessel_tree(
                rng, s, (s * rng.uniform(0.085, 0.1), rng.uniform(0.43, 0.47)), min_len, jitter
            )
            for s in (-1.0, 1.0)
        ]
    )
    trunk = segments[:, 4] > 0.7
    return np.concatenate([_thicken(segments[trunk], 0.003), segments[~trunk]])


def _scaled(segments: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    out = segments.copy()
    out[:, 4] *= factor
    return out


# --------------------------------------------------------------------------------------------
# Pixels: label signs
# --------------------------------------------------------------------------------------------


def _side_mask(c: _Canvas, side: str) -> np.ndarray:
    """1 on the patient's `side` (image right is patient left), as a (1, g) row."""
    if side == "both":
        return np.ones_like(c.x)
    return (c.side > 0 if side == "left" else c.side < 0).astype(np.float32)


def _extra_markings(rng: np.random.Generator, s: float) -> np.ndarray:
    """Denser, more tortuous branches for increased lung marking."""
    extra = np.concatenate([_vessels(rng, 0.008, 0.35), _vessels(rng, 0.01, 0.3)])
    return _scaled(extra, 0.4 + 0.6 * s)


def _reticulation(c: _Canvas, rng: np.random.Generator, lungs: np.ndarray, s: float) -> np.ndarray:
    """A fine net of lines (zero crossings of band-passed noise), worst at the lung bases."""
    white = rng.standard_normal((c.g, c.g), dtype=np.float32)
    r = max(1, round(c.g / 256))
    band = _blur(white, r, 1) - _blur(white, 3 * r, 1)
    net = np.exp(-((band / (0.35 * band.std())) ** 2))
    basal = 0.35 + 0.65 * np.clip((c.y - 0.3) / 0.4, 0, 1)
    return (0.03 + 0.05 * s) * net * lungs * basal


def _pleural_band(c: _Canvas, a: _Anatomy, rng: np.random.Generator, s: float) -> np.ndarray:
    """A thick, slightly wavy line along the lateral chest wall inside the lung outline."""
    thick = (0.07 + 0.13 * s) * (
        0.75 + 0.25 * np.sin(c.y * rng.uniform(20, 35) + rng.uniform(0, 6.3))
    )
    radius = _lung_radius(c, a)
    band = _ramp((radius - (1 - thick)) * a.lung_rx, 2 * c.px)
    lateral = _ramp(c.u - a.lung_cx + 0.03, 0.04) * _ramp(_dome(c, a) - c.y, 2 * c.px)
    return band * lateral * _ramp(c.y - 0.2, 0.05)


def _angle_fill(c: _Canvas, a: _Anatomy, s: float) -> np.ndarray:
    """Soft tissue filling the lateral costophrenic angle so that it is no longer sharp."""
    rise = 0.03 + 0.05 * s
    width = 0.08 + 0.05 * s
    lateral = a.lung_cx + a.lung_rx
    v = np.clip((c.u - (lateral - width)) / width, 0, 1)
    surface = _dome(c, a) - rise * v * v
    return _ramp(c.y - surface, 3 * c.px) * _ramp(c.u - (lateral - width), 2 * c.px)


def _effusion(c: _Canvas, a: _Anatomy, s: float) -> np.ndarray:
    """Fluid at the lung base with a meniscus climbing the lateral wall."""
    level = np.where(c.side < 0, a.dome_peak[0], a.dome_peak[1]) - (0.03 + 0.12 * s)
    lateral = a.lung_cx + a.lung_rx
    v = np.clip((c.u - a.lung_medial) / (lateral - a.lung_medial), 0, 1)
    surface = level + 0.04 * (1 - v) - 0.07 * v**6  # climbs the lateral wall
    fluid = _ramp(c.y - surface, 6 * c.px)
    return fluid * np.clip(0.8 + (c.y - surface) * 4, 0, 1)


def _calcified_knob(c: _Canvas, a: _Anatomy, rng: np.random.Generator, s: float) -> np.ndarray:
    """A bright crescent of calcium along the top and outer rim of the aortic knob."""
    kx, ky, kr = a.knob
    rim = kr * 0.85
    dist = np.hypot(c.x - kx, c.y - ky)
    angle = np.arctan2(c.y - ky, c.x - kx)
    ring = _ramp(0.0035 + 0.002 * s - np.abs(dist - rim), 1.5 * c.px)
    arc = _ramp(angle + 2.7, 0.3) * _ramp(0.5 - angle, 0.3)
    beads = 0.6 + 0.4 * np.cos(angle * rng.uniform(5, 9) + rng.uniform(0, 6.3))
    return ring * arc * beads


def _bronchial_walls(rng: np.random.Generator, s: float) -> np.ndarray:
    """Tram lines and end-on thick-walled rings around the hila (peribronchial thickening)."""
    rows = []
    for side in (-1.0, 1.0):
        hx, hy = side * 0.1, 0.45
        for _ in range(6 + int(8 * s)):
            angle = rng.uniform(-1.2, 1.4)
            angle = angle if side > 0 else np.pi - angle
            start, length = rng.uniform(0.02, 0.07), rng.uniform(0.035, 0.07)
            dx, dy = np.cos(angle), np.sin(angle)
            ox, oy = hx + start * dx, hy + start * dy
            for offset in (-0.0065, 0.0065):
                x0, y0 = ox - dy * offset, oy + dx * offset
                rows.append((x0, y0, x0 + length * dx, y0 + length * dy, 1.0))
        for _ in range(4 + int(6 * s)):
            cx, cy = hx + side * rng.uniform(0.02, 0.1), hy + rng.uniform(-0.08, 0.1)
            r = rng.uniform(0.007, 0.012)
            theta = np.linspace(0, 2 * np.pi, 13)
            px, py = cx + r * np.cos(theta), cy + r * np.sin(theta)
            rows += [(px[i], py[i], px[i + 1], py[i + 1], 1.0) for i in range(12)]
    return _scaled(np.array(rows), 0.7 + 0.9 * s)


# --------------------------------------------------------------------------------------------
# Pixels: composition
# --------------------------------------------------------------------------------------------


def _check_labels(labels: Iterable[str]) -> tuple[str, ...]:
    keys = tuple(labels)
    unknown = [key for key in keys if key not in LABEL_KEYS]
    if unknown:
        raise ValueError(f"labels: unknown key(s) {unknown}; known: {', '.join(LABEL_KEYS)}")
    return keys


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer of at least {MIN_SIZE} pixels, got {size!r}")


def _density(
    labels: set[str],
    strength: Mapping[str, float],
    laterality: Mapping[str, str],
    g: int,
    streams: Mapping[str, np.random.Generator],
) -> tuple[np.ndarray, _Anatomy]:
    """Attenuation on the low-resolution grid (0 = air outside the body, ~1 = bone)."""
    a = _sample_anatomy(streams["anatomy"])
    _apply_shape_signs(a, labels, strength)
    c = _Canvas.make(g)
    lungs = _lungs(c, a)
    mediastinum = _mediastinum(c, a)
    air = lungs * (1 - 0.85 * mediastinum)

    def sided(key: str) -> np.ndarray:
        return _side_mask(c, laterality[key])

    if "pleural_thickening" in labels:
        band = _pleural_band(c, a, streams["pleura"], strength["pleural_thickening"])
        air *= 1 - 0.9 * band * sided("pleural_thickening")
    if "costophrenic_angle_blunting" in labels:
        fill = _angle_fill(c, a, strength["costophrenic_angle_blunting"])
        air *= 1 - 0.9 * fill * sided("costophrenic_angle_blunting")
    if "pleural_effusion" in labels:
        fluid = _effusion(c, a, strength["pleural_effusion"])
        air *= 1 - 0.95 * fluid * sided("pleural_effusion")

    density = a.tissue * _body(c, a)
    lucency = (0.8 + 0.3 * np.clip(c.u / 0.3, 0, 1)) * (1 - 0.25 * _ramp(0.22 - c.y, 0.1))
    density -= a.air * air * lucency
    density += 0.06 * np.clip(c.y - _dome(c, a), 0, 0.05) / 0.05
    posterior, anterior = _ribs(c, a)
    visible = 0.45 + 0.55 * air  # bone shows best against air
    density += (0.075 * posterior + 0.03 * anterior) * visible
    density += 0.12 * _clavicles(c) + 0.05 * _spine(c)
    trachea = _segments_field(c, [(-0.004, 0.0, 0.0, 0.37)], 0.011)
    bronchi = _segments_field(c, [(0.0, 0.37, -0.09, 0.44), (0.0, 0.37, 0.085, 0.44)], 0.006)
    density -= 0.06 * np.maximum(trachea, bronchi)
    density += 0.07 * sum(_blob(c, s * 0.1, 0.45, 0.035) for s in (-1.0, 1.0))
    if a.gastric_bubble:
        peak = a.dome_peak[1] + a.dome_height * ((0.16 - a.lung_cx) / 0.2) ** 2
        bubble = _ellipse(c, 0.16, peak + 0.05, 0.045, 0.028) * _ramp(peak + 0.055 - c.y, c.px)
        density -= 0.1 * bubble

    lines = _vessels(streams["vessels"], 0.014, 0.12)
    midpoint_u = np.abs(lines[:, 0] + lines[:, 2]) / 2
    lines = _scaled(
        lines, a.vessel_gain * (1 - a.vessel_pruning * np.clip((midpoint_u - 0.18) / 0.15, 0, 1))
    )
    drawn = [lines]
    if "increased_lung_marking" in labels:
        drawn.append(_extra_markings(streams["ilm"], strength["increased_lung_marking"]))
    if "bronchitis" in labels:
        drawn.append(_bronchial_walls(streams["bronchitis"], strength["bronchitis"]))
        haze = sum(_blob(c, side * 0.11, 0.46, 0.06) for side in (-1.0, 1.0))
        density += 0.025 * strength["bronchitis"] * haze
    density += 0.11 * _rasterise(c, np.concatenate(drawn)) * lungs * (1 - 0.7 * mediastinum)
    if "pulmonary_interstitial_hyperplasia" in labels:
        s = strength["pulmonary_interstitial_hyperplasia"]
        density += _reticulation(c, streams["interstitial"], lungs, s)
    if "aortosclerosis" in labels:
        s = strength["aortosclerosis"]
        density += (0.12 + 0.2 * s) * _calcified_knob(c, a, streams["aorta"], s)
    if "pleural_thickening" in labels:
        density += 0.03 * band * lungs * sided("pleural_thickening")

    mottle = streams["mottle"].standard_normal((24, 24), dtype=np.float32)
    density += 0.012 * _resize(mottle, g)
    return density, a


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    """Smooth (bicubic) resize of a small float image to size×size."""
    if a.shape == (size, size):
        return a
    image = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC))


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Left neighbour index and weight of the right neighbour for linear interpolation
    between pixel centres."""
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    left = np.minimum(pos.astype(np.int64), n_in - 2)
    return left, (pos - left).astype(np.float32)


def _upsample(low: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling in numpy: columns on the small image, then whole rows, so the
    full-size work is contiguous row copies and in-place arithmetic."""
    g = low.shape[0]
    if g == size:
        return low.astype(np.float32)
    left, w = _linear_taps(g, size)
    wide = low[:, left] * (1 - w) + low[:, left + 1] * w  # (g, size)
    top, v = _linear_taps(g, size)
    out = wide[top]
    out *= (1 - v)[:, None]
    below = wide[top + 1]
    below *= v[:, None]
    out += below
    return out


def _to_stored(density: np.ndarray, a: _Anatomy) -> np.ndarray:
    """Detector response: attenuation to 12-bit MONOCHROME2 values (bright = dense)."""
    return (a.floor + a.span * np.clip(density, 0, 1.05) ** a.gamma).astype(np.float32)


def _finish(low: np.ndarray, size: int, noise_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Upsample to full size and add per-pixel noise there, in integers.

    Large images are interpolated to half size and each pixel repeated 2×2: the interpolated
    image is smooth at that scale already, and the per-pixel noise added afterwards hides the
    repetition; this quarters the floating-point work at 2048². Random bytes shifted right give
    uniform noise over 0..255 >> shift, far cheaper than normal draws at 4 million pixels;
    values are clipped first so that the sum stays within 12 bits.
    """
    half = size % 2 == 0 and size // 2 > low.shape[0]
    smooth = _upsample(low, size // 2 if half else size)
    np.clip(smooth, 0, MAX_STORED - (255 >> noise_shift), out=smooth)
    noise = np.frombuffer(rng.bytes(size * size), dtype=np.uint8) >> np.uint8(noise_shift)
    if not half:
        return np.add(smooth.astype(np.uint16), noise.reshape(size, size), dtype=np.uint16)
    wide = np.repeat(smooth.astype(np.uint16), 2, axis=1)
    stored = np.empty((size // 2, 2, size), dtype=np.uint16)
    # Each half-size row twice, noise added in the same pass (contiguous inner loops).
    np.add(wide[:, None, :], noise.reshape(size // 2, 2, size), out=stored, dtype=np.uint16)
    return stored.reshape(size, size)


def render_chest(
    labels: Iterable[str],
    size: int,
    rng: np.random.Generator,
    photometric: str = MONOCHROME2,
    *,
    laterality: Mapping[str, str] | None = None,
) -> np.ndarray:
    """A size×size chest radiograph as 12-bit stored values (uint16, 0..4095).

    Each label in `labels` adds its sign at a strength drawn from `rng`; "normal" adds none.
    Every part draws from its own stream seeded from `rng`, so the same seed gives the same
    body and noise with or without a sign. `laterality` names the patient's side of the
    one-sided signs; missing ones are drawn. MONOCHROME1 stores inverted values (air bright).
    """
    keys = set(_check_labels(labels))
    _check_size(size)
    if photometric not in (MONOCHROME1, MONOCHROME2):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, got {photometric!r}")
    seeds = rng.integers(0, 2**63 - 1, size=len(_PARTS))
    streams = {part: np.random.default_rng(int(s)) for part, s in zip(_PARTS, seeds, strict=True)}
    strength = dict(
        zip(LABEL_KEYS, streams["strength"].uniform(0.3, 1.0, len(LABEL_KEYS)), strict=True)
    )
    sides = dict(zip(SIDED_LABELS, streams["sides"].choice(SIDES, len(SIDED_LABELS)), strict=True))
    for key, side in (laterality or {}).items():
        if side not in SIDES:
            raise ValueError(f"laterality[{key!r}] must be one of {SIDES}, got {side!r}")
        sides[key] = side
    density, anatomy = _density(keys, strength, sides, min(size, _RENDER_MAX), streams)
    low = _to_stored(density, anatomy)
    stored = _finish(low, size, anatomy.noise_shift, streams["noise"])
    if photometric == MONOCHROME1:
        np.subtract(MAX_STORED, stored, out=stored)
    return stored


# --------------------------------------------------------------------------------------------
# Demo data set: patients, studies, DICOM files
# --------------------------------------------------------------------------------------------

_STREAM_TEXT = 0x7E47
_STREAM_PEOPLE = 0xD1C0
_STREAM_PIXELS = 0x5EED

_SURNAMES = (
    "WANG LI ZHANG LIU CHEN YANG HUANG ZHAO WU ZHOU XU SUN MA ZHU HU GUO HE LIN LUO GAO".split()
)
_GIVEN = (
    "WEI FANG NA XIUYING MIN JING LI QIANG LEI JUN YANG YONG YAN JIE JUAN TAO MING CHAO XIULAN "
    "XIA PING GANG GUIYING HUA JIANHUA LIHUA ZHIQIANG HAIYAN"
).split()
_INSTITUTIONS = ("CXR Lab Demo Hospital", "Demo City People's Hospital", "Demo District Hospital")
_DEVICES = (("SynthRay Medical", "SR-DR 3000"), ("Demo Imaging", "DI Radiograph 2"))


@dataclass(frozen=True)
class _StudyPlan:
    """Everything about one study except its pixels, decided in the parent process."""

    index: int
    seed: int
    patient_id: str
    patient_name: str
    sex: str
    birth_date: date
    study_date: date
    study_time: str
    accession: str
    study_uid: str
    series_uid: str
    sop_uid: str
    labels: tuple[str, ...]
    laterality: tuple[tuple[str, str], ...]
    photometric: str
    view: str
    institution: str
    device: tuple[str, str]
    spacing: float
    rescale: bool
    window: bool
    relpath: str


def _uid(seed: int, kind: str, index: int) -> str:
    """A deterministic UID under the 2.25 (UUID-derived integer) root."""
    digest = hashlib.sha256(f"cxr-lab-demo:{seed}:{kind}:{index}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _plan_studies(n: int, seed: int, reports: list[_PlannedReport], size: int) -> list[_StudyPlan]:
    """Patients (a few with several studies), demographics, dates, UIDs and DICOM choices.

    Pixel spacing is that of a 43 cm detector at this matrix size: 0.14 mm at 3,072 pixels,
    0.21 mm at 2048.
    """
    rng = np.random.default_rng([seed, _STREAM_PEOPLE])
    prefix = int.from_bytes(hashlib.sha256(f"demo-{seed}".encode()).digest()[:4], "big") % 10**6
    plans: list[_StudyPlan] = []
    patient = 0
    while len(plans) < n:
        patient += 1
        n_studies = int(rng.choice((1, 2, 3), p=(0.86, 0.11, 0.03)))
        sex = "M" if rng.random() < 0.52 else "F"
        name = f"{_pick(rng, _SURNAMES)}^{_pick(rng, _GIVEN)}"
        first = date(2016, 1, 1) + timedelta(days=int(rng.integers(0, 4 * 365)))
        birth = first - timedelta(days=int(rng.integers(20 * 365, 88 * 365)))
        when = first
        for _ in range(min(n_studies, n - len(plans))):
            i = len(plans)
            plans.append(
                _StudyPlan(
                    index=i,
                    seed=seed,
                    patient_id=f"P{prefix:06d}{patient:05d}",
                    patient_name=name,
                    sex=sex,
                    birth_date=birth,
                    study_date=when,
                    study_time=f"{int(rng.integers(8, 18)):02d}{int(rng.integers(60)):02d}"
                    f"{int(rng.integers(60)):02d}",
                    accession=f"DX{prefix:06d}{i + 1:06d}",
                    study_uid=_uid(seed, "study", i),
                    series_uid=_uid(seed, "series", i),
                    sop_uid=_uid(seed, "sop", i),
                    labels=reports[i].truth.labels,
                    laterality=reports[i].laterality,
                    photometric=MONOCHROME1 if rng.random() < 0.3 else MONOCHROME2,
                    view="PA" if rng.random() < 0.85 else "AP",
                    institution=_pick(rng, _INSTITUTIONS),
                    device=_DEVICES[int(rng.integers(len(_DEVICES)))],
                    spacing=round(430.0 / size * rng.uniform(0.97, 1.0), 4),
                    rescale=bool(rng.random() < 0.5),
                    window=bool(rng.random() < 0.6),
                    relpath=f"dicom/P{prefix:06d}{patient:05d}/DX{prefix:06d}{i + 1:06d}.dcm",
                )
            )
            when += timedelta(days=int(rng.integers(30, 700)))
    return plans


def _window_center_width(pixels: np.ndarray) -> tuple[float, float]:
    """A window that spans the body, as a modality would store it."""
    sample = pixels[:: max(1, pixels.shape[0] // 128), :: max(1, pixels.shape[1] // 128)]
    low, high = np.percentile(sample, (2, 99.5))
    return float(round((low + high) / 2)), float(round(max(high - low, 1)))


def _dicom_dataset(plan: _StudyPlan, pixels: np.ndarray) -> Dataset:
    """Every tag but the pixel data, which `_write_dicom` appends."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = plan.sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "2.25.302530865063547186236592932432476419215"
    meta.ImplementationVersionName = "CXRLAB_SYNTH"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = plan.sop_uid
    ds.StudyInstanceUID = plan.study_uid
    ds.SeriesInstanceUID = plan.series_uid
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.PatientID = plan.patient_id
    ds.PatientName = plan.patient_name
    ds.PatientSex = plan.sex
    ds.PatientBirthDate = plan.birth_date.strftime("%Y%m%d")
    ds.PatientAge = f"{_age(plan.birth_date, plan.study_date):03d}Y"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = plan.study_date.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = plan.study_time
    ds.AccessionNumber = plan.accession
    ds.StudyID = plan.accession[-6:]
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "胸部正位片"
    ds.SeriesDescription = f"CHEST {plan.view}"
    ds.InstitutionName = plan.institution
    ds.Manufacturer, ds.ManufacturerModelName = plan.device
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = plan.view
    ds.PatientOrientation = ["L", "F"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.KVP = "120"
    ds.PixelSpacing = ds.ImagerPixelSpacing = [plan.spacing, plan.spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = plan.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG"
    # -1: higher values mean less X-ray reached the detector (bright bone in MONOCHROME2).
    ds.PixelIntensityRelationshipSign = -1 if plan.photometric == MONOCHROME2 else 1
    if plan.rescale:
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
    if plan.window:
        ds.WindowCenter, ds.WindowWidth = _window_center_width(pixels)
    return ds


def _write_dicom(path: Path, plan: _StudyPlan, pixels: np.ndarray) -> None:
    """Write the file: pydicom writes preamble, file meta and every tag; the pixel data
    element goes last by hand, straight from the array (Explicit VR Little Endian, OW), which
    saves pydicom's two 8 MB copies per 2048² image."""
    data = np.ascontiguousarray(pixels, dtype="<u2")
    with path.open("wb") as stream:
        _dicom_dataset(plan, pixels).save_as(stream, enforce_file_format=True)
        stream.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, data.nbytes))
        stream.write(data)


def _pixel_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM_PIXELS, index])


def _render_and_write(job: tuple[_StudyPlan, int, str]) -> int:
    """Worker: render one study's image and write its DICOM file; returns the bytes written."""
    plan, size, out_dir = job
    pixels = render_chest(
        plan.labels,
        size,
        _pixel_rng(plan.seed, plan.index),
        plan.photometric,
        laterality=dict(plan.laterality),
    )
    path = Path(out_dir) / plan.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_dicom(path, plan, pixels)
    return path.stat().st_size


def _prepare_out_dir(out_dir: Path) -> None:
    """Fail early, with the folder named, when the output cannot be written."""
    probe = out_dir / ".write-test"
    try:
        (out_dir / "dicom").mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputFolderError(f"cannot write demo data to {out_dir}: {reason}") from exc


def _truth_document(
    seed: int, size: int, plans: list[_StudyPlan], reports: list[_PlannedReport]
) -> dict:
    return {
        "seed": seed,
        "size": size,
        "laterality_convention": "patient side; the patient's right is on the image's left",
        "images": {
            plan.sop_uid: {
                "labels": list(plan.labels),
                "laterality": dict(plan.laterality),
                "study_instance_uid": plan.study_uid,
                "accession_number": plan.accession,
                "patient_id": plan.patient_id,
                "photometric": plan.photometric,
            }
            for plan in plans
        },
        "studies": {
            plan.study_uid: {
                "accession_number": plan.accession,
                "labels": list(report.truth.labels),
                "clauses": [
                    {"text": c.text, "label": c.label, "polarity": c.polarity}
                    for c in report.truth.clauses
                ],
            }
            for plan, report in zip(plans, reports, strict=True)
        },
    }


def _write_text_files(
    out_dir: Path, seed: int, size: int, plans: list[_StudyPlan], reports: list[_PlannedReport]
) -> tuple[Path, Path]:
    reports_path, truth_path = out_dir / "reports.jsonl", out_dir / "truth.json"
    with reports_path.open("w", encoding="utf-8") as stream:
        for plan, report in zip(plans, reports, strict=True):
            row = {
                "accession_number": plan.accession,
                "study_instance_uid": plan.study_uid,
                "findings": report.truth.findings,
                "diagnosis": report.truth.diagnosis,
            }
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    document = _truth_document(seed, size, plans, reports)
    truth_path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    return reports_path, truth_path


def generate_demo(
    out_dir: str | os.PathLike[str],
    n: int,
    seed: int = 0,
    size: int = 2048,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoManifest:
    """Write n synthetic studies (one DX image each) with reports and hidden truth.

    Layout: `out_dir/dicom/<PatientID>/<AccessionNumber>.dcm`, `out_dir/reports.jsonl` (one
    JSON object per study: accession_number, study_instance_uid, findings, diagnosis) and
    `out_dir/truth.json` (labels per SOP Instance UID, clauses per study; for tests and
    benchmarks only). Output is identical for a seed whatever `workers` is: each image has its
    own random stream. Images are rendered in `workers` processes (default: all CPUs; 1 renders
    in this process, which is what a daemonic process such as a Celery prefork worker needs,
    since it may not start children); `progress(done, total)` is called in this process after
    each image. Raises ValueError for a bad count, seed, size or worker count and
    OutputFolderError (an OSError) when `out_dir` cannot be written.
    """
    _check_count_and_seed(n, seed)
    _check_size(size)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    started = time.perf_counter()
    out = Path(out_dir)
    _prepare_out_dir(out)
    reports = _plan_reports(n, seed)
    plans = _plan_studies(n, seed, reports, size)
    jobs = [(plan, size, str(out)) for plan in plans]
    processes = min(workers or os.cpu_count() or 1, n)
    if processes == 1:
        results: Iterable[int] = map(_render_and_write, jobs)
        _drain(results, n, progress)
    else:
        with multiprocessing.get_context().Pool(processes) as pool:
            _drain(pool.imap(_render_and_write, jobs, chunksize=1), n, progress)
            pool.close()
            pool.join()
    reports_path, truth_path = _write_text_files(out, seed, size, plans, reports)
    return DemoManifest(
        out_dir=out,
        dicom_paths=[out / plan.relpath for plan in plans],
        reports_path=reports_path,
        truth_path=truth_path,
        n_images=n,
        n_patients=len({plan.patient_id for plan in plans}),
        n_studies=n,
        seconds=time.perf_counter() - started,
    )


def _drain(results: Iterable[int], total: int, progress: Callable[[int, int], None] | None) -> None:
    for done, _ in enumerate(results, start=1):
        if progress is not None:
            progress(done, total)


__all__ = [
    "AFFIRMED",
    "CLAUSE_SEPARATORS",
    "MONOCHROME1",
    "MONOCHROME2",
    "NEGATED",
    "POLARITIES",
    "UNCERTAIN",
    "ClauseTruth",
    "DemoManifest",
    "OutputFolderError",
    "ReportTruth",
    "generate_demo",
    "generate_reports",
    "render_chest",
]
