"""A team's distance settings: the synonym table the default distance applies before comparing
clauses, and the auto-label threshold, a normalised distance (a share of the clause's length).

The synonym table is a list of groups, each ``[canonical, variant, ...]``: before two clauses
are compared, every variant is read as its group's canonical form (心影增宽 → 心影增大); a group
whose canonical form is empty drops its variants (左侧, 少量: words that do not change which
finding it is). A new clustering run takes a snapshot of the table; runs already stored keep
the one they used.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from labeling.distance import MAX_SYNONYM_CHARS, Synonyms
from labeling.text import normalize
from teams.models import Team

from ..models import CurationSettings
from .common import CurationError, _audit, _check_version
from .new_reports import check_auto_label_distance
from .runs import synonym_pairs
from .team_settings import curation_settings

MAX_GROUPS = 500
MAX_VARIANT = MAX_SYNONYM_CHARS


def parse_synonyms(text: str) -> list[list[str]]:
    """One group per line, its forms separated by ``=``, the canonical form first
    (``心影增大 = 心影增宽 = 心脏增大``; ``= 左侧 = 少量`` drops those words); blank lines are
    skipped. Checked by ``check_synonyms``."""
    return [
        [form.strip() for form in line.split("=")] for line in text.splitlines() if line.strip()
    ]


def format_synonyms(groups: Sequence[Sequence[str]]) -> str:
    return "\n".join(" = ".join(group) for group in groups)


def check_synonyms(groups) -> list[list[str]]:
    """The groups with each form normalised as clauses are (``labeling.text.normalize``).

    Refused, with the line that says why: a group of fewer than two forms, an empty or too long
    variant (the canonical form may be empty: the variants are dropped), a form written twice,
    or a form in two groups (it could not mean both).
    """
    if not isinstance(groups, list | tuple):
        raise CurationError("the synonym table is a list of groups of forms")
    if len(groups) > MAX_GROUPS:
        raise CurationError(f"at most {MAX_GROUPS} synonym groups, got {len(groups)}")
    seen: dict[str, int] = {}
    checked = []
    for line, group in enumerate(groups, start=1):
        if not isinstance(group, list | tuple) or not all(isinstance(f, str) for f in group):
            raise CurationError(f"synonym group {line}: a group is a list of texts")
        forms = [normalize(form) for form in group]
        if any(not form for form in forms[1:]):
            raise CurationError(f"synonym group {line}: a form is empty (two '=' in a row?)")
        if len(forms) < 2:
            raise CurationError(
                f"synonym group {line} ({forms[0] if forms else ''}): give at least two forms, "
                "the canonical one first, separated by '='"
            )
        for form in filter(None, forms):
            if len(form) > MAX_VARIANT:
                raise CurationError(
                    f"synonym group {line}: {form[:20]}… is longer than {MAX_VARIANT} characters"
                )
            if form in seen:
                where = "twice in this group" if seen[form] == line else f"in group {seen[form]}"
                raise CurationError(f"synonym group {line}: {form} is already {where}")
            seen[form] = line
        checked.append(forms)
    try:  # what the clustering itself will require of the table
        Synonyms.from_pairs(synonym_pairs(checked))
    except ValueError as exc:
        raise CurationError(str(exc)) from None
    return checked


@transaction.atomic
def update_distance_settings(
    team: Team, user, *, synonyms, auto_label_distance, version: int
) -> CurationSettings:
    """Replace the team's synonym table and auto-label threshold (quote the version you read)."""
    groups = check_synonyms(synonyms)
    threshold = check_auto_label_distance(auto_label_distance)
    curation_settings(team)
    row = CurationSettings.objects.select_for_update().get(team=team)
    _check_version("distance settings", row.version, version)
    before = {"synonyms": row.synonyms, "auto_label_distance": row.auto_label_distance}
    row.synonyms, row.auto_label_distance = groups, threshold
    row.version += 1
    row.save(update_fields=["synonyms", "auto_label_distance", "version", "updated_at"])
    after = {"synonyms": groups, "auto_label_distance": threshold}
    _audit(team, user, "distance_settings",
           f"{len(groups)} synonym groups, auto-label distance {threshold:g}", before, after)  # fmt: skip
    return row
