"""generate_demo: the whole demo data set on disk (DICOM files, reports.jsonl, truth.json),
images rendered in worker processes.

Two samplings of the labels: Table I's frequencies (`generate_reports`, the benches and the
label-quality checks measure against them), or `enriched`, the default demo's: at 200 images
Table I gives bronchitis or emphysema one or two images, too few to train or test on, so the
enriched demo gives each of the ten labels the same share of single-label images and spreads the
multi-label images evenly over the nine diseases (`enriched_labels`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labeling.vocabulary import LABEL_KEYS, NORMAL

from .dicom_files import StudyPlan, plan_studies, write_dicom
from .render import check_size, render_chest
from .reports import PlannedReport, check_count_and_seed, plan_reports

# The pixels' random stream, one per image, so the worker count never changes an image.
_STREAM_PIXELS = 0x5EED
# The enriched sampling's own stream, so the text and the people keep theirs.
_STREAM_ENRICHED = 0xE4C4
ENRICHED_MULTI_SHARE = 0.1  # images with two or three diseases in the enriched demo


def enriched_labels(n: int, seed: int) -> list[tuple[str, ...]]:
    """Each image's labels for an enriched demo of n images, shuffled.

    A tenth of the images carry two or three diseases, the nine diseases taking turns so each
    is in as many; the rest carry one label each, the ten labels taking equal shares but for
    normal, the paper's majority, which takes two. At 300 images (the default demo): 24 or 25
    single-label images of each disease, 50 normal ones and 30 multi-label images: enough for
    the paper's minimum of five per label in validation, test and training with the
    patient-level split, with room for what curation loses (clauses in hedged clusters,
    normal + disease conflicts left for review).
    """
    check_count_and_seed(n, seed)
    rng = np.random.default_rng([seed, _STREAM_ENRICHED])
    diseases = [key for key in LABEL_KEYS if key != NORMAL]
    n_multi = int(n * ENRICHED_MULTI_SHARE) if n >= 20 else 0
    shares = [NORMAL, *LABEL_KEYS]  # normal, the paper's majority, takes two shares
    images: list[tuple[str, ...]] = [(shares[i % len(shares)],) for i in range(n - n_multi)]
    turn = 0
    for _ in range(n_multi):
        size = 3 if rng.random() < 0.2 else 2
        picked = {diseases[(turn + k) % len(diseases)] for k in range(size)}
        turn += size
        images.append(tuple(key for key in diseases if key in picked))
    order = rng.permutation(len(images))
    return [images[i] for i in order]


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


def _pixel_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAM_PIXELS, index])


def _render_and_write(job: tuple[StudyPlan, int, str]) -> int:
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
    write_dicom(path, plan, pixels)
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
    seed: int, size: int, plans: list[StudyPlan], reports: list[PlannedReport]
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
    out_dir: Path, seed: int, size: int, plans: list[StudyPlan], reports: list[PlannedReport]
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
    enriched: bool = False,
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
    OutputFolderError (an OSError) when `out_dir` cannot be written. `enriched` samples the
    labels with `enriched_labels` instead of Table I's frequencies (the default demo's).
    """
    check_count_and_seed(n, seed)
    check_size(size)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    started = time.perf_counter()
    out = Path(out_dir)
    _prepare_out_dir(out)
    reports = plan_reports(n, seed, enriched_labels(n, seed) if enriched else None)
    plans = plan_studies(n, seed, reports, size)
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
