"""Report clauses: the team's reports split into clauses, each normalised, with its polarity and
whether it states normality.

The clauses are rebuilt from the reports whenever they are needed (a clustering run, auto-
labelling) and whenever the team's cues or terminators change (``update_cues``): the splitter
reads both, so new cues can move clause boundaries as well as polarities. Every rebuild compares
the new clauses with the stored ones, per report, and says how many were added, removed, or
changed polarity.

Curated decisions are keyed by normalised clause text. A decided text that no report holds any
more after a rebuild (the splitter now divides it, or joins it to a neighbour) keeps its decision
and is flagged for review with the text as written and the clauses that replace it; a flagged
text that comes back (the terminator is removed again) is unflagged. Frozen label sets and the
clusters of earlier runs are never touched: only new runs see the new clauses.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db import transaction

from labeling.models import Report
from labeling.text import CueLists, normalize, read_clause, split_clauses
from teams.models import Team

from ..models import ClauseDecision, ClauseOccurrence, ResplitReview
from .common import CurationError, _audit


@dataclass(frozen=True)
class ClauseSync:
    """What a rebuild found: reports and clauses, and how the clauses moved against the stored
    ones (``added``, ``removed``, ``changed`` polarity; one report's clause counted once) and how
    many decided texts it flagged for review (``to_review``)."""

    reports: int
    clauses: int
    empty_reports: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    to_review: int = 0


# (report id, normalised text) -> the polarities of its occurrences in that report
_Keyed = dict[tuple[int, str], list[str]]


def sync_clauses(team: Team, cues: CueLists) -> ClauseSync:
    """Rebuild the team's clause occurrences from its reports' diagnoses, in one transaction,
    and flag the decisions whose text the new clauses no longer hold."""
    rows, empty, reports = [], 0, 0
    readings: dict[str, tuple[str, str, bool]] = {}
    for report in Report.objects.of_team(team).only("id", "study_id", "diagnosis"):
        reports += 1
        clauses = split_clauses(report.diagnosis or "", cues)
        if not clauses:
            empty += 1
        for position, text in enumerate(clauses):
            if text not in readings:
                reading = read_clause(text, cues)
                readings[text] = (reading.normalized, reading.polarity, reading.normal)
            normalized, pol, normal = readings[text]
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
                    normal=normal,
                )
            )
    with transaction.atomic():
        stored = ClauseOccurrence.objects.of_team(team)
        old = list(stored.values_list("report_id", "normalized", "polarity", "text"))
        stored.delete()
        ClauseOccurrence.objects.bulk_create(rows, batch_size=2000)
        new = [(row.report_id, row.normalized, row.polarity, row.text) for row in rows]
        added, removed, changed = _compare(_keyed(old), _keyed(new))
        to_review = _flag_for_review(team, cues, old, new)
    return ClauseSync(reports, len(rows), empty, added, removed, changed, to_review)


def _keyed(occurrences: list[tuple[int, str, str, str]]) -> _Keyed:
    keyed: _Keyed = defaultdict(list)
    for report_id, normalized, pol, _text in occurrences:
        keyed[(report_id, normalized)].append(pol)
    return keyed


def _compare(old: _Keyed, new: _Keyed) -> tuple[int, int, int]:
    """Clauses added, removed and changed in polarity, report by report."""
    added = removed = changed = 0
    for key in old.keys() | new.keys():
        before, after = old.get(key, []), new.get(key, [])
        if len(after) > len(before):
            added += len(after) - len(before)
        else:
            removed += len(before) - len(after)
        common = min(len(before), len(after))
        kept = sum((Counter(before) & Counter(after)).values())
        changed += common - kept
    return added, removed, changed


def _flag_for_review(
    team: Team,
    cues: CueLists,
    old: list[tuple[int, str, str, str]],
    new: list[tuple[int, str, str, str]],
) -> int:
    """Flag the decisions whose text was written before this rebuild and nowhere after it;
    unflag those whose text is written again. Returns how many are flagged now."""
    now = {normalized for _, normalized, _, _ in new}
    before: dict[str, tuple[int, str]] = {}
    for report_id, normalized, _pol, text in old:
        before.setdefault(normalized, (report_id, text))
    decisions = ClauseDecision.objects.of_team(team).select_for_update()
    # Texts are matched here, not in SQL: a team's texts can outnumber SQLite's IN-list limit.
    back = [pk for pk, text in decisions.exclude(review="").values_list("pk", "normalized")
            if text in now]  # fmt: skip
    decisions.filter(pk__in=back).update(review="", review_text="", review_pieces=[])
    by_report: dict[int, list[str]] = defaultdict(list)
    for report_id, _normalized, _pol, text in new:
        by_report[report_id].append(text)
    for decision in decisions.filter(review=""):
        if decision.normalized in now or decision.normalized not in before:
            continue
        report_id, text = before[decision.normalized]
        review, pieces = _replacement(text, by_report[report_id], cues)
        decision.review, decision.review_text, decision.review_pieces = review, text, pieces
        decision.save(update_fields=["review", "review_text", "review_pieces"])
    return ClauseDecision.objects.of_team(team).exclude(review="").count()


def _replacement(text: str, report_clauses: list[str], cues: CueLists) -> tuple[str, list[str]]:
    """Why a written clause is gone and what replaces it: the pieces the splitter now cuts it
    into, or else the report's new clauses that contain it (it was joined to a neighbour)."""
    pieces = split_clauses(text, cues)
    if len(pieces) > 1:
        return ResplitReview.DIVIDED, pieces
    wanted = normalize(text)
    holding = [clause for clause in report_clauses if wanted and wanted in normalize(clause)]
    return ResplitReview.JOINED, holding or report_clauses


def decisions_to_review(team: Team) -> list[ClauseDecision]:
    """Decisions a re-split left without their text, most recently changed first."""
    return list(
        ClauseDecision.objects.of_team(team)
        .exclude(review="")
        .select_related("label")
        .order_by("-updated_at", "normalized")
    )


@transaction.atomic
def settle_review(team: Team, user, decision_id: int) -> ClauseDecision:
    """A curator has seen a flagged decision: it leaves the review list and stays on record
    (its text may come back). The new clauses take their decisions in the workspace."""
    decision = (
        ClauseDecision.objects.select_for_update().of_team(team).filter(pk=decision_id).first()
    )
    if decision is None or not decision.review:
        raise CurationError(f"no decision {decision_id!r} waits for review in team {team.name}")
    before = {"review": decision.review, "text": decision.review_text,
              "pieces": decision.review_pieces}  # fmt: skip
    decision.review, decision.review_text, decision.review_pieces = "", "", []
    decision.save(update_fields=["review", "review_text", "review_pieces", "updated_at"])
    _audit(team, user, "settle_review", f"reviewed after re-split: {before['text']}"[:300],
           {"decision": decision.normalized, **before}, {"decision": decision.normalized})  # fmt: skip
    return decision
