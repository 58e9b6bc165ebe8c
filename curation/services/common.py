"""What every curation change shares: the two errors it may raise, the version check that
turns a stale write into a conflict, and the audit entry it leaves.

Two curators may act on the same rows at once. Each action locks the rows it changes
(``select_for_update``, in primary-key order so two actions never deadlock) and compares the
versions the caller read with the stored ones: a stale version raises ``ConflictError`` (HTTP
409) and nothing changes. Each action writes an ``AuditEntry`` with the state before and after.
"""

from __future__ import annotations

from teams.models import Team

from ..models import AuditEntry


class CurationError(ValueError):
    """A curation request that cannot be done as asked; the message says why (HTTP 400)."""


class ConflictError(CurationError):
    """Someone changed the rows since the caller read them (HTTP 409)."""


def _check_version(what: str, stored: int, given: int | None) -> None:
    if given is None:
        raise CurationError(f"{what}: give the version you read (field 'version')")
    if int(given) != stored:
        raise ConflictError(
            f"{what} was changed by someone else (version {given} is now {stored}); "
            "reload and try again"
        )


def _audit(team: Team, user, action: str, summary: str, before: dict, after: dict) -> AuditEntry:
    return AuditEntry.objects.create(
        team=team, user=user, action=action, summary=summary[:300], before=before, after=after
    )
