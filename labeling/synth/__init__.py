"""Synthetic chest radiographs with Chinese reports: demo data whose truth is known.

The platform has to show its whole path (import, label extraction, training, evaluation) on a
fresh machine with no hospital data, and its tests need reports and images whose true labels
are known. This package makes both, deterministically for a seed:

* `generate_reports(n, seed)` (reports.py): labels sampled like Table I of the paper, and for
  each image a findings (所见) and a diagnosis (诊断) section written the way Chinese
  radiologists write them: varied phrasing, numbering, digits, a few typos, and negated or
  hedged clauses that do not change the true labels. Fast; no pixels.
* `render_chest(labels, size, rng)` (render.py, drawing with anatomy.py): a procedural chest
  radiograph (12-bit stored values) with a visible, label-specific sign for each label, of a
  strength that varies per image.
* `generate_demo(out_dir, n, seed)` (demo.py, files from dicom_files.py): both of the above as
  DICOM files, a `reports.jsonl` the import reads and a `truth.json` only tests and benchmarks
  read (the label pipeline never does: it must find the labels from the text alone).

records.py holds the shared names and records. Conventions: images are PA views as a
radiologist reads them, so the patient's right is on the image's left. `laterality` values
("left", "right", "both") name the patient's side.

Pure package: numpy, Pillow and pydicom only, no Django. It stands apart from the store: only
the `demo` command imports it, and feeds its files through the ordinary import.
"""

from .demo import DemoManifest, OutputFolderError, generate_demo
from .records import (
    AFFIRMED,
    MONOCHROME1,
    MONOCHROME2,
    NEGATED,
    POLARITIES,
    SIDED_LABELS,
    SIDES,
    UNCERTAIN,
    ClauseTruth,
    ReportTruth,
)
from .render import MAX_STORED, MIN_SIZE, render_chest
from .reports import CLAUSE_SEPARATORS, generate_reports

__all__ = [
    "AFFIRMED",
    "CLAUSE_SEPARATORS",
    "MAX_STORED",
    "MIN_SIZE",
    "MONOCHROME1",
    "MONOCHROME2",
    "NEGATED",
    "POLARITIES",
    "SIDED_LABELS",
    "SIDES",
    "UNCERTAIN",
    "ClauseTruth",
    "DemoManifest",
    "OutputFolderError",
    "ReportTruth",
    "generate_demo",
    "generate_reports",
    "render_chest",
]
