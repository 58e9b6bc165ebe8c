"""Where a team's files live, and how a restored run folder is renamed and rewritten.

- DICOM: ``DICOM_STORE_DIR / instance.file_path``, a path derived from the team's id and the SOP
  Instance UID (labeling.services.store_path): a restored instance gets the path of its new team.
- Training cache: ``CACHE_STORE_DIR/<team id>/``, rows addressed by ``Instance.cache_row``,
  which keeps its value: the folder moves whole.
- Runs: ``RUNS_DIR/<team id>/job-<job id>/`` (training.runs.RunFolder). A restored job has a
  new id, so its folder a new name; the Grad-CAM maps inside are named by instance id
  (``gradcam/<instance>-<class>.png``) and are renamed; the JSON files that name folders
  (``run/config.json``, ``engine-config.json``) are rewritten to the new folders, and a
  ``metrics.json`` that names a label set or a source job gets the new ids.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

GRADCAM_PNG = re.compile(r"(\d+)-(\d+)\.png")


def dicom_path(file_path: str) -> Path | None:
    """An instance's stored file, or None when its recorded path leaves the store."""
    root = Path(settings.DICOM_STORE_DIR).resolve()
    path = (root / file_path).resolve()
    return path if path.is_relative_to(root) and path != root else None


def cache_folder(team_id: int) -> Path:
    return Path(settings.CACHE_STORE_DIR) / str(team_id)


def runs_folder(team_id: int) -> Path:
    return Path(settings.RUNS_DIR) / str(team_id)


def walk(folder: Path) -> Iterator[tuple[Path, str]]:
    """Regular files under ``folder`` (no links followed), with their POSIX relative path, in
    name order; hidden names (an export's or a writer's temporary files) are left out."""
    if not folder.is_dir():
        return
    for parent, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(parent) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            yield path, path.relative_to(folder).as_posix()


class PathMap:
    """Source run-folder paths -> the restored jobs' folders, inside any JSON value."""

    def __init__(self, source_runs: str, new_root: Callable[[int], str | None]) -> None:
        self.pattern = re.compile(re.escape(source_runs.rstrip("/")) + r"/job-(\d+)(/.*)?\Z", re.S)
        self.new_root = new_root

    def text(self, value: str) -> str:
        match = self.pattern.match(value)
        if match is None:
            return value
        root = self.new_root(int(match.group(1)))
        return value if root is None else root + (match.group(2) or "")

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {key: self.json(item) for key, item in value.items()}
        return value


def rename_gradcam(folder: Path, new_instance: Callable[[int], int | None]) -> None:
    """Maps of instances the archive does not hold are dropped: their old number could be
    another image's here."""
    gradcam = folder / "gradcam"
    if not gradcam.is_dir():
        return
    renamed = folder / ".gradcam-renamed"
    renamed.mkdir()
    for path in gradcam.iterdir():
        match = GRADCAM_PNG.fullmatch(path.name)
        if match is None:
            os.rename(path, renamed / path.name)
            continue
        new = new_instance(int(match.group(1)))
        if new is None:
            path.unlink()
        else:
            os.rename(path, renamed / f"{new}-{match.group(2)}.png")
    gradcam.rmdir()
    os.rename(renamed, gradcam)


def rewrite_json_files(folder: Path, change: Callable[[Path, Any], Any]) -> None:
    """Apply ``change(path, data)`` to every JSON file; rewrite only the files it changes."""
    for path, _relative in list(walk(folder)):
        if path.suffix != ".json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue  # not ours to read: left as it is
        changed = change(path, data)
        if changed != data:
            temp = path.with_name(f".{path.name}.restoring")
            temp.write_text(json.dumps(changed, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(temp, path)
