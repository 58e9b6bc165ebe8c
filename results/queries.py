"""Reading runs for the results pages: which jobs are runs, their artifacts, names, images.

Read-only (the dashboard changes no state); every query is scoped to the caller's teams through
teams.access, and list helpers take a fixed number of queries whatever the row count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from jobs.models import Job, JobStatus
from labeling.models import Instance
from teams.access import get_visible_or_404, visible
from training.models import JobKind
from training.runs import RunFolder

from . import artifacts

RUN_KINDS = (JobKind.TRAIN, JobKind.EVALUATE)
# Class names of task 1 are not label-set labels: the UI translates them itself.
BINARY_CLASSES = {"normal": lambda: _("normal"), "abnormal": lambda: _("abnormal")}


def runs(user) -> QuerySet[Job]:
    """Training and evaluation jobs the user may see, newest first."""
    return visible(Job, user).filter(kind__in=RUN_KINDS).select_related("owner")


def run_or_404(user, pk) -> Job:
    return get_visible_or_404(runs(user).select_related("team"), user, pk=pk)


def artifacts_for(job: Job) -> artifacts.RunArtifacts:
    """The job's engine outputs; the row's metrics stand in when metrics.json is lost."""
    return artifacts.load_run(RunFolder.of(job), fallback_metrics=job.metrics or None)


def label_set_id(job: Job) -> int | None:
    """An evaluation on another label set names it; otherwise the set the run trained on."""
    source = job.config.get("source_job")
    if job.config.get("label_set"):
        return job.config["label_set"]
    if source:
        parent = Job.objects.filter(team=job.team, pk=source).only("config").first()
        return parent.config.get("label_set") if parent else None
    return None


def label_set_of(job: Job):
    from curation.models import LabelSet

    pk = label_set_id(job)
    return LabelSet.objects.filter(team=job.team, pk=pk).first() if pk else None


def display_names(label_set, keys: Iterable[str]) -> dict[str, str]:
    """Label keys to names in the active language (zh from the label set, else en)."""
    chinese = (get_language() or "").startswith("zh")
    known = {row["key"]: row for row in (label_set.labels if label_set else [])}
    names = {}
    for key in keys:
        row = known.get(key)
        if row:
            names[key] = (row.get("zh") if chinese else row.get("en")) or key
        elif key in BINARY_CLASSES:
            names[key] = BINARY_CLASSES[key]()
        else:
            names[key] = key
    return names


@dataclass
class Image:
    """A gallery's view of one case's image: None fields when the image was deleted."""

    instance: Instance | None
    sop_uid: str


def instances_by_uid(team, uids: Iterable[str]) -> dict[str, Instance]:
    """One query for any number of images (a gallery page, a review queue)."""
    uids = list(uids)
    if not uids:
        return {}
    rows = Instance.objects.of_team(team).filter(sop_uid__in=uids).select_related("study")
    return {row.sop_uid: row for row in rows}


def latest_runs(team, limit: int = 5) -> list[Job]:
    return list(
        Job.objects.of_team(team)
        .filter(kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")[:limit]
    )
