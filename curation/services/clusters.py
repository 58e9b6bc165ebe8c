"""What lies behind a cluster: its counts (clauses, reports, images, patients, undecided), its
outliers and purity, the images of its studies, the words of its clauses, and how many images
each way of mapping it would label (``outlier_choices``)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count

from labeling.models import Instance, Report
from teams.models import Team

from ..models import ClauseDecision, ClauseOccurrence, ClusterMember, ProposedCluster, Verdict

# How a run's clusters can be listed: the least pure first (their outliers need a look; biggest
# first among equals), the workspace's default, or by size only, as the paper did.
CLUSTER_ORDER = {"purity": ("purity", "-clause_count", "id"), "size": ("-clause_count", "id")}


def _refresh_counts(team: Team, clusters: Iterable[ProposedCluster]) -> None:
    """Clauses, reports, images and patients behind each cluster; undecided clause count."""
    clusters = list(clusters)
    members = defaultdict(list)
    outliers = defaultdict(list)
    for cluster_id, normalized, count, outlier in ClusterMember.objects.filter(
        cluster__in=clusters
    ).values_list("cluster_id", "normalized", "count", "outlier"):
        members[cluster_id].append((normalized, count))
        if outlier:
            outliers[cluster_id].append(count)
    texts = {n for rows in members.values() for n, _ in rows}
    studies_of = defaultdict(set)
    for normalized, study_id in (
        ClauseOccurrence.objects.of_team(team)
        .filter(normalized__in=texts)
        .values_list("normalized", "study_id")
    ):
        studies_of[normalized].add(study_id)
    study_ids = set().union(*studies_of.values()) if studies_of else set()
    images = dict(
        Instance.objects.filter(study_id__in=study_ids)
        .values("study_id")
        .annotate(n=Count("id"))
        .values_list("study_id", "n")
    )
    patients = dict(
        Report.objects.filter(study_id__in=study_ids).values_list("study_id", "study__patient_id")
    )
    decided = set(
        ClauseDecision.objects.of_team(team)
        .filter(normalized__in=texts)
        .exclude(verdict=Verdict.OPEN)
        .values_list("normalized", flat=True)
    )
    for cluster in clusters:
        rows = members.get(cluster.pk, [])
        studies = set().union(*(studies_of[n] for n, _ in rows)) if rows else set()
        cluster.clause_count = sum(count for _, count in rows)
        cluster.unique_count = len(rows)
        cluster.report_count = len(studies)
        cluster.image_count = sum(images.get(s, 0) for s in studies)
        cluster.patient_count = len({patients.get(s) or f"study-{s}" for s in studies})
        cluster.undecided_count = sum(count for n, count in rows if n not in decided)
        cluster.outlier_count = sum(outliers[cluster.pk])
        cluster.outlier_unique = len(outliers[cluster.pk])
        total = cluster.clause_count
        cluster.purity = 1.0 - cluster.outlier_count / total if total else 1.0
    ProposedCluster.objects.bulk_update(
        clusters,
        ["clause_count", "unique_count", "report_count", "image_count", "patient_count",
         "undecided_count", "outlier_count", "outlier_unique", "purity"],
    )  # fmt: skip


@dataclass(frozen=True)
class OutlierChoices:
    """What mapping clusters would label, for each thing to do with their outliers.

    ``keep`` labels the images of every member's studies; ``unmapped`` and ``split`` label only
    the images of the members within the threshold (the outliers wait in the unmapped queue,
    or in a cluster of their own that stays open). Counted over non-quarantined images.
    """

    outliers: int  # distinct outlier texts
    outlier_clauses: int  # their occurrences
    keep: int
    unmapped: int
    split: int


def outlier_choices(team: Team, cluster_ids: Sequence[int]) -> OutlierChoices:
    """Images each choice labels when the team's clusters ``cluster_ids`` are mapped together."""
    rows = list(
        ClusterMember.objects.filter(
            team=team, cluster_id__in=list(cluster_ids), cluster__merged_into=None
        ).values_list("normalized", "count", "outlier")
    )
    everything = {n for n, _, _ in rows}
    inliers = {n for n, _, outlier in rows if not outlier}
    within = _images_of(team, inliers)
    return OutlierChoices(
        outliers=len({n for n, _, outlier in rows if outlier}),
        outlier_clauses=sum(count for _, count, outlier in rows if outlier),
        keep=_images_of(team, everything),
        unmapped=within,
        split=within,
    )


def _images_of(team: Team, texts: set[str]) -> int:
    """Images of the studies whose reports contain any of these clause texts."""
    if not texts:
        return 0
    studies = ClauseOccurrence.objects.of_team(team).filter(normalized__in=texts)
    return (
        Instance.objects.filter(
            team=team, quarantined=False, study_id__in=studies.values("study_id")
        )
        .distinct()
        .count()
    )


def cluster_images(cluster: ProposedCluster, limit: int) -> list[Instance]:
    """Images of the studies whose reports contain a clause of this cluster."""
    texts = cluster.members.values_list("normalized", flat=True)
    studies = ClauseOccurrence.objects.of_team(cluster.team_id).filter(normalized__in=texts)
    return list(
        Instance.objects.filter(team_id=cluster.team_id, study_id__in=studies.values("study_id"))
        .select_related("study")
        .order_by("study_id", "id")[:limit]
    )


def word_frequencies(cluster: ProposedCluster, top: int = 30) -> list[tuple[str, int]]:
    """Words of a cluster's clauses weighted by occurrence (the paper's word-frequency view):
    Latin words whole, Chinese as character pairs (most findings are two-character words)."""
    tally: Counter = Counter()
    for normalized, count in cluster.members.values_list("normalized", "count"):
        for token in _tokens(normalized):
            tally[token] += count
    return tally.most_common(top)


def _tokens(text: str) -> list[str]:
    tokens = []
    for run in re.findall(r"[a-z0-9]+|[^\sa-z0-9]+", text):
        if run.isascii():
            tokens.append(run)
        elif len(run) == 1:
            tokens.append(run)
        else:
            tokens += [run[i : i + 2] for i in range(len(run) - 1)]
    return tokens
