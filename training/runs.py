"""Where a job's files live on disk: one ``RunFolder`` for the web pages and the workers alike.

``<RUNS_DIR>/<team id>/job-<id>/`` holds the exported ``dataset/``, ``engine-config.json`` (a
multi-GPU job's config for torchrun), the engine's output folder ``run/`` (``config.json``,
``last.pt``, ``best.pt``, ``metrics.json``, ``predictions.jsonl``, as training/engine/runner.py
writes them) and ``gradcam/`` (one PNG per image and class). No torch, and Django only for the
``RUNS_DIR`` setting, read when a job's folder is asked for: pages import this, never the worker's
training/jobs.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    """The paths of one job's folder; nothing is created or read here."""

    root: Path

    @classmethod
    def of(cls, job) -> RunFolder:
        from django.conf import settings  # read late: tests and commands point it elsewhere

        return cls(Path(settings.RUNS_DIR) / str(job.team_id) / f"job-{job.pk}")

    @property
    def dataset(self) -> Path:
        """The job's export of its label set in the engine's dataset format."""
        return self.root / "dataset"

    @property
    def dataset_meta(self) -> Path:
        return self.dataset / "meta.json"

    @property
    def engine_config(self) -> Path:
        return self.root / "engine-config.json"

    @property
    def run(self) -> Path:
        """The engine's output folder (its ``Config.output``)."""
        return self.root / "run"

    @property
    def config(self) -> Path:
        return self.run / "config.json"

    @property
    def best(self) -> Path:
        return self.run / "best.pt"

    @property
    def last(self) -> Path:
        return self.run / "last.pt"

    @property
    def metrics(self) -> Path:
        return self.run / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.run / "predictions.jsonl"

    @property
    def gradcam(self) -> Path:
        return self.root / "gradcam"

    def gradcam_png(self, instance_id: int, class_index: int) -> Path:
        """One image's Grad-CAM map for one class of the run's model."""
        return self.gradcam / f"{instance_id}-{class_index}.png"


def job_folder(job) -> Path:
    """The job's folder itself (``RunFolder.of(job).root``), for code that names paths in it."""
    return RunFolder.of(job).root
