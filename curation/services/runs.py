"""Clustering runs: start one (checked against the team's clauses), claim and execute it, store
its proposed clusters regrouped by the curated decisions."""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.utils import timezone

from jobs import services as job_services
from jobs.models import JobStatus
from labeling.clustering import cluster_clauses, suggest_k
from labeling.text import (
    CueLists,
    without_cues,
)
from teams.models import Team

from ..models import (
    ClauseDecision,
    ClauseOccurrence,
    ClusterMember,
    ClusterRun,
    ProposedCluster,
    RunStatus,
    Verdict,
)
from .clauses import sync_clauses
from .clusters import _refresh_counts
from .common import CurationError
from .team_settings import _cue_snapshot, team_cues

K_CURVE_POINTS = 10


def start_clustering(
    team: Team, user, *, k: int, seed: int = 0, enqueue: bool = True
) -> ClusterRun:
    """Check k against the team's clauses and store a queued run.

    With ``enqueue`` the run is also a ``training.Job`` of kind "cluster" (on the queue page,
    with heartbeat, attempts and cancel), sent to a worker once committed; without it the
    caller runs it in this process (``run_clustering``, ``manage.py cluster``).
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise CurationError(f"k must be a whole number, got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CurationError(f"seed must be a whole number, got {seed!r}")
    cues = team_cues(team)
    sync = sync_clauses(team, cues)
    if sync.clauses == 0:
        raise CurationError(
            f"team {team.name} has no diagnosis text to cluster ({sync.reports} reports, "
            f"{sync.empty_reports} with an empty diagnosis); import reports first"
        )
    unique, polarities = _unique_compared(team, cues)
    if k <= 0:
        raise CurationError(f"k must be at least 1, got {k}")
    if k > unique:
        raise CurationError(f"k={k} is larger than the number of unique clauses ({unique})")
    if k < polarities:
        raise CurationError(
            f"k={k} is smaller than the number of polarities present ({polarities}); "
            "clusters never mix polarities"
        )
    with transaction.atomic():
        run = ClusterRun.objects.create(
            team=team, k=k, seed=seed, cues=_cue_snapshot(cues), created_by=user
        )
        if enqueue:
            run.job = job_services.create_job(
                team, user, "cluster", {"cluster_run": run.pk, "k": k, "seed": seed},
                name=f"clustering k={k} seed={seed}",
            )  # fmt: skip
            run.save(update_fields=["job"])
    return run


def _unique_compared(team: Team, cues: CueLists) -> tuple[int, int]:
    """Unique (polarity, compared text) pairs, as the clustering counts them, and polarities."""
    texts = ClauseOccurrence.objects.of_team(team).values_list("text", "polarity").distinct()
    keys = {(pol, without_cues(text, cues)) for text, pol in texts}
    return len(keys), len({pol for pol, _ in keys})


def suggested_k(team: Team, seed: int = 0) -> int:
    """The elbow of the loss curve over the team's clauses (what a run suggests next)."""
    cues = team_cues(team)
    sync_clauses(team, cues)
    rows = list(ClauseOccurrence.objects.of_team(team).values_list("text", "polarity"))
    if not rows:
        raise CurationError(f"team {team.name} has no diagnosis text to cluster")
    texts, pols = [t for t, _ in rows], [p for _, p in rows]
    unique, polarities = _unique_compared(team, cues)
    ks = sorted({int(v) for v in np.linspace(polarities, min(unique, 60), K_CURVE_POINTS)})
    return suggest_k(texts, ks, seed, cues=cues, polarities=pols).suggested_k


def claim_run(run_id: int) -> bool:
    """Take a queued run for this worker; False when someone else has it (or it is gone)."""
    return bool(
        ClusterRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=timezone.now(), progress=0.01, stage="claimed"
        )
    )


