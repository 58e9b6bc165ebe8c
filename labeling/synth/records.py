"""The generator's shared vocabulary: clause polarities, photometric interpretations, the
one-sided labels, and the records of what a report truly says.

Convention: images are PA views as a radiologist reads them, so the patient's right is on the
image's left. `laterality` values ("left", "right", "both") name the patient's side.
"""

from __future__ import annotations

from dataclasses import dataclass

AFFIRMED = "affirmed"
NEGATED = "negated"
UNCERTAIN = "uncertain"
POLARITIES = (AFFIRMED, NEGATED, UNCERTAIN)

MONOCHROME1 = "MONOCHROME1"
MONOCHROME2 = "MONOCHROME2"

# Labels drawn on one side of the chest; the report names the same side as the image shows.
SIDED_LABELS = ("pleural_thickening", "costophrenic_angle_blunting", "pleural_effusion")
SIDES = ("left", "right", "both")


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
