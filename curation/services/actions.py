"""Every change of curation state, each in one transaction.

Two curators may act on the same clusters at once. Each action locks the rows it changes
(``select_for_update``, in primary-key order so two actions never deadlock) and compares the
versions the caller read with the stored ones: a stale version raises ``ConflictError`` (HTTP
409) and nothing changes. Each action writes an ``AuditEntry`` with the state before and after;
``undo_last`` restores the ``before`` of a curator's last action when nobody has touched those
rows since.
"""

from __future__ import annotations

import logging
import random
import re
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from jobs import services as job_services
from jobs.models import JobStatus
from labeling.clustering import assign_to_medoids, cluster_clauses, suggest_k
from labeling.models import Instance, Report
from labeling.text import (
    AFFIRMED,
    DEFAULT_CUES,
    CueLists,
    polarity,
    read_clause,
    split_clauses,
    without_cues,
)
from labeling.vocabulary import NORMAL, PAPER_LABELS
from teams.models import Team

from .. import tables
from ..models import (
    AuditEntry,
    ClauseDecision,
    ClauseOccurrence,
    ClusterMember,
    ClusterRun,
    CurationSettings,
    ImageReview,
    Label,
    LabelSet,
    LabelSetImage,
    ProposedCluster,
    ReviewReason,
    ReviewStatus,
    RunStatus,
    Verdict,
)

log = logging.getLogger(__name__)

K_CURVE_POINTS = 10


class CurationError(ValueError):
    """A curation request that cannot be done as asked; the message says why (HTTP 400)."""


class ConflictError(CurationError):
    """Someone changed the rows since the caller read them (HTTP 409)."""


# --- settings, cue lists and vocabulary ---------------------------------------------------------


def curation_settings(team: Team) -> CurationSettings:
    """The team's settings row; the first call seeds default cues and the paper's ten labels."""
    found = CurationSettings.objects.filter(team=team).first()
    if found is not None:
        return found
    with transaction.atomic():
        row, created = CurationSettings.objects.get_or_create(
            team=team,
            defaults={
                "negation": list(DEFAULT_CUES.negation),
                "uncertainty": list(DEFAULT_CUES.uncertainty),
                "pseudo": list(DEFAULT_CUES.pseudo),
            },
        )
        if created and not Label.objects.filter(team=team).exists():
            Label.objects.bulk_create(
                Label(team=team, key=label.key, name_en=label.en, name_zh=label.zh, position=i)
                for i, label in enumerate(PAPER_LABELS)
            )
    return row


def team_cues(team: Team) -> CueLists:
    row = curation_settings(team)
    return CueLists(row.negation, row.uncertainty, row.pseudo)


def vocabulary(team: Team) -> list[Label]:
    curation_settings(team)
    return list(Label.objects.of_team(team).order_by("position", "id"))


def _cue_snapshot(cues: CueLists) -> dict:
    return {"negation": cues.negation, "uncertainty": cues.uncertainty, "pseudo": cues.pseudo}


@dataclass(frozen=True)
class CueUpdate:
    """The saved cue lists and how many stored clauses changed polarity with them."""

    settings: CurationSettings
    changed: int


def update_cues(
    team: Team,
    user,
    *,
    negation: Sequence[str],
    uncertainty: Sequence[str],
    pseudo: Sequence[str],
    version: int,
) -> CueUpdate:
    """Replace the team's cue lists and re-derive the polarity of every stored clause."""
    try:
        cues = CueLists(tuple(negation), tuple(uncertainty), tuple(pseudo))
    except ValueError as exc:
        raise CurationError(str(exc)) from None
    curation_settings(team)
    with transaction.atomic():
        row = CurationSettings.objects.select_for_update().get(team=team)
        _check_version("cue lists", row.version, version)
        before = _cue_snapshot(CueLists(row.negation, row.uncertainty, row.pseudo))
        row.negation, row.uncertainty, row.pseudo = (
            list(cues.negation),
            list(cues.uncertainty),
            list(cues.pseudo),
        )
        row.version += 1
        row.save()
        changed = _rederive_polarity(team, cues)
        _audit(team, user, "cues", f"cue lists changed; {changed} clauses changed polarity",
               {"cues": before}, {"cues": _cue_snapshot(cues)})  # fmt: skip
    return CueUpdate(row, changed)


