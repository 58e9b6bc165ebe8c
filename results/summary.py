"""The team home's results part: what is running, the latest runs per task, the best run per
label, label-set versions and data counts. A fixed number of queries whatever the team's size."""

from __future__ import annotations

from django.db.models import Count
from django.utils.translation import get_language

from jobs.models import Job, JobStatus
from training.models import JobKind

RECENT_RUNS = 50  # finished training runs looked at for "latest" and "best"


def team_summary(team) -> dict:
    from curation.models import LabelSet, LabelSetImage

    active = list(
        Job.objects.of_team(team)
        .filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
        .order_by("-created_at")[:10]
    )
    finished = list(
        Job.objects.of_team(team)
        .filter(kind=JobKind.TRAIN, status=JobStatus.SUCCEEDED)
        .only("id", "name", "config", "metrics", "finished_at", "team_id")
        .order_by("-finished_at", "-id")[:RECENT_RUNS]
    )
    label_sets = list(
        LabelSet.objects.of_team(team)
        .annotate(image_count=Count("images"))
        .order_by("-version")[:5]
    )
    labelled = LabelSetImage.objects.filter(label_set=label_sets[0]).count() if label_sets else 0
    return {
        "active": active,
        "latest": latest_per_task(finished),
        "best": best_per_label(finished, label_sets[0] if label_sets else None),
        "label_sets": label_sets,
        "labelled": labelled,
        "unmapped": _unmapped_count(team),
    }


def task_of(job: Job) -> str:
    return job.metrics.get("task") or job.config.get("engine", {}).get("task", "")


def latest_per_task(jobs: list[Job]) -> list[dict]:
    """The newest finished run of each task (jobs come newest first), with its headline
    numbers: task 1's AUC, task 2's mean AUC and task 3's mean AP."""
    seen: dict[str, dict] = {}
    for job in jobs:
        test = job.metrics.get("test") or {}
        auc = test.get("macro_auc") if isinstance(test.get("auc"), dict) else test.get("auc")
        multi = (job.metrics.get("multi_disease") or {}).get("test") or {}
        seen.setdefault(task_of(job), {"task": task_of(job), "job": job, "auc": auc,
                                       "mean_ap": multi.get("mean_ap", test.get("mean_ap"))})  # fmt: skip
    return list(seen.values())


def best_per_label(jobs: list[Job], label_set) -> list[dict]:
    """Per label, the run with the highest test AUC among recent runs (task 2 and multi-label
    runs report per-label AUCs; task 1 has no per-label numbers)."""
    best: dict[str, tuple[float, Job]] = {}
    for job in jobs:
        aucs = (job.metrics.get("test") or {}).get("auc")
        if not isinstance(aucs, dict):
            continue
        for key, auc in aucs.items():
            if auc is not None and (key not in best or auc > best[key][0]):
                best[key] = (auc, job)
    chinese = (get_language() or "").startswith("zh")
    names = {row["key"]: row.get("zh" if chinese else "en") or row["key"]
             for row in (label_set.labels if label_set else [])}  # fmt: skip
    order = list(names) + sorted(k for k in best if k not in names)
    return [{"key": k, "name": names.get(k, k), "auc": best[k][0], "job": best[k][1]}
            for k in order if k in best]  # fmt: skip


def _unmapped_count(team) -> int:
    """Distinct clause texts no cluster or decision covers yet (curation's unmapped queue)."""
    from curation.services import unmapped_texts

    return len(unmapped_texts(team))
