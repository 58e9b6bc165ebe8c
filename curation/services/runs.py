"""Clustering runs: start one (checked against the team's clauses), claim and execute it, store
its proposed clusters regrouped by the curated decisions.

Every run has a job of kind "cluster" (``curation.jobs`` runs it), and its status is the job's:
a worker runs the job when the run was queued from the browser or the API, this process does
(``run_clustering``) for ``manage.py cluster``. The run row holds parameters and result only.

A run names its distance (``labeling.clustering.DISTANCES``: the default, normalised by length
after the team's synonym table, or "paper", plain edits as the paper had them) and keeps a
snapshot of the synonym table it applied. Each stored member carries its distance to its
cluster's medoid and whether it is an outlier (beyond the run's threshold); each cluster its
outlier counts and purity (``clusters._refresh_counts``).
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from jobs import services as job_services
from jobs import worker
from jobs.models import Job
from jobs.services import JobCancelled
from labeling.clustering import (
    DEFAULT_DISTANCE,
    DISTANCES,
    cluster_clauses,
    count_unique,
    suggest_k,
)
from labeling.distance import PAPER, check_threshold
from labeling.text import CueLists
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
from .normal import premap_normal_clusters
from .team_settings import _cue_snapshot, curation_settings, team_cues

K_CURVE_POINTS = 10
CLUSTER_KIND = "cluster"  # the job kind ``curation.jobs`` registers


def start_clustering(
    team: Team,
    user,
    *,
    k: int,
    seed: int = 0,
    distance: str = DEFAULT_DISTANCE,
    outlier_threshold: float | None = None,
    enqueue: bool = True,
) -> ClusterRun:
    """Check k against the team's clauses and store a queued run with its job (kind "cluster":
    on the queue page, with heartbeat, attempts and cancel; the job holds the run's status).

    ``distance`` is one of ``DISTANCES``; a run with the default distance takes a snapshot of
    the team's synonym table ("paper" uses none). ``outlier_threshold`` (in the distance's
    unit) flags members beyond it; None lets the clustering choose from each cluster's spread.
    With ``enqueue`` the job is sent to a worker once committed; without it the caller runs it
    in this process (``run_clustering``, ``manage.py cluster``).
    """
    if isinstance(k, bool) or not isinstance(k, int):
        raise CurationError(f"k must be a whole number, got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CurationError(f"seed must be a whole number, got {seed!r}")
    if distance not in DISTANCES:
        raise CurationError(f"unknown distance {distance!r}; one of {', '.join(DISTANCES)}")
    outlier_threshold = _check_threshold(outlier_threshold, distance)
    cues = team_cues(team)
    sync = sync_clauses(team, cues)
    if sync.clauses == 0:
        raise CurationError(
            f"team {team.name} has no diagnosis text to cluster ({sync.reports} reports, "
            f"{sync.empty_reports} with an empty diagnosis); import reports first"
        )
    synonyms = [] if distance == PAPER else list(curation_settings(team).synonyms)
    unique, polarities = _unique_compared(team, cues, distance, synonyms)
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
        # The run needs its job and the job's config names the run: the job comes first, and
        # its config is completed before the commit sends it.
        config = {"k": k, "seed": seed, "distance": distance}
        name = f"clustering k={k} seed={seed} {distance}"
        job = job_services.create_job(
            team, user, CLUSTER_KIND, config, name=name, inline=not enqueue
        )
        run = ClusterRun.objects.create(
            team=team, k=k, seed=seed, cues=_cue_snapshot(cues), distance=distance,
            synonyms=synonyms, outlier_threshold=outlier_threshold, created_by=user, job=job,
        )  # fmt: skip
        job.config = {"cluster_run": run.pk, **config}
        Job.objects.filter(pk=job.pk).update(config=job.config)
    return run


def _check_threshold(threshold: float | None, distance: str) -> float | None:
    """An outlier threshold in the distance's unit: a share from 0 to 1 under the normalised
    distance, whole edits under "paper"; None leaves the clustering's default."""
    if threshold is None:
        return None
    if distance == PAPER and isinstance(threshold, float) and threshold.is_integer():
        threshold = int(threshold)  # 3.0 edits from a JSON client is 3 edits
    try:
        return float(check_threshold(threshold, distance, "the outlier threshold"))
    except ValueError as exc:
        raise CurationError(str(exc)) from None