def _rederive_polarity(team: Team, cues: CueLists) -> int:
    changed = 0
    by_text: dict[str, str] = {}
    for occurrence in ClauseOccurrence.objects.of_team(team).only("id", "text", "polarity"):
        new = by_text.setdefault(occurrence.text, polarity(occurrence.text, cues))
        if new != occurrence.polarity:
            ClauseOccurrence.objects.filter(pk=occurrence.pk).update(polarity=new)
            changed += 1
    return changed


def add_label(team: Team, user, *, key: str, name_en: str, name_zh: str) -> Label:
    """A new vocabulary entry; a key or name the team already uses is refused."""
    key, name_en, name_zh = key.strip(), " ".join(name_en.split()), name_zh.strip()
    if not key or not name_en or not name_zh:
        raise CurationError("a label needs a key, an English name and a Chinese name")
    curation_settings(team)
    with transaction.atomic():
        labels = Label.objects.select_for_update().of_team(team)
        for field_name, value in (("key", key), ("name_en", name_en), ("name_zh", name_zh)):
            if labels.filter(**{f"{field_name}__iexact": value}).exists():
                raise CurationError(f"a label with {field_name} {value!r} already exists")
        position = (labels.aggregate(Max("position"))["position__max"] or 0) + 1
        label = Label.objects.create(
            team=team, key=key, name_en=name_en, name_zh=name_zh, position=position
        )
        _audit(team, user, "add_label", f"label {key} added", {}, {"label": key})
    return label


@dataclass(frozen=True)
class LabelUsage:
    """What holds on to a label: curated decisions, clusters and frozen label set versions."""

    decisions: int
    clusters: int
    label_sets: tuple[int, ...]

    @property
    def in_use(self) -> bool:
        return bool(self.decisions or self.clusters or self.label_sets)


def label_usage(team: Team) -> dict[int, LabelUsage]:
    """Usage of every label of the team, by label id (the vocabulary page shows it)."""
    decisions = Counter(
        ClauseDecision.objects.of_team(team)
        .filter(label__isnull=False)
        .values_list("label_id", flat=True)
    )
    clusters = Counter(
        ProposedCluster.objects.of_team(team)
        .filter(label__isnull=False)
        .values_list("label_id", flat=True)
    )
    sets_by_key: dict[str, list[int]] = defaultdict(list)
    for version, labels in LabelSet.objects.of_team(team).values_list("version", "labels"):
        for entry in labels:
            sets_by_key[entry["key"]].append(version)
    return {
        label.pk: LabelUsage(
            decisions[label.pk], clusters[label.pk], tuple(sorted(sets_by_key[label.key]))
        )
        for label in vocabulary(team)
    }


def _locked_label(team: Team, label_id: int) -> Label:
    label = Label.objects.select_for_update().of_team(team).filter(pk=label_id).first()
    if label is None:
        raise CurationError(f"no label {label_id!r} in the vocabulary of team {team.name}")
    return label


@transaction.atomic
def rename_label(
    team: Team, user, label_id: int, *, name_en: str, name_zh: str, was_en: str, was_zh: str
) -> Label:
    """New English and Chinese names; ``was_*`` are the names the curator saw, so two curators
    renaming one label at once get a conflict. The key (stored in frozen sets) never changes."""
    name_en, name_zh = " ".join(name_en.split()), name_zh.strip()
    if not name_en or not name_zh:
        raise CurationError("a label needs an English name and a Chinese name")
    label = _locked_label(team, label_id)
    if (label.name_en, label.name_zh) != (was_en, was_zh):
        raise ConflictError(
            f"label {label.key} was renamed by someone else (now {label.name_en} / "
            f"{label.name_zh}); reload and try again"
        )
    others = Label.objects.of_team(team).exclude(pk=label.pk)
    for field_name, value in (("name_en", name_en), ("name_zh", name_zh)):
        if others.filter(**{f"{field_name}__iexact": value}).exists():
            raise CurationError(f"a label with {field_name} {value!r} already exists")
    before = {"en": label.name_en, "zh": label.name_zh}
    label.name_en, label.name_zh = name_en, name_zh
    label.save(update_fields=["name_en", "name_zh"])
    _audit(team, user, "rename_label", f"label {label.key}: {before['en']} → {name_en}",
           {"label": label.key, **before}, {"label": label.key, "en": name_en, "zh": name_zh})  # fmt: skip
    return label


