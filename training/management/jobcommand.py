"""What ``manage.py train`` and ``manage.py evaluate`` share: the same checks and the same job
rows as the browser and the API (training/launch.py), then (with --wait) a progress bar fed by
polling the row."""

from __future__ import annotations

import sys
import time

from django.core.management.base import CommandError
from tqdm import tqdm

from jobs.models import Job, JobStatus
from teams.management.base import LabCommand
from training.launch import InvalidConfig, launch_job
from training.serializers import JobCreateSerializer


class JobCommand(LabCommand):
    kind = ""

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--name", default="", help="a name for the job")
        parser.add_argument(
            "--wait", action="store_true", help="follow the job until it ends, with a bar"
        )
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks")

    def launch(self, team, config: dict, name: str) -> Job:
        """Check the config exactly as POST /api/jobs/ does, then queue the job."""
        form = JobCreateSerializer(data={"kind": self.kind, "name": name, "config": config})
        if not form.is_valid():
            raise CommandError(_flatten(form.errors))
        try:
            return launch_job(team, None, self.kind, form.validated_data["config"], name=name)
        except InvalidConfig as exc:
            raise CommandError(_flatten({"config": exc.errors})) from None

    def finish(self, job: Job, wait: bool, poll: float) -> None:
        if wait:
            job = self.follow(job, poll)
        summary = {"id": job.pk, "kind": job.kind, "name": job.name, "status": job.status,
                   "queue": job.queue, "config": job.config, "attempts": job.attempts,
                   "metrics": job.metrics, "error": job.error}  # fmt: skip
        text = (
            f"job {job.pk} ({job.kind}) {job.status}"
            + (f" on queue {job.queue}; follow it at /jobs/{job.pk}/" if not job.finished else "")
            + (f": {_headline(job.metrics)}" if job.status == JobStatus.SUCCEEDED else "")
        )
        self.emit(summary, text)
        if job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise CommandError(f"job {job.pk} {job.status}: {job.error or 'no error recorded'}")

    def follow(self, job: Job, poll: float) -> Job:
        """Poll the row (the source of truth) and move a bar until the job ends."""
        show = not self.as_json and sys.stderr.isatty()
        with tqdm(total=1, desc=f"job {job.pk}", unit="step", disable=not show) as bar:
            while True:
                job.refresh_from_db()
                progress = job.progress
                if progress.get("total_steps"):
                    bar.total = progress["total_steps"]
                    bar.n = min(progress.get("step") or 0, bar.total)
                    bar.set_postfix_str(_postfix(job), refresh=False)
                    bar.refresh()
                if job.finished:
                    return job
                time.sleep(poll)


def _postfix(job: Job) -> str:
    progress = job.progress
    parts = [job.status, progress.get("phase", "")]
    if progress.get("epochs"):
        parts.append(f"epoch {progress.get('epoch')}/{progress['epochs']}")
    if progress.get("loss") is not None:
        parts.append(f"loss {progress['loss']:.4f}")
    if progress.get("eta_s") is not None:
        parts.append(f"ETA {progress['eta_s']:.0f}s")
    return " ".join(p for p in parts if p)


def _headline(metrics: dict) -> str:
    test = metrics.get("test") or {}
    for key in ("auc", "macro_auc", "mean_ap"):
        if isinstance(test.get(key), float):
            return f"test {key} {test[key]:.4f} (n={test.get('n')})"
    return f"{metrics.get('count')} images scored" if "count" in metrics else "done"


def _flatten(errors, prefix: str = "") -> str:
    """DRF's nested errors as one line: ``config.engine.epochs: must be at least 1``."""
    if isinstance(errors, dict):
        return "; ".join(_flatten(v, f"{prefix}{k}.") for k, v in errors.items())
    if isinstance(errors, list):
        return "; ".join(_flatten(v, prefix) for v in errors)
    return f"{prefix.rstrip('.')}: {errors}"