def claim_run_for_job(run_id: int, job_id: int) -> bool:
    """Take a job's run for the worker that claimed the job. The job claim is the exclusive
    one, so any unfinished state is taken over: queued, left running by a worker that died, or
    failed by an earlier attempt (a retry). False when the run is not this job's or succeeded."""
    return bool(
        ClusterRun.objects.filter(pk=run_id, job_id=job_id)
        .exclude(status=RunStatus.SUCCEEDED)
        .update(
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            finished_at=None,
            progress=0.01,
            stage="claimed",
            error="",
        )
    )


def stop_run(run_id: int, reason: str) -> None:
    """End an unfinished run as failed with a one-line reason (its job was cancelled)."""
    ClusterRun.objects.filter(pk=run_id).exclude(status=RunStatus.SUCCEEDED).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), error=reason
    )


def settle_runs(runs) -> None:
    """Runs whose job ended without them end too: a job cancelled while queued never reaches
    a worker, and one the reaper gave up on leaves its run "running"."""
    stuck = runs.filter(
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
        job__status__in=[JobStatus.FAILED, JobStatus.CANCELLED],
    )
    for run_id, job_status, job_error in stuck.values_list("pk", "job__status", "job__error"):
        stop_run(run_id, job_error or f"the job was {job_status}")


def run_clustering(team: Team, k: int, seed: int = 0, user=None) -> ClusterRun:
    """Start, claim and execute a run in this process (the command line and tests)."""
    run = start_clustering(team, user, k=k, seed=seed, enqueue=False)
    claim_run(run.pk)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def _progress(run_id: int, fraction: float, stage: str) -> None:
    ClusterRun.objects.filter(pk=run_id).update(progress=fraction, stage=stage)


def execute_run(run_id: int, on_progress: Callable[[float, str], None] | None = None) -> None:
    """Cluster the team's clauses for a claimed run and store the proposed clusters.

    Failures a user can cause end the run as failed with the message; anything else is recorded
    with its traceback and raised again, so the worker's log has it too.
    """
    run = ClusterRun.objects.select_related("team").get(pk=run_id)

    def report(fraction: float, stage: str) -> None:
        _progress(run_id, fraction, stage)
        if on_progress is not None:
            on_progress(fraction, stage)

    try:
        _execute(run, report)
    except (ValueError, CurationError) as exc:
        _finish(run_id, RunStatus.FAILED, error=str(exc))
    except Exception:
        _finish(run_id, RunStatus.FAILED, error=traceback.format_exc())
        raise


def _finish(run_id: int, status: str, **fields) -> None:
    ClusterRun.objects.filter(pk=run_id).update(status=status, finished_at=timezone.now(), **fields)


def _execute(run: ClusterRun, report: Callable[[float, str], None]) -> None:
    cues = CueLists(run.cues["negation"], run.cues["uncertainty"], run.cues.get("pseudo", ()))
    occurrences = list(
        ClauseOccurrence.objects.of_team(run.team).values_list("text", "normalized", "polarity")
    )
    if not occurrences:
        raise CurationError("there are no clauses to cluster; import reports first")
    texts = [text for text, _, _ in occurrences]
    pols = [pol for _, _, pol in occurrences]
    report(0.1, "k curve")
    curve = _k_curve(texts, pols, run.k, run.seed, cues)
    report(0.5, "clustering")
    result = cluster_clauses(texts, run.k, run.seed, cues=cues, polarities=pols)
    report(0.85, "storing clusters")
    # Clusters and the succeeded status in one transaction: a retried attempt never finds the
    # clusters of an earlier one.
    with transaction.atomic():
        _store_clusters(run, occurrences, result)
        ClusterRun.objects.filter(pk=run.pk).update(
            status=RunStatus.SUCCEEDED,
            progress=1.0,
            stage="done",
            finished_at=timezone.now(),
            loss=result.loss,
            silhouette=result.silhouette,
            timings={key: round(value, 4) for key, value in result.timings.items()},
            k_curve=curve,
            n_clauses=result.n_clauses,
            n_unique=result.n_unique,
            sampled=result.sampled,
        )


