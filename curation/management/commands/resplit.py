"""``manage.py resplit --team T [--json]``: re-split the team's stored reports with its current
cue lists and terminators, as saving them on the cue page does.

Run it after an upgrade of the splitter: it says how many clauses were added, removed and
changed polarity, and how many curated decisions lost their clause text (the splitter now
divides it or joins it to a neighbour) and wait on the review page. Frozen label sets and the
clusters of earlier runs keep what they hold; the next clustering run uses the new clauses.
"""

from curation import services
from teams.management.base import LabCommand


class Command(LabCommand):
    help = "Re-split the team's reports into clauses with its cues and terminators."

    def handle(self, *args, **options) -> None:
        team = self.team(options["team"])
        sync = services.resplit_reports(team)
        summary = {
            "team": team.name,
            "reports": sync.reports,
            "clauses": sync.clauses,
            "added": sync.added,
            "removed": sync.removed,
            "changed_polarity": sync.changed,
            "decisions_to_review": sync.to_review,
        }
        self.emit(
            summary,
            f"{team.name}: {sync.reports} reports re-split into {sync.clauses} clauses; "
            f"{sync.added} added, {sync.removed} removed, {sync.changed} changed polarity; "
            f"{sync.to_review} decisions to review",
        )
