"""Statements of normality: clusters of them pre-mapped to the normal label, and the reports a
hedged finding keeps from being normal.

A clause's reading says whether it asserts normality ("Clear lungs", 心肺未见异常; stored as
``ClauseOccurrence.normal``). After a clustering run stores its clusters, every open cluster
whose members are *all* normal statements, and none of whose texts a curator has decided, is
mapped to the team's normal label: one audited action in the name of whoever started the run,
so that curator's Undo takes it back like any mapping of their own. All, not most: mapping a
cluster labels every member, and one "未见胸腔积液" mapped to normal would call a diseased image
normal (or send it to review as a conflict); a mixed cluster stays for a curator.

The paper's binary task calls a report normal only when it has no affirmed or uncertain abnormal
mention. An affirmed finding mapped to a disease already outweighs normal (``label_sets``); a
hedged one ("考虑支气管炎可能") carries no label, so ``hedged_studies`` names the studies where
one stands, and their normal label is dropped.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from labeling.text import UNCERTAIN
from labeling.vocabulary import NORMAL
from teams.models import Team

from ..models import (
    AuditEntry,
    ClauseDecision,
    ClauseOccurrence,
    ClusterRun,
    Label,
    ProposedCluster,
    Verdict,
)
from .actions import _bump, _decide, _lock_clusters, _snapshot
from .clusters import _refresh_counts
from .common import _audit


def premap_normal_clusters(run: ClusterRun) -> AuditEntry | None:
    """Map the run's clusters of normal statements to the team's normal label (audited,
    undoable); ``None`` when there are none or the team has no normal label."""
    team = run.team
    normal = Label.objects.of_team(team).filter(key=NORMAL).first()
    picked = _normal_clusters(run) if normal is not None else []
    if not picked:
        return None
    user = run.created_by
    with transaction.atomic():
        clusters = _lock_clusters(team, {c.pk: c.version for c in picked})
        texts = [text for c in clusters for text in c.members.values_list("normalized", flat=True)]
        before = _snapshot(clusters, texts, team)
        for cluster in clusters:
            cluster.verdict, cluster.label = Verdict.LABEL, normal
        _bump(clusters, "verdict", "label")
        _decide(team, user, texts, verdict=Verdict.LABEL, label=normal, automatic=True)
        _refresh_counts(team, clusters)
        names = ", ".join(c.name for c in clusters)
        return _audit(team, user, Verdict.LABEL, f"pre-mapped as normal statements: {names}"
                      f" → {NORMAL}", before, _snapshot(clusters, texts, team))  # fmt: skip


def _normal_clusters(run: ClusterRun) -> list[ProposedCluster]:
    """Open clusters of the run whose members are all normal statements, none decided."""
    normal_texts = set(
        ClauseOccurrence.objects.of_team(run.team)
        .filter(normal=True)
        .values_list("normalized", flat=True)
    )
    members: dict[int, set[str]] = defaultdict(set)
    for cluster_id, text in ProposedCluster.objects.filter(
        run=run, merged_into=None, verdict=Verdict.OPEN
    ).values_list("pk", "members__normalized"):
        if text is not None:
            members[cluster_id].add(text)
    decided = set(
        ClauseDecision.objects.of_team(run.team)
        .exclude(verdict=Verdict.OPEN)
        .values_list("normalized", flat=True)
    )
    wanted = [pk for pk, texts in members.items() if texts <= normal_texts and not texts & decided]
    return list(ProposedCluster.objects.filter(pk__in=wanted).order_by("pk"))


def hedged_studies(team: Team) -> set[int]:
    """Studies with an uncertain clause that is an abnormal mention: not a normal statement,
    not mapped to the normal label, not ignored by a curator (undecided counts: a hedge about
    an unknown finding is no evidence of normality)."""
    decisions = {
        text: (verdict, key)
        for text, verdict, key in ClauseDecision.objects.of_team(team).values_list(
            "normalized", "verdict", "label__key"
        )
    }
    hedged = set()
    for study_id, text in (
        ClauseOccurrence.objects.of_team(team)
        .filter(polarity=UNCERTAIN, normal=False)
        .values_list("study_id", "normalized")
    ):
        verdict, key = decisions.get(text, (Verdict.OPEN, None))
        if verdict != Verdict.IGNORED and key != NORMAL:
            hedged.add(study_id)
    return hedged
