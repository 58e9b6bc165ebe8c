"""Report clauses: the team's reports split into clauses, each normalised, with its polarity."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from labeling.models import Report
from labeling.text import CueLists, read_clause, split_clauses
from teams.models import Team

from ..models import ClauseOccurrence
from .team_settings import team_cues


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