@transaction.atomic
def move_label(team: Team, user, label_id: int, *, offset: int) -> list[Label]:
    """Move a label up (negative offset) or down the vocabulary; the order is the order of
    label vectors in the next frozen set. Positions are renumbered 0..n-1."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset == 0:
        raise CurationError(f"offset must be a non-zero whole number, got {offset!r}")
    _locked_label(team, label_id)
    labels = list(Label.objects.select_for_update().of_team(team).order_by("position", "id"))
    before = [label.key for label in labels]
    index = next(i for i, label in enumerate(labels) if label.pk == int(label_id))
    moved = labels.pop(index)
    labels.insert(max(0, min(len(labels), index + offset)), moved)
    for position, label in enumerate(labels):
        label.position = position
    Label.objects.bulk_update(labels, ["position"])
    _audit(team, user, "move_label", f"label {moved.key} moved", {"order": before},
           {"order": [label.key for label in labels]})  # fmt: skip
    return labels


@transaction.atomic
def delete_label(team: Team, user, label_id: int) -> None:
    """Remove a label nobody relies on; one that decisions, clusters or a frozen set use stays."""
    label = _locked_label(team, label_id)
    usage = label_usage(team)[label.pk]
    if usage.label_sets:
        versions = ", ".join(f"v{v}" for v in usage.label_sets)
        raise CurationError(
            f"label {label.name_en!r} is part of frozen label sets ({versions}) and cannot be "
            "deleted; rename it instead"
        )
    if usage.decisions or usage.clusters:
        raise CurationError(
            f"label {label.name_en!r} is used by {usage.decisions} clause decisions and "
            f"{usage.clusters} clusters; map them to another label first"
        )
    _audit(team, user, "delete_label", f"label {label.key} deleted",
           {"label": label.key, "en": label.name_en, "zh": label.name_zh}, {})  # fmt: skip
    label.delete()


# --- clauses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClauseSync:
    reports: int
    clauses: int
    empty_reports: int


def sync_clauses(team: Team, cues: CueLists | None = None) -> ClauseSync:
    """Rebuild the team's clause occurrences from its reports' diagnoses."""
    cues = cues or team_cues(team)
    rows, empty, reports = [], 0, 0
    readings: dict[str, tuple[str, str]] = {}
    for report in Report.objects.of_team(team).only("id", "study_id", "diagnosis"):
        reports += 1
        clauses = split_clauses(report.diagnosis or "")
        if not clauses:
            empty += 1
        for position, text in enumerate(clauses):
            if text not in readings:
                reading = read_clause(text, cues)
                readings[text] = (reading.normalized, reading.polarity)
            normalized, pol = readings[text]
            if not normalized:
                continue
            rows.append(
                ClauseOccurrence(
                    team=team,
                    report_id=report.pk,
                    study_id=report.study_id,
                    position=position,
                    text=text[:500],
                    normalized=normalized[:500],
                    polarity=pol,
                )
            )
    with transaction.atomic():
        ClauseOccurrence.objects.of_team(team).delete()
        ClauseOccurrence.objects.bulk_create(rows, batch_size=2000)
    return ClauseSync(reports=reports, clauses=len(rows), empty_reports=empty)


# --- clustering runs ----------------------------------------------------------------------------


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


def latest_run(team: Team) -> ClusterRun | None:
    return ClusterRun.objects.of_team(team).filter(status=RunStatus.SUCCEEDED).first()


# --- curation actions ---------------------------------------------------------------------------


def _check_version(what: str, stored: int, given: int | None) -> None:
    if given is None:
        raise CurationError(f"{what}: give the version you read (field 'version')")
    if int(given) != stored:
        raise ConflictError(
            f"{what} was changed by someone else (version {given} is now {stored}); "
            "reload and try again"
        )


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
    for member_id, cluster_id in ClusterMember.objects.filter(cluster__in=clusters).values_list(
        "id", "cluster_id"
    ):
        members[cluster_id].append(member_id)
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


def _audit(team: Team, user, action: str, summary: str, before: dict, after: dict) -> AuditEntry:
    return AuditEntry.objects.create(
        team=team, user=user, action=action, summary=summary[:300], before=before, after=after
    )


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


@transaction.atomic
def set_verdict(
    team: Team, user, versions: Mapping[int, int], *, verdict: str, label_id: int | None = None
) -> list[ProposedCluster]:
    """Map clusters to a label, mark them as carrying no label, ignore them, or reopen them.

    Only affirmed clauses carry a disease: a negated or hedged cluster may be mapped to the
    normal label (心肺膈未见明显异常 is how normal is written) and to nothing else.
    """
    if verdict not in Verdict.values:
        raise CurationError(f"unknown decision {verdict!r}; one of {', '.join(Verdict.values)}")
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
    for cluster in clusters:
        cluster.verdict, cluster.label = verdict, label
    _bump(clusters, "verdict", "label")
    _decide(team, user, texts, verdict=verdict, label=label)
    _refresh_counts(team, clusters)
    shown = label.key if label else verdict
    _audit(team, user, verdict, f"{', '.join(c.name for c in clusters)} → {shown}", before,
           _snapshot(clusters, texts, team))  # fmt: skip
    return clusters


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
    for pk, cluster in clusters.items():
        state = before.get(str(pk))
        if state is None:  # created by the action (a split into a new cluster)
            continue
        ClusterMember.objects.filter(pk__in=state["members"]).update(cluster=cluster)
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


# --- label vectors, label sets and statistics -----------------------------------------------


@dataclass
class Vectors:
    """Per-image label keys (by SOP Instance UID), which images conflict, and instance ids."""

    labels: dict[str, list[str]]
    conflicts: set[str]
    instances: dict[str, int]
    unlabelled: int


def current_vectors(team: Team) -> Vectors:
    """Per-image labels from the current decisions, reviews applied.

    A study's labels come from its mapped clauses: affirmed clauses carry their label, and the
    normal label may come from a negated clause (that is how normal is written). Every image of
    the study gets them. Normal next to a disease is a conflict: the image goes to the review
    queue and, until reviewed, keeps only its diseases.
    """
    vocab = {label.pk: label.key for label in vocabulary(team)}
    decisions = {
        normalized: vocab.get(label_id)
        for normalized, label_id in ClauseDecision.objects.of_team(team)
        .filter(verdict=Verdict.LABEL)
        .values_list("normalized", "label_id")
    }
    by_study: dict[int, set[str]] = defaultdict(set)
    for study_id, normalized, pol in ClauseOccurrence.objects.of_team(team).values_list(
        "study_id", "normalized", "polarity"
    ):
        key = decisions.get(normalized)
        if key is not None and (pol == AFFIRMED or key == NORMAL):
            by_study[study_id].add(key)
    # A decided image keeps its labels while new model evidence has it pending again.
    reviewed = {
        instance_id: labels
        for instance_id, labels in ImageReview.objects.of_team(team)
        .filter(labels__isnull=False)
        .values_list("instance_id", "labels")
    }
    vectors = Vectors({}, set(), {}, 0)
    for pk, sop_uid, study_id in (
        Instance.objects.of_team(team)
        .filter(quarantined=False)
        .values_list("pk", "sop_uid", "study_id")
    ):
        keys = set(reviewed[pk]) if pk in reviewed else set(by_study.get(study_id, ()))
        if pk not in reviewed and NORMAL in keys and len(keys) > 1:
            keys.discard(NORMAL)
            vectors.conflicts.add(sop_uid)
        if not keys:
            vectors.unlabelled += 1
            continue
        order = list(vocab.values())
        vectors.labels[sop_uid] = sorted(keys, key=lambda k: order.index(k) if k in order else 99)
        vectors.instances[sop_uid] = pk
    return vectors


def _label_dicts(team: Team) -> list[dict]:
    return [{"key": lb.key, "en": lb.name_en, "zh": lb.name_zh} for lb in vocabulary(team)]


def live_statistics(team: Team) -> dict:
    """Table I of the current mapping (not frozen), with the images it leaves out."""
    vectors = current_vectors(team)
    return _statistics(vectors.labels, _label_dicts(team), vectors)


def _statistics(labels_by_image: dict, label_dicts: list[dict], vectors: Vectors | None) -> dict:
    rows = tables.table_one(labels_by_image, label_dicts)
    stats = {
        "images": len(labels_by_image),
        "rows": [row.as_dict() for row in rows],
    }
    if vectors is not None:
        stats.update(conflicts=len(vectors.conflicts), unlabelled=vectors.unlabelled)
    return stats


def freeze_label_set(team: Team, user, note: str = "") -> LabelSet:
    """Freeze the current mapping into the next immutable, hashed label set version."""
    curation_settings(team)
    with transaction.atomic():
        # One freeze at a time per team: versions are consecutive.
        CurationSettings.objects.select_for_update().get(team=team)
        vectors = current_vectors(team)
        if not vectors.labels:
            raise CurationError(
                "no image has a label yet: map clusters to labels before freezing a label set"
            )
        _queue_conflicts(team, vectors)
        labels = _label_dicts(team)
        version = LabelSet.objects.of_team(team).aggregate(Max("version"))["version__max"] or 0
        label_set = LabelSet.objects.create(
            team=team,
            version=version + 1,
            content_hash=tables.content_hash(vectors.labels, labels),
            labels=labels,
            statistics=_statistics(vectors.labels, labels, vectors),
            note=note.strip()[:500],
            author=user,
        )
        LabelSetImage.objects.bulk_create(
            (
                LabelSetImage(
                    team=team,
                    label_set=label_set,
                    instance_id=vectors.instances[sop_uid],
                    sop_uid=sop_uid,
                    labels=keys,
                    conflict=sop_uid in vectors.conflicts,
                )
                for sop_uid, keys in vectors.labels.items()
            ),
            batch_size=2000,
        )
        _audit(team, user, "freeze", f"label set v{label_set.version} {label_set.content_hash[:12]}",
               {}, {"label_set": label_set.pk})  # fmt: skip
    return label_set


def _queue_conflicts(team: Team, vectors: Vectors) -> None:
    existing = set(ImageReview.objects.of_team(team).values_list("instance__sop_uid", flat=True))
    ImageReview.objects.bulk_create(
        ImageReview(
            team=team,
            instance_id=vectors.instances[sop_uid],
            reason="conflict",
            proposed=[NORMAL, *vectors.labels[sop_uid]],
        )
        for sop_uid in sorted(vectors.conflicts - existing)
    )


def label_set_vectors(label_set: LabelSet) -> dict[str, list[str]]:
    return dict(label_set.images.values_list("sop_uid", "labels"))


def compare_label_sets(a: LabelSet, b: LabelSet) -> dict:
    """What changed from ``a`` to ``b``: per-label counts and the images that changed."""
    if a.team_id != b.team_id:
        raise CurationError("label sets of two different teams cannot be compared")
    labels = list({lb["key"]: lb for lb in [*a.labels, *b.labels]}.values())
    result = tables.compare(label_set_vectors(a), label_set_vectors(b), labels)
    return {"a": a.version, "b": b.version, **result.as_dict()}


# --- new reports after curation --------------------------------------------------------------


@dataclass(frozen=True)
class AutoLabel:
    matched: int
    unmapped: int


def auto_label_new_reports(team: Team, user=None, max_distance: int | None = None) -> AutoLabel:
    """Give clause texts that arrived after the latest run the decision of their nearest curated
    medoid within ``max_distance`` edits; the rest wait in the unmapped queue."""
    settings_row = curation_settings(team)
    distance = settings_row.auto_label_distance if max_distance is None else max_distance
    if isinstance(distance, bool) or not isinstance(distance, int) or distance < 0:
        raise CurationError(f"max_distance must be a non-negative whole number, got {distance!r}")
    run = latest_run(team)
    if run is None:
        raise CurationError("no clustering run yet: cluster and curate before auto-labelling")
    cues = team_cues(team)
    sync_clauses(team, cues)
    new = unmapped_texts(team)
    curated = list(
        ProposedCluster.objects.filter(run=run, merged_into=None).exclude(verdict=Verdict.OPEN)
    )
    if not new or not curated:
        return AutoLabel(0, len(new))
    found = assign_to_medoids(
        [example for _, example, _ in new],
        [c.medoid_text for c in curated],
        distance,
        cues=cues,
        medoid_polarities=[c.polarity for c in curated],
    )
    matched = 0
    with transaction.atomic():
        touched = set()
        for (normalized, example, count), index in zip(new, found, strict=True):
            if index is None:
                continue
            cluster = curated[index]
            _decide(team, user, [normalized], verdict=cluster.verdict, label=cluster.label,
                    group=cluster.name, automatic=True)  # fmt: skip
            ClusterMember.objects.create(
                team=team, cluster=cluster, normalized=normalized, example=example[:500],
                polarity=cluster.polarity, count=count,
            )  # fmt: skip
            touched.add(cluster)
            matched += 1
        _refresh_counts(team, touched)
    return AutoLabel(matched, len(new) - matched)


def unmapped_texts(team: Team) -> list[tuple[str, str, int]]:
    """Clause texts with no decision and no cluster in the latest run: (normalized, example,
    occurrences), most written first."""
    run = latest_run(team)
    in_run = (
        set(ClusterMember.objects.filter(cluster__run=run).values_list("normalized", flat=True))
        if run
        else set()
    )
    decided = set(ClauseDecision.objects.of_team(team).values_list("normalized", flat=True))
    counts: Counter = Counter()
    examples: dict[str, str] = {}
    for normalized, text in ClauseOccurrence.objects.of_team(team).values_list(
        "normalized", "text"
    ):
        if normalized in in_run or normalized in decided:
            continue
        counts[normalized] += 1
        examples.setdefault(normalized, text)
    return [(n, examples[n], c) for n, c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]


@dataclass(frozen=True)
class UnmappedText:
    """One unmapped clause text with its polarities and a few reports that contain it."""

    normalized: str
    example: str
    count: int
    polarities: tuple[str, ...]
    reports: tuple[Report, ...]


def describe_unmapped(
    team: Team, rows: Sequence[tuple[str, str, int]], per_text: int = 3
) -> list[UnmappedText]:
    """Polarities and up to ``per_text`` sample reports for one page of ``unmapped_texts``."""
    texts = [normalized for normalized, _, _ in rows]
    polarities: dict[str, set[str]] = defaultdict(set)
    report_ids: dict[str, list[int]] = defaultdict(list)
    for normalized, pol, report_id in (
        ClauseOccurrence.objects.of_team(team)
        .filter(normalized__in=texts)
        .order_by("report_id")
        .values_list("normalized", "polarity", "report_id")
    ):
        polarities[normalized].add(pol)
        if len(report_ids[normalized]) < per_text and report_id not in report_ids[normalized]:
            report_ids[normalized].append(report_id)
    wanted = {pk for ids in report_ids.values() for pk in ids}
    reports = Report.objects.filter(pk__in=wanted).select_related("study").in_bulk()
    return [
        UnmappedText(
            normalized,
            example,
            count,
            tuple(sorted(polarities[normalized])),
            tuple(reports[pk] for pk in report_ids[normalized] if pk in reports),
        )  # fmt: skip
        for normalized, example, count in rows
    ]


@transaction.atomic
def decide_unmapped(
    team: Team, user, texts: Sequence[str], *, verdict: str, label_id: int | None = None
) -> list[str]:
    """Map unmapped clause texts to a label, no label, or ignore them.

    The decision is a ``ClauseDecision`` like any other, so re-clustering keeps it and undo
    takes it back. A text someone decided meanwhile is a conflict; the polarity rule of
    ``set_verdict`` holds (only affirmed text carries a disease; normal may be negated).
    """
    texts = sorted({str(text) for text in texts})
    if not texts:
        raise CurationError("select at least one clause text")
    if verdict not in (Verdict.LABEL, Verdict.NO_LABEL, Verdict.IGNORED):
        raise CurationError(f"unknown decision {verdict!r}; one of label, no_label, ignored")
    label = None
    if verdict == Verdict.LABEL:
        label = Label.objects.of_team(team).filter(pk=label_id).first() if label_id else None
        if label is None:
            raise CurationError(f"no label {label_id!r} in the vocabulary of team {team.name}")
    polarities: dict[str, set[str]] = defaultdict(set)
    for normalized, pol in (
        ClauseOccurrence.objects.of_team(team)
        .filter(normalized__in=texts)
        .values_list("normalized", "polarity")
    ):
        polarities[normalized].add(pol)
    missing = [text for text in texts if text not in polarities]
    if missing:
        raise CurationError(f"no clause {missing[0]!r} in the reports of team {team.name}")
    taken = list(
        ClauseDecision.objects.select_for_update()
        .of_team(team)
        .filter(normalized__in=texts)
        .values_list("normalized", flat=True)
    )
    if taken:
        raise ConflictError(f"{taken[0]!r} was decided by someone else meanwhile; reload")
    if label is not None and label.key != NORMAL:
        wrong = [text for text in texts if polarities[text] != {AFFIRMED}]
        if wrong:
            raise CurationError(
                f"{wrong[0]}: only affirmed clauses can carry {label.name_en!r}; "
                "a negated or hedged finding gets 'no label'"
            )
    before = {"clusters": {}, "decisions": dict.fromkeys(texts)}
    _decide(team, user, texts, verdict=verdict, label=label)
    after = _snapshot([], texts, team)
    shown = label.key if label else verdict
    summary = f"{texts[0]}{f' and {len(texts) - 1} more' if len(texts) > 1 else ''} → {shown}"
    _audit(team, user, verdict, summary, before, after)
    return texts


# --- per-image review ---------------------------------------------------------------------------


def _clean_label_keys(team: Team, keys: Sequence[str]) -> list[str]:
    known = [label.key for label in vocabulary(team)]
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise CurationError(f"unknown labels {unknown}; the vocabulary has {', '.join(known)}")
    return sorted(set(keys), key=known.index)


@transaction.atomic
def review_image(team: Team, user, review_id: int, *, labels: Sequence[str], version: int):
    """Accept the proposed labels of an image, or correct them."""
    review = ImageReview.objects.select_for_update().of_team(team).filter(pk=review_id).first()
    if review is None:
        raise CurationError(f"no review {review_id} in team {team.name}")
    _check_version("this review", review.version, version)
    keys = _clean_label_keys(team, labels)
    if not keys:
        raise CurationError("an image needs at least one label (normal is a label)")
    second = review.in_second_sample and review.status != ReviewStatus.PENDING
    if second and review.reviewer_id not in (None, user.pk):
        if review.second_labels is not None:
            raise ConflictError("this image already has its second review")
        review.second_labels, review.second_reviewer = keys, user
    else:
        review.labels, review.reviewer, review.reviewed_at = keys, user, timezone.now()
        # Keys come in vocabulary order, proposals in any order: compare them as sets.
        same = set(keys) == set(review.proposed)
        review.status = ReviewStatus.ACCEPTED if same else ReviewStatus.CORRECTED
    review.version += 1
    review.save()
    _audit(team, user, "review", f"image {review.instance_id}: {', '.join(keys)}", {}, {
        "review": review.pk, "labels": keys})  # fmt: skip
    return review


@dataclass(frozen=True)
class Disagreement:
    """A run confidently contradicting one label of one image: "missed" when the image has the
    label and the run scores it at most 1 - confidence, "unreported" when it lacks the label
    and the run scores it at least the confidence."""

    sop_uid: str
    label: str
    kind: str
    probability: float
    labels: tuple[str, ...] = ()  # the image's labels in the run's label set


@dataclass(frozen=True)
class QueuedEvidence:
    created: int = 0  # new pending reviews
    added: int = 0  # pending reviews that gained evidence
    reopened: int = 0  # decided reviews pending again, their decision still in force
    unchanged: int = 0  # every finding already recorded
    unknown: int = 0  # images no longer in the team


def queue_model_disagreements(
    team: Team, user, *, run_id: int, run_name: str, found: Sequence[Disagreement]
) -> QueuedEvidence:
    """Send a run's confident disagreements to the review queue, one review per image.

    An image without a review gets a pending one proposing its current labels (the mapping's,
    else the run's). A pending review gains the evidence. A decided one gains it and is pending
    again, proposing the labels decided before, which stay in force until a curator decides
    anew. A finding already recorded (same run, label and direction) changes nothing, so
    sending the same page twice is a no-op.
    """
    curation_settings(team)
    by_uid: dict[str, list[Disagreement]] = defaultdict(list)
    for item in found:
        by_uid[item.sop_uid].append(item)
    with transaction.atomic():
        # One sender at a time per team, never during a freeze: one review per image.
        CurationSettings.objects.select_for_update().get(team=team)
        instances = dict(
            Instance.objects.of_team(team).filter(sop_uid__in=list(by_uid)).values_list(
                "sop_uid", "pk")
        )  # fmt: skip
        reviews = {
            review.instance_id: review
            for review in ImageReview.objects.select_for_update()
            .of_team(team)
            .filter(instance_id__in=list(instances.values()))
        }
        vectors = current_vectors(team) if len(reviews) < len(instances) else None
        known = [label.key for label in vocabulary(team)]
        counts = Counter(unknown=len(by_uid) - len(instances))
        sent_at = timezone.now().isoformat()
        for sop_uid, pk in sorted(instances.items()):
            entries = [
                {"run": run_id, "run_name": run_name, "label": item.label, "kind": item.kind,
                 "probability": round(float(item.probability), 4), "sent_at": sent_at}
                for item in by_uid[sop_uid]
            ]  # fmt: skip
            review = reviews.get(pk)
            if review is None:
                proposed = _proposal(vectors, sop_uid, by_uid[sop_uid][0].labels, known)
                ImageReview.objects.create(team=team, instance_id=pk, proposed=proposed,
                                           reason=ReviewReason.MODEL, evidence=entries)  # fmt: skip
                counts["created"] += 1
            else:
                counts[_add_evidence(review, entries)] += 1
        result = QueuedEvidence(**counts)
        _audit(team, user, "model review", f"run {run_id}: {len(instances)} image(s) to review",
               {}, {"run": run_id, **result.__dict__})  # fmt: skip
    return result


def _proposal(vectors: Vectors, sop_uid: str, run_labels: Sequence[str], known: list[str]):
    """What the next label set would hold for an image nobody reviewed: the mapping's labels
    (normal too when it conflicts), else the labels of the run's label set."""
    labels = vectors.labels.get(sop_uid)
    if labels:
        return [NORMAL, *labels] if sop_uid in vectors.conflicts else list(labels)
    return sorted((k for k in set(run_labels) if k in known), key=known.index)


def _add_evidence(review: ImageReview, entries: list[dict]) -> str:
    """Record the findings the review lacks; a decided review is pending again."""
    recorded = {(e.get("run"), e.get("label"), e.get("kind")) for e in review.evidence}
    new = [e for e in entries if (e["run"], e["label"], e["kind"]) not in recorded]
    if not new:
        return "unchanged"
    review.evidence = [*review.evidence, *new]
    outcome = "added"
    if review.status != ReviewStatus.PENDING:
        review.status, review.proposed, outcome = ReviewStatus.PENDING, review.labels, "reopened"
    review.version += 1
    review.save(update_fields=["evidence", "status", "proposed", "version"])
    return outcome


@transaction.atomic
def sample_for_second_review(team: Team, user, *, size: int, seed: int = 0) -> int:
    """Put a random sample of reviewed images in front of a second curator."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise CurationError(f"size must be a positive whole number, got {size!r}")
    done = list(
        ImageReview.objects.select_for_update()
        .of_team(team)
        .exclude(status=ReviewStatus.PENDING)
        .filter(in_second_sample=False)
        .order_by("pk")
    )
    chosen = random.Random(seed).sample(done, min(size, len(done)))
    ImageReview.objects.filter(pk__in=[r.pk for r in chosen]).update(in_second_sample=True)
    return len(chosen)


def agreement(team: Team) -> dict:
    """Cohen's kappa per label between first and second reviews of the sampled images."""
    pairs = list(
        ImageReview.objects.of_team(team)
        .filter(in_second_sample=True, second_labels__isnull=False)
        .values_list("labels", "second_labels")
    )
    rows = []
    for label in vocabulary(team):
        first = [label.key in (a or []) for a, _ in pairs]
        second = [label.key in (b or []) for _, b in pairs]
        kappa = tables.cohen_kappa(first, second)
        rows.append({"key": label.key, "en": label.name_en, "zh": label.name_zh,
                     "kappa": None if kappa is None else round(kappa, 3)})  # fmt: skip
    return {"pairs": len(pairs), "labels": rows}


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
