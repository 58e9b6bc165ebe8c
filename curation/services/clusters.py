"""What lies behind a cluster: its counts (clauses, reports, images, patients, undecided), the
images of its studies, and the words of its clauses."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from django.db.models import Count

from labeling.models import Instance, Report
from teams.models import Team

from ..models import ClauseDecision, ClauseOccurrence, ClusterMember, ProposedCluster, Verdict


def _refresh_counts(team: Team, clusters: Iterable[ProposedCluster]) -> None:
    """Clauses, reports, images and patients behind each cluster; undecided clause count."""
    clusters = list(clusters)
    members = defaultdict(list)
    for cluster_id, normalized, count in ClusterMember.objects.filter(
        cluster__in=clusters
    ).values_list("cluster_id", "normalized", "count"):
        members[cluster_id].append((normalized, count))
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
    ProposedCluster.objects.bulk_update(
        clusters,
        ["clause_count", "unique_count", "report_count", "image_count", "patient_count",
         "undecided_count"],
    )  # fmt: skip


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
