"""Curation actions on clusters: rename, merge, split, set a verdict, and undo the last one.

Setting a verdict says what happens to the clusters' outliers (``OUTLIER_CHOICES``): ``keep``
them (they take the verdict like every member), send them to the ``unmapped`` queue (their
members leave the cluster and their decisions are cleared, so ``unmapped_texts`` lists them),
or ``split`` them off into a new open cluster per mapped cluster. Undo restores all of it: the
snapshot holds each member's distance and outlier flag, and the rows a choice removed.

Each action locks the clusters it changes and checks the versions the caller read (see
``common``); it records the curated grouping and verdict on the clause texts (``ClauseDecision``),
so a re-clustering run brings them back. ``undo_last`` restores the ``before`` of a curator's last
action when nobody has touched those rows since.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from django.db import transaction

from labeling.text import AFFIRMED
from labeling.vocabulary import NORMAL
from teams.models import Team

from ..models import AuditEntry, ClauseDecision, ClusterMember, Label, ProposedCluster, Verdict
from .clusters import _refresh_counts
from .common import ConflictError, CurationError, _audit, _check_version


def _lock_clusters(team: Team, versions: Mapping[int, int | None]) -> list[ProposedCluster]:
    """Lock the clusters (pk order), check they are live, of this team, and not stale."""
    ids = sorted({int(pk) for pk in versions})
    found = {
        c.pk: c
        for c in ProposedCluster.objects.select_for_update()
        .of_team(team)
        .filter(pk__in=ids)
        .order_by("pk")
    }
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise CurationError(f"no such cluster in team {team.name}: {missing}")
    for pk in ids:
        cluster = found[pk]
        if cluster.merged_into_id is not None:
            raise ConflictError(f"cluster {cluster.name!r} was merged into another; reload")
        _check_version(f"cluster {cluster.name!r}", cluster.version, versions[pk])
    return [found[pk] for pk in ids]


def _snapshot(clusters: Iterable[ProposedCluster], texts: Iterable[str], team: Team) -> dict:
    clusters = list(clusters)
    members = defaultdict(list)
    states = defaultdict(dict)  # per cluster: member id -> [distance, outlier]
    for member_id, cluster_id, distance, outlier in ClusterMember.objects.filter(
        cluster__in=clusters
    ).values_list("id", "cluster_id", "distance", "outlier"):
        members[cluster_id].append(member_id)
        states[cluster_id][str(member_id)] = [distance, outlier]
    texts = sorted(set(texts))
    decisions = {d.normalized: d for d in ClauseDecision.objects.of_team(team).filter(
        normalized__in=texts)}  # fmt: skip
    return {
        "clusters": {
            str(c.pk): {
                "name": c.name,
                "verdict": c.verdict,
                "label": c.label_id,
                "merged_into": c.merged_into_id,
                "version": c.version,
                "members": sorted(members[c.pk]),
                "member_state": states[c.pk],
            }
            for c in clusters
        },
        "decisions": {
            text: (
                {
                    "verdict": decisions[text].verdict,
                    "label": decisions[text].label_id,
                    "group": decisions[text].group,
                    "automatic": decisions[text].automatic,
                }
                if text in decisions
                else None
            )
            for text in texts
        },
    }


def _member_texts(clusters: Iterable[ProposedCluster]) -> list[str]:
    return list(
        ClusterMember.objects.filter(cluster__in=list(clusters)).values_list(
            "normalized", flat=True
        )
    )


def _decide(team: Team, user, texts: Iterable[str], **fields) -> None:
    """Set decision fields on clause texts (creating decisions as needed), versions bumped."""
    texts = set(texts)
    existing = {
        d.normalized: d
        for d in ClauseDecision.objects.select_for_update()
        .of_team(team)
        .filter(normalized__in=texts)
    }
    fields = {"automatic": False, **fields}
    for text in texts:
        decision = existing.get(text) or ClauseDecision(team=team, normalized=text, version=0)
        for name, value in fields.items():
            setattr(decision, name, value)
        decision.version += 1
        decision.updated_by = user
        decision.save()


def _bump(clusters: Iterable[ProposedCluster], *update_fields: str) -> None:
    for cluster in clusters:
        cluster.version += 1
        cluster.save(update_fields=["version", *update_fields])


def _clean_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise CurationError("a cluster name cannot be empty")
    if len(name) > 200:
        raise CurationError(f"a cluster name is at most 200 characters, got {len(name)}")
    return name


def _check_name_free(cluster: ProposedCluster, name: str) -> None:
    clash = (
        ProposedCluster.objects.filter(run_id=cluster.run_id, merged_into=None, name__iexact=name)
        .exclude(pk=cluster.pk)
        .first()
    )
    if clash is not None:
        raise CurationError(
            f"another cluster of this run is already named {name!r}; merge them instead"
        )


@transaction.atomic
def rename_cluster(
    team: Team, user, cluster_id: int, *, name: str, version: int
) -> ProposedCluster:
    """Rename a cluster; its clause texts keep the name as their curated group."""
    name = _clean_name(name)
    (cluster,) = _lock_clusters(team, {cluster_id: version})
    _check_name_free(cluster, name)
    texts = _member_texts([cluster])
    before = _snapshot([cluster], texts, team)
    old = cluster.name
    cluster.name = name
    _bump([cluster], "name")
    _decide(team, user, texts, group=name)
    _audit(team, user, "rename", f"{old} → {name}", before, _snapshot([cluster], texts, team))
    return cluster


@transaction.atomic
def merge_clusters(
    team: Team, user, versions: Mapping[int, int], *, into: int | None = None, name: str = ""
) -> ProposedCluster:
    """Merge clusters of one run and one polarity into ``into`` (default: the largest)."""
    if len(versions) < 2:
        raise CurationError("select at least two clusters to merge")
    clusters = _lock_clusters(team, versions)
    runs = {c.run_id for c in clusters}
    if len(runs) > 1:
        raise CurationError(
            f"these clusters come from {len(runs)} different clustering runs ({sorted(runs)}); "
            "only clusters of one run can be merged"
        )
    polarities = {c.polarity for c in clusters}
    if len(polarities) > 1:
        raise CurationError(
            f"cannot merge clusters of different polarities ({', '.join(sorted(polarities))}): "
            "a negated finding must never share a label with an affirmed one"
        )
    if into is None:
        target = max(clusters, key=lambda c: (c.clause_count, -c.pk))
    else:
        target = next((c for c in clusters if c.pk == int(into)), None)
        if target is None:
            raise CurationError(f"the merge target {into} is not among the selected clusters")
    if name:
        target.name = _clean_name(name)
        _check_name_free(target, target.name)
    others = [c for c in clusters if c.pk != target.pk]
    texts = _member_texts(clusters)
    before = _snapshot(clusters, texts, team)
    ClusterMember.objects.filter(cluster__in=others).update(cluster=target)
    for other in others:
        other.merged_into = target
    _bump(others, "merged_into")
    _bump([target], "name")
    fields = {"group": target.name}
    if target.verdict != Verdict.OPEN:
        fields.update(verdict=target.verdict, label=target.label)
    _decide(team, user, texts, **fields)
    _refresh_counts(team, [target])
    _audit(team, user, "merge", f"{', '.join(o.name for o in others)} → {target.name}", before,
           _snapshot(clusters, texts, team))  # fmt: skip
    return target


@transaction.atomic
def split_cluster(
    team: Team,
    user,
    cluster_id: int,
    *,
    version: int,
    member_ids: Sequence[int],
    target_id: int | None = None,
    target_version: int | None = None,
    name: str = "",
) -> ProposedCluster:
    """Move selected clause texts of a cluster to a new cluster or to an existing one."""
    versions = {cluster_id: version}
    if target_id is not None:
        if int(target_id) == int(cluster_id):
            raise CurationError("the split target is the cluster itself")
        versions[target_id] = target_version
    locked = {c.pk: c for c in _lock_clusters(team, versions)}
    source = locked[int(cluster_id)]
    members = list(ClusterMember.objects.filter(cluster=source, pk__in=member_ids))
    if not member_ids or len(members) != len(set(member_ids)):
        raise CurationError("select clauses of this cluster to move (some are not in it)")
    if len(members) == source.members.count():
        raise CurationError("moving every clause would empty the cluster; merge instead")
    if target_id is not None:
        target = locked[int(target_id)]
        if target.run_id != source.run_id:
            raise CurationError("the split target belongs to another clustering run")
        if target.polarity != source.polarity:
            raise CurationError("the split target has another polarity")
        before = _snapshot([source, target], [m.normalized for m in members], team)
    else:
        name = _clean_name(name or members[0].example)
        before = _snapshot([source], [m.normalized for m in members], team)
        top = max(members, key=lambda m: (m.count, m.normalized))
        target = ProposedCluster(
            team=team,
            run_id=source.run_id,
            polarity=source.polarity,
            medoid_text=top.example,
            medoid_normalized=top.normalized,
            name=name,
            version=0,
        )
        _check_name_free(target, name)
        target.save()
    ClusterMember.objects.filter(pk__in=[m.pk for m in members]).update(cluster=target)
    _bump([source, target], "name")
    texts = [m.normalized for m in members]
    fields = {"group": target.name}
    if target.verdict != Verdict.OPEN:
        fields.update(verdict=target.verdict, label=target.label)
    _decide(team, user, texts, **fields)
    _refresh_counts(team, [source, target])
    _audit(team, user, "split", f"{len(texts)} clauses of {source.name} → {target.name}", before,
           _snapshot([source, target], texts, team))  # fmt: skip
    return target


KEEP, UNMAPPED, SPLIT = "keep", "unmapped", "split"
OUTLIER_CHOICES = (KEEP, UNMAPPED, SPLIT)


@transaction.atomic
def set_verdict(
    team: Team,
    user,
    versions: Mapping[int, int],
    *,
    verdict: str,
    label_id: int | None = None,
    outliers: str = KEEP,
) -> list[ProposedCluster]:
    """Map clusters to a label, mark them as carrying no label, ignore them, or reopen them.

    Only affirmed clauses carry a disease: a negated or hedged cluster may be mapped to the
    normal label (心肺膈未见明显异常 is how normal is written) and to nothing else.
    ``outliers`` says what happens to the clusters' outlier members (see the module's
    docstring); reopening keeps them.
    """
    if verdict not in Verdict.values:
        raise CurationError(f"unknown decision {verdict!r}; one of {', '.join(Verdict.values)}")
    if outliers not in OUTLIER_CHOICES:
        raise CurationError(
            f"unknown choice for the outliers {outliers!r}; one of {', '.join(OUTLIER_CHOICES)}"
        )
    if verdict == Verdict.OPEN and outliers != KEEP:
        raise CurationError("reopening keeps the outliers; choose 'keep' or map the cluster")
    if not versions:
        raise CurationError("select at least one cluster")
    label = None
    if verdict == Verdict.LABEL:
        label = Label.objects.of_team(team).filter(pk=label_id).first() if label_id else None
        if label is None:
            raise CurationError(f"no label {label_id!r} in the vocabulary of team {team.name}")
    clusters = _lock_clusters(team, versions)
    if label is not None and label.key != NORMAL:
        wrong = [c.name for c in clusters if c.polarity != AFFIRMED]
        if wrong:
            raise CurationError(
                f"{', '.join(wrong)}: only affirmed clusters can carry {label.name_en!r}; "
                "a negated or hedged finding gets 'no label'"
            )
    texts = _member_texts(clusters)
    before = _snapshot(clusters, texts, team)
    set_aside = (
        list(ClusterMember.objects.filter(cluster__in=clusters, outlier=True).order_by("pk"))
        if outliers != KEEP
        else []
    )
    aside_texts = {m.normalized for m in set_aside}
    touched = list(clusters)
    if outliers == UNMAPPED and set_aside:
        _send_to_queue(team, set_aside, before)
    elif outliers == SPLIT and set_aside:
        touched += _split_off(team, user, clusters, set_aside)
    for cluster in clusters:
        cluster.verdict, cluster.label = verdict, label
    _bump(clusters, "verdict", "label")
    _decide(team, user, [t for t in texts if t not in aside_texts], verdict=verdict, label=label)
    _refresh_counts(team, touched)
    shown = label.key if label else verdict
    summary = f"{', '.join(c.name for c in clusters)} → {shown}"
    if set_aside:
        summary += f" ({len(aside_texts)} outliers: {outliers})"
    _audit(team, user, verdict, summary, before, _snapshot(touched, texts, team))
    return clusters


def _send_to_queue(team: Team, members: list[ClusterMember], before: dict) -> None:
    """Outliers leave their cluster and lose their decisions: ``unmapped_texts`` lists them.
    The removed rows go into ``before`` so that undo can put them back as they were."""
    before["removed_members"] = [
        {"cluster": m.cluster_id, "normalized": m.normalized, "example": m.example,
         "polarity": m.polarity, "count": m.count, "distance": m.distance, "outlier": m.outlier}
        for m in members
    ]  # fmt: skip
    ClauseDecision.objects.of_team(team).filter(
        normalized__in={m.normalized for m in members}
    ).delete()
    ClusterMember.objects.filter(pk__in=[m.pk for m in members]).delete()


def _split_off(
    team: Team, user, clusters: list[ProposedCluster], members: list[ClusterMember]
) -> list[ProposedCluster]:
    """Each cluster's outliers into a new open cluster of their own (named after the most
    written one); their decisions reopen, grouped under the new name."""
    by_cluster = defaultdict(list)
    for member in members:
        by_cluster[member.cluster_id].append(member)
    created = []
    for source in clusters:
        moving = by_cluster.get(source.pk)
        if not moving:
            continue
        top = max(moving, key=lambda m: (m.count, m.normalized))
        target = ProposedCluster(
            team=team, run_id=source.run_id, polarity=source.polarity, medoid_text=top.example,
            medoid_normalized=top.normalized, name=_free_name(source, top.example), version=1,
        )  # fmt: skip
        target.save()
        # Measured against the old medoid, they are no one's outliers in the new cluster.
        ClusterMember.objects.filter(pk__in=[m.pk for m in moving]).update(
            cluster=target, outlier=False, distance=None
        )
        _decide(team, user, [m.normalized for m in moving], verdict=Verdict.OPEN, label=None,
                group=target.name)  # fmt: skip
        created.append(target)
    return created


def _free_name(source: ProposedCluster, wanted: str) -> str:
    """``wanted`` (cut to fit), or with a number when a live cluster of the run has it."""
    base = _clean_name(wanted[:190])
    taken = {
        name.lower()
        for name in ProposedCluster.objects.filter(
            run_id=source.run_id, merged_into=None
        ).values_list("name", flat=True)
    }
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base} ({n})", n + 1
    return name


UNDOABLE = ("rename", "merge", "split", *Verdict.values)


@transaction.atomic
def undo_last(team: Team, user) -> AuditEntry:
    """Restore the state before this curator's last action, unless it changed since."""
    entry = (
        AuditEntry.objects.select_for_update()
        .of_team(team)
        .filter(user=user, action__in=UNDOABLE, undone=False)
        .order_by("-id")
        .first()
    )
    if entry is None:
        raise CurationError("nothing to undo: you have no curation action left to take back")
    after = entry.after["clusters"]
    clusters = {
        c.pk: c
        for c in ProposedCluster.objects.select_for_update()
        .of_team(team)
        .filter(pk__in=[int(pk) for pk in after])
        .order_by("pk")
    }
    for pk, state in after.items():
        current = clusters.get(int(pk))
        if current is None or current.version != state["version"]:
            raise ConflictError(
                f"cluster {state['name']!r} changed after your {entry.action}; undo refused"
            )
    before = entry.before["clusters"]
    # Members the action sent to the unmapped queue come back as new rows, as they were.
    ClusterMember.objects.bulk_create(
        ClusterMember(team=team, cluster_id=row.pop("cluster"), **row)
        for row in (dict(row) for row in entry.before.get("removed_members", ()))
        if row.get("cluster") is not None and int(row["cluster"]) in clusters
    )
    for pk, cluster in clusters.items():
        state = before.get(str(pk))
        if state is None:  # created by the action (a split into a new cluster)
            continue
        ClusterMember.objects.filter(pk__in=state["members"]).update(cluster=cluster)
        for member_id, (distance, outlier) in state.get("member_state", {}).items():
            ClusterMember.objects.filter(pk=int(member_id)).update(
                distance=distance, outlier=outlier
            )
        cluster.name, cluster.verdict = state["name"], state["verdict"]
        cluster.label_id, cluster.merged_into_id = state["label"], state["merged_into"]
    for pk, cluster in clusters.items():
        if str(pk) not in before:
            cluster.delete()
    kept = [c for pk, c in clusters.items() if str(pk) in before]
    _bump(kept, "name", "verdict", "label", "merged_into")
    _restore_decisions(team, user, entry.before["decisions"])
    _refresh_counts(team, kept)
    entry.undone = True
    entry.save(update_fields=["undone"])
    return _audit(team, user, "undo", f"undo {entry.action}: {entry.summary}", entry.after,
                  entry.before)  # fmt: skip


def _restore_decisions(team: Team, user, states: Mapping[str, dict | None]) -> None:
    rows = {
        d.normalized: d
        for d in ClauseDecision.objects.select_for_update()
        .of_team(team)
        .filter(normalized__in=list(states))
    }
    for text, state in states.items():
        if state is None:
            if text in rows:
                rows[text].delete()
            continue
        _decide(team, user, [text], verdict=state["verdict"], label_id=state["label"],
                group=state["group"], automatic=state["automatic"])  # fmt: skip