def _unique_compared(team: Team, cues: CueLists, distance: str, synonyms: list) -> tuple[int, int]:
    """Unique clauses as the clustering counts them with this distance and synonym table (the
    largest k it accepts), and the polarities present."""
    rows = list(ClauseOccurrence.objects.of_team(team).values_list("text", "polarity").distinct())
    if not rows:
        return 0, 0
    per_polarity = _count_unique(rows, cues, distance, synonyms)
    return sum(per_polarity.values()), len(per_polarity)


def _count_unique(rows, cues: CueLists, distance: str, synonyms: list) -> dict[str, int]:
    texts, pols = [text for text, _ in rows], [pol for _, pol in rows]
    return count_unique(
        texts, cues=cues, polarities=pols, distance=distance,
        synonyms=synonym_pairs(synonyms, distance),
    )  # fmt: skip


def suggested_k(team: Team, seed: int = 0) -> int:
    """The elbow of the loss curve over the team's clauses (what a run suggests next)."""
    cues = team_cues(team)
    sync_clauses(team, cues)
    rows = list(ClauseOccurrence.objects.of_team(team).values_list("text", "polarity"))
    if not rows:
        raise CurationError(f"team {team.name} has no diagnosis text to cluster")
    texts, pols = [t for t, _ in rows], [p for _, p in rows]
    synonyms = curation_settings(team).synonyms
    unique, polarities = _unique_compared(team, cues, DEFAULT_DISTANCE, synonyms)
    ks = sorted({int(v) for v in np.linspace(polarities, min(unique, 60), K_CURVE_POINTS)})
    pairs = synonym_pairs(synonyms)
    return suggest_k(texts, ks, seed, cues=cues, polarities=pols, synonyms=pairs).suggested_k


def claim_run(run_id: int) -> bool:
    """Claim a run's queued job for this process; False when someone else has it, it has
    ended, or there is no such run. The job claim is the one that counts."""
    job_id = ClusterRun.objects.filter(pk=run_id).values_list("job_id", flat=True).first()
    if job_id is None:
        return False
    return job_services.claim_job(job_id, job_services.worker_name()) is not None


def _unfinished(run_id: int) -> QuerySet[ClusterRun]:
    """The run, unless its clusters are stored (they and its result are written together)."""
    stored = ProposedCluster.objects.filter(run=OuterRef("pk"))
    return ClusterRun.objects.filter(pk=run_id).exclude(Exists(stored))


def claim_run_for_job(run_id: int, job_id: int) -> bool:
    """Take a job's run for the worker that claimed the job. The job claim is the exclusive
    one, so a run an earlier attempt left unfinished is taken over (its reason cleared). False
    when the run is not this job's or its clusters are stored already."""
    return bool(_unfinished(run_id).filter(job_id=job_id).update(failure=""))


def stop_run(run_id: int, reason: str) -> None:
    """Record why an unfinished run stops (its job was cancelled); its job ends it."""
    _unfinished(run_id).update(failure=reason)


# ``run_clustering``'s caller hears each stage too (the command's progress bar): the job runs in
# this thread, through the jobs layer, which knows nothing of that caller.
_listener: ContextVar[Callable[[float, str], None] | None] = ContextVar(
    "cluster_progress_listener", default=None
)


def run_clustering(
    team: Team,
    k: int,
    seed: int = 0,
    user=None,
    on_progress: Callable[[float, str], None] | None = None,
    *,
    distance: str = DEFAULT_DISTANCE,
    outlier_threshold: float | None = None,
) -> ClusterRun:
    """Start a run and run its job in this process (the command line and tests), through the
    jobs layer as a worker would: claimed, with a heartbeat, and its end recorded on the job."""
    run = start_clustering(
        team, user, k=k, seed=seed, distance=distance, outlier_threshold=outlier_threshold,
        enqueue=False,
    )  # fmt: skip
    token = _listener.set(on_progress)
    try:
        worker.run(run.job_id, inline=True)
    finally:
        _listener.reset(token)
    run.refresh_from_db()
    return run


def execute_run(run_id: int, on_progress: Callable[[float, str], None] | None = None) -> None:
    """Cluster the team's clauses for a claimed run and store the proposed clusters.

    A failure a user can cause is recorded as the run's ``failure`` (the job's runner then
    fails the job with it); anything else is recorded with its traceback and raised again, so
    the worker's log has it too. A cancel passes through untouched.
    """
    run = ClusterRun.objects.select_related("team").get(pk=run_id)
    listeners = [hear for hear in (on_progress, _listener.get()) if hear is not None]

    def report(fraction: float, stage: str) -> None:
        for hear in listeners:
            hear(fraction, stage)

    try:
        _execute(run, report)
    except JobCancelled:
        raise
    except (ValueError, CurationError) as exc:
        _fail(run_id, str(exc))
    except Exception:
        _fail(run_id, traceback.format_exc())
        raise


