"""The paper's ten disease labels (Table I), the default vocabulary a new team starts with.

Pure data: importable without Django. Keys are stable identifiers used in label sets, the demo
generator's hidden truth and the training engine's class names.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    key: str
    en: str
    zh: str
    # Table I of the paper: images carrying the label, and images where it is the only label.
    paper_total: int
    paper_single: int


PAPER_LABELS: tuple[Label, ...] = (
    Label("normal", "normal", "未见明显异常", 8397, 8397),
    Label("increased_lung_marking", "increased lung marking", "肺纹理增多", 6087, 2927),
    Label("aortosclerosis", "aortosclerosis", "主动脉硬化", 3930, 743),
    Label("increased_heart_shadow", "increased heart shadow", "心影增大", 1159, 88),
    Label("pleural_thickening", "pleural thickening", "胸膜增厚", 630, 120),
    Label(
        "pulmonary_interstitial_hyperplasia",
        "pulmonary interstitial hyperplasia",
        "肺间质增生",
        507,
        70,
    ),
    Label("costophrenic_angle_blunting", "costophrenic angle blunting", "肋膈角变钝", 273, 53),
    Label("pleural_effusion", "pleural effusion", "胸腔积液", 168, 58),
    Label("emphysema", "emphysema", "肺气肿", 159, 17),
    Label("bronchitis", "bronchitis", "支气管炎", 144, 77),
)

LABEL_KEYS: tuple[str, ...] = tuple(label.key for label in PAPER_LABELS)
PAPER_IMAGE_COUNT = 16569
NORMAL = "normal"


def label_by_key(key: str) -> Label:
    for label in PAPER_LABELS:
        if label.key == key:
            return label
    raise KeyError(f"unknown label key {key!r}; known: {', '.join(LABEL_KEYS)}")