def _k_curve(texts: list[str], pols: list[str], k: int, seed: int, cues: CueLists) -> dict:
    """Loss and silhouette at up to ten k values around the chosen one, for the elbow plot."""
    n_polarities = len(set(pols))
    n_unique = len({(pol, without_cues(text, cues)) for text, pol in zip(texts, pols, strict=True)})
    top = min(n_unique, max(2 * k, 20))
    ks = sorted({int(v) for v in np.linspace(n_polarities, top, K_CURVE_POINTS)} | {k})
    curve = suggest_k(texts, ks, seed, cues=cues, polarities=pols)
    return {
        "ks": list(curve.ks),
        "losses": list(curve.losses),
        "silhouettes": [round(s, 4) for s in curve.silhouettes],
        "suggested_k": curve.suggested_k,
        "best_silhouette_k": curve.best_silhouette_k,
    }


@dataclass
class _Draft:
    polarity: str
    medoid_text: str
    medoid_normalized: str
    name: str
    counts: Counter = field(default_factory=Counter)  # normalized -> occurrences
    examples: dict = field(default_factory=dict)  # normalized -> one text as written


def _store_clusters(run: ClusterRun, occurrences: list[tuple[str, str, str]], result) -> None:
    """Proposed clusters, regrouped by curated decisions, each with its derived verdict."""
    drafts = [
        _Draft(c.polarity, c.medoid_text, c.normalized, c.medoid_text) for c in result.clusters
    ]
    decisions = {d.normalized: d for d in ClauseDecision.objects.of_team(run.team)}
    grouped: dict[tuple[str, str], _Draft] = {}
    for (text, normalized, pol), index in zip(occurrences, result.assignments, strict=True):
        decision = decisions.get(normalized)
        if decision is not None and decision.group:
            draft = grouped.setdefault(
                (pol, decision.group), _Draft(pol, text, normalized, decision.group)
            )
        else:
            draft = drafts[int(index)]
        draft.counts[normalized] += 1
        draft.examples.setdefault(normalized, text)
    for draft in grouped.values():  # a curated group's medoid: its most written clause
        top = max(draft.counts, key=lambda n: (draft.counts[n], n))
        draft.medoid_normalized, draft.medoid_text = top, draft.examples[top]
    for draft in [*drafts, *grouped.values()]:
        if not draft.counts:
            continue  # every member went to a curated group
        cluster = ProposedCluster.objects.create(
            team=run.team,
            run=run,
            polarity=draft.polarity,
            medoid_text=draft.medoid_text[:500],
            medoid_normalized=draft.medoid_normalized[:500],
            name=draft.name[:200],
        )
        ClusterMember.objects.bulk_create(
            ClusterMember(
                team=run.team,
                cluster=cluster,
                normalized=normalized,
                example=draft.examples[normalized][:500],
                polarity=draft.polarity,
                count=count,
            )
            for normalized, count in draft.counts.items()
        )
    clusters = list(ProposedCluster.objects.filter(run=run))
    _derive_verdicts(clusters, decisions)
    _refresh_counts(run.team, clusters)


def _derive_verdicts(clusters: list[ProposedCluster], decisions: Mapping) -> None:
    """A cluster shows the decision its decided members agree on (open when they disagree)."""
    for cluster in clusters:
        found = {
            (decisions[m].verdict, decisions[m].label_id)
            for m in cluster.members.values_list("normalized", flat=True)
            if m in decisions and decisions[m].verdict != Verdict.OPEN
        }
        if len(found) == 1:
            cluster.verdict, cluster.label_id = found.pop()
            cluster.save(update_fields=["verdict", "label"])


def latest_run(team: Team) -> ClusterRun | None:
    return ClusterRun.objects.of_team(team).filter(status=RunStatus.SUCCEEDED).first()
