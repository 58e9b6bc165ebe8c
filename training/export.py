"""From a team's training cache and a label set's per-image labels to the engine's dataset format.

The engine (``training/engine/data.py``, format ``cxr-lab-dataset/1``) reads only this directory:
``images.u8`` (the rows copied out of the team cache, in index order), ``index.jsonl`` and
``meta.json``. Images that could not be decoded or are quarantined never reach it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobs.services import JobInputError
from labeling.models import Instance
from labeling.services import cache_store

FORMAT = "cxr-lab-dataset/1"


@dataclass(frozen=True)
class Entry:
    instance: Instance
    labels: tuple[str, ...]


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    count: int
    skipped_undecodable: int
    skipped_quarantined: int
    patients: int


def export_dataset(
    team,
    entries: Iterable[Entry],
    label_names: Sequence[str],
    label_set_hash: str,
    out_dir: Path,
    *,
    normal_label: str = "normal",
) -> ExportSummary:
    """Write the dataset directory atomically (a temp folder renamed into place)."""
    kept, undecodable, quarantined = [], 0, 0
    for entry in entries:
        if entry.instance.team_id != team.pk:
            raise JobInputError(f"instance {entry.instance.pk} is not in team {team}")
        if entry.instance.quarantined:
            quarantined += 1
        elif entry.instance.cache_row is None:
            undecodable += 1
        else:
            kept.append(entry)
    if not kept:
        raise JobInputError(
            "no usable images: the label set selects none that is decoded and not quarantined "
            f"({undecodable} undecodable, {quarantined} quarantined)"
        )
    unknown = {label for entry in kept for label in entry.labels} - set(label_names)
    if unknown:
        raise JobInputError(f"labels {sorted(unknown)} are not among {list(label_names)}")
    store = cache_store(team)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir.parent))
    store.copy_rows([entry.instance.cache_row for entry in kept], staging / "images.u8")
    with open(staging / "index.jsonl", "w", encoding="utf-8") as index:
        for entry in kept:
            record = {
                "image_id": entry.instance.sop_uid,
                "patient_id": entry.instance.study.patient_id,
                "study_uid": entry.instance.study.study_uid,
                "labels": list(entry.labels),
            }
            index.write(json.dumps(record, ensure_ascii=False) + "\n")
    meta = {
        "format": FORMAT,
        "label_names": list(label_names),
        "label_set_hash": label_set_hash,
        "normal_label": normal_label,
        "image_size": store.size,
        "count": len(kept),
    }
    (staging / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
    if out_dir.exists():
        _remove_tree(out_dir)
    os.replace(staging, out_dir)
    patients = len({entry.instance.study.patient_id for entry in kept})
    return ExportSummary(out_dir, len(kept), undecodable, quarantined, patients)


def _remove_tree(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
