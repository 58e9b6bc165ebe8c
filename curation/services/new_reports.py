"""Reports that arrive after curation: auto-labelling their clauses from curated medoids, and
the queue of clause texts still unmapped (listing and deciding them).

Auto-labelling measures with the default, normalised distance (``labeling.clustering``'s
``DEFAULT_DISTANCE``, after the team's synonym table) whatever distance the run used, so the
team's threshold ``auto_label_distance`` has one unit: a share of the clause's length in
[0, 1] (0.25: a quarter of the characters edited). Before, it counted edits; migration
``0007_cluster_outliers`` converted stored values.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from labeling.clustering import DEFAULT_DISTANCE, assign_to_medoids
from labeling.models import Report
from labeling.text import AFFIRMED
from labeling.vocabulary import NORMAL
from teams.models import Team

from ..models import (
    ClauseDecision,
    ClauseOccurrence,
    ClusterMember,
    Label,
    ProposedCluster,
    Verdict,
)
from .actions import _decide, _snapshot
from .clauses import sync_clauses
from .clusters import _refresh_counts
from .common import ConflictError, CurationError, _audit
from .runs import latest_run, synonym_pairs
from .team_settings import curation_settings, team_cues


@dataclass(frozen=True)
class AutoLabel:
    matched: int
    unmapped: int


def check_auto_label_distance(value) -> float:
    """A normalised auto-label distance: a number from 0 to 1 (a share of the clause)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise CurationError(
            f"max_distance is a normalised distance, a share of the clause's length from 0 to "
            f"1 (0.25: a quarter of its characters edited), got {value!r}"
        )
    return float(value)


def auto_label_new_reports(team: Team, user=None, max_distance: float | None = None) -> AutoLabel:
    """Give clause texts that arrived after the latest run the decision of their nearest curated
    medoid within ``max_distance`` (normalised, 0 to 1; default: the team's setting); the rest
    wait in the unmapped queue."""
    settings_row = curation_settings(team)
    threshold = check_auto_label_distance(
        settings_row.auto_label_distance if max_distance is None else max_distance
    )
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
        threshold,
        cues=cues,
        medoid_polarities=[c.polarity for c in curated],
        distance=DEFAULT_DISTANCE,
        synonyms=synonym_pairs(settings_row.synonyms),
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