def _fail(run_id: int, failure: str) -> None:
    ClusterRun.objects.filter(pk=run_id).update(failure=failure)


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
    curve = _k_curve(texts, pols, run, cues)
    report(0.5, "clustering")
    threshold = run.outlier_threshold
    if threshold is not None and run.distance == PAPER:
        threshold = int(threshold)
    result = cluster_clauses(
        texts, run.k, run.seed, cues=cues, polarities=pols, distance=run.distance,
        synonyms=synonym_pairs(run.synonyms, run.distance), outlier_threshold=threshold,
    )  # fmt: skip
    report(0.85, "storing clusters")
    # Clusters and the result in one transaction: a retried attempt never finds the clusters of
    # an earlier one, and a run with clusters is finished (``_unfinished``).
    with transaction.atomic():
        _store_clusters(run, occurrences, result)
        premap_normal_clusters(run)
        ClusterRun.objects.filter(pk=run.pk).update(
            loss=result.loss,
            silhouette=result.silhouette,
            timings={key: round(value, 4) for key, value in result.timings.items()},
            k_curve=curve,
            n_clauses=result.n_clauses,
            n_unique=result.n_unique,
            sampled=result.sampled,
            outlier_threshold=result.outlier_threshold,
        )


def _k_curve(texts: list[str], pols: list[str], run: ClusterRun, cues: CueLists) -> dict:
    """Loss and silhouette at up to ten k values around the chosen one, for the elbow plot,
    with the run's distance (losses in its unit)."""
    k, seed = run.k, run.seed
    n_polarities = len(set(pols))
    rows = zip(texts, pols, strict=True)
    n_unique = sum(_count_unique(list(rows), cues, run.distance, run.synonyms).values())
    top = min(n_unique, max(2 * k, 20))
    ks = sorted({int(v) for v in np.linspace(n_polarities, top, K_CURVE_POINTS)} | {k})
    curve = suggest_k(
        texts, ks, seed, cues=cues, polarities=pols, distance=run.distance,
        synonyms=synonym_pairs(run.synonyms, run.distance),
    )  # fmt: skip
    return {
        "ks": list(curve.ks),
        "losses": list(curve.losses),
        "silhouettes": [round(s, 4) for s in curve.silhouettes],
        "suggested_k": curve.suggested_k,
        "best_silhouette_k": curve.best_silhouette_k,
    }


def synonym_pairs(groups: list, distance: str = DEFAULT_DISTANCE) -> list[tuple[str, str]] | None:
    """The stored groups ``[[canonical, variant, ...], ...]`` as the clustering's (variant,
    canonical) pairs; None under "paper", which takes no table."""
    if distance == PAPER:
        return None
    return [(variant, group[0]) for group in groups for variant in group[1:]]


@dataclass
class _Draft:
    polarity: str
    medoid_text: str
    medoid_normalized: str
    name: str
    counts: Counter = field(default_factory=Counter)  # normalized -> occurrences
    examples: dict = field(default_factory=dict)  # normalized -> one text as written
    distances: dict = field(default_factory=dict)  # normalized -> distance to the medoid
    outliers: set = field(default_factory=set)  # normalized texts beyond the threshold


def _store_clusters(run: ClusterRun, occurrences: list[tuple[str, str, str]], result) -> None:
    """Proposed clusters, regrouped by curated decisions, each with its derived verdict."""
    drafts = [
        _Draft(c.polarity, c.medoid_text, c.normalized, c.medoid_text) for c in result.clusters
    ]
    decisions = {d.normalized: d for d in ClauseDecision.objects.of_team(run.team)}
    grouped: dict[tuple[str, str], _Draft] = {}
    rows = zip(occurrences, result.assignments, result.distances, result.outliers, strict=True)
    for (text, normalized, pol), index, distance, outlier in rows:
        decision = decisions.get(normalized)
        if decision is not None and decision.group:
            # A curated group was gathered by a curator, not around a medoid: no distance.
            draft = grouped.setdefault(
                (pol, decision.group), _Draft(pol, text, normalized, decision.group)
            )
        else:
            draft = drafts[int(index)]
            draft.distances.setdefault(normalized, float(distance))
            if outlier:
                draft.outliers.add(normalized)
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
                distance=draft.distances.get(normalized),
                outlier=normalized in draft.outliers,
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
    """The team's newest run whose job succeeded."""
    return (
        ClusterRun.objects.of_team(team)
        .with_status(RunStatus.SUCCEEDED)
        .select_related("job")
        .first()
    )
