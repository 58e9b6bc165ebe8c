"""Published numbers the run page shows beside a run's own (DOMAIN.md): the paper's Table II,
its task 1 and task 3 figures, and public benchmark AUCs for labels that map onto ours.

Pure data: no Django, no numpy. Label keys are the paper vocabulary's (labeling.vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass

# Table II: specificity / sensitivity / top-3 sensitivity in percent, per architecture.
TABLE_II: dict[str, dict[str, tuple[float, float, float]]] = {
    "vgg16": {
        "normal": (71.5, 78.5, 99.7),
        "increased_lung_marking": (79.4, 59.6, 100.0),
        "aortosclerosis": (97.0, 37.5, 92.4),
        "increased_heart_shadow": (99.8, 12.5, 50.0),
        "pleural_thickening": (99.8, 16.7, 25.0),
        "pulmonary_interstitial_hyperplasia": (98.7, 57.1, 57.1),
        "costophrenic_angle_blunting": (99.9, 40.0, 60.0),
        "pleural_effusion": (100.0, 60.0, 80.0),
        "emphysema": (99.8, 20.0, 20.0),
        "bronchitis": (99.6, 14.3, 28.6),
    },
    "resnet101": {
        "normal": (70.5, 80.4, 99.5),
        "increased_lung_marking": (86.3, 43.2, 99.6),
        "aortosclerosis": (90.4, 61.1, 99.3),
        "increased_heart_shadow": (99.4, 25.0, 62.5),
        "pleural_thickening": (99.6, 41.7, 58.3),
        "pulmonary_interstitial_hyperplasia": (99.9, 28.6, 42.9),
        "costophrenic_angle_blunting": (100.0, 60.0, 80.0),
        "pleural_effusion": (99.9, 60.0, 100.0),
        "emphysema": (99.8, 20.0, 40.0),
        "bronchitis": (99.7, 28.6, 42.9),
    },
}
ARCH_NAMES = {"vgg16": "VGG-16", "resnet101": "ResNet-101"}

# Task 1 (VGG-16, 1,656 test images) and task 3 (ResNet-101) in the paper.
PAPER_BINARY = {"arch": "vgg16", "accuracy": 0.822, "auc": 0.88}
PAPER_MEAN_AP = {"arch": "resnet101", "mean_ap": 0.829}


@dataclass(frozen=True)
class Benchmark:
    source: str  # "CheXNet (NIH ChestX-ray14)" or "CheXpert"
    their_label: str  # the benchmark's name for the finding
    auc: float


# Our label key -> the public per-label AUROCs of a finding that maps onto it. Interstitial
# hyperplasia maps onto ChestX-ray14's "fibrosis" only approximately; the page says which.
BENCHMARKS: dict[str, tuple[Benchmark, ...]] = {
    "increased_heart_shadow": (
        Benchmark("CheXNet", "cardiomegaly", 0.925),
        Benchmark("CheXpert", "cardiomegaly", 0.854),
    ),
    "pleural_effusion": (
        Benchmark("CheXNet", "effusion", 0.864),
        Benchmark("CheXpert", "pleural effusion", 0.936),
    ),
    "emphysema": (Benchmark("CheXNet", "emphysema", 0.937),),
    "pleural_thickening": (Benchmark("CheXNet", "pleural thickening", 0.806),),
    "pulmonary_interstitial_hyperplasia": (Benchmark("CheXNet", "fibrosis", 0.805),),
}


@dataclass(frozen=True)
class PaperRow:
    arch: str  # display name, e.g. "VGG-16"
    specificity: float  # percent
    sensitivity: float
    top3_sensitivity: float


def paper_rows(label_key: str, arch: str) -> list[PaperRow]:
    """The paper's Table II row(s) for a label: the run's architecture when the paper trained
    it, else both, so a run of another architecture still has something to measure against."""
    archs = [arch] if arch in TABLE_II else list(TABLE_II)
    return [
        PaperRow(ARCH_NAMES[a], *TABLE_II[a][label_key]) for a in archs if label_key in TABLE_II[a]
    ]


def benchmarks(label_key: str) -> tuple[Benchmark, ...]:
    return BENCHMARKS.get(label_key, ())
