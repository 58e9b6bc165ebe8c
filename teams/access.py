"""The one shared mechanism that decides who sees what.

Every team-owned model uses ``TeamScopedQuerySet``; HTML views, the API and DICOMweb all go through
``visible(...)`` / ``get_visible_or_404(...)`` or ``TeamScopedViewSetMixin``, so another team's
object is a 404 on every path, never a 403 that would confirm it exists.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from .models import Membership, Role, Team

# What each role may do besides reading (which is membership itself: ``visible``). These are the
# README's role table ("Access"); tests/lab/test_roles.py reads that table and holds both these
# sets and the pages and API to it.
CAN_EXPLAIN = set(Role.values)  # ask for a Grad-CAM map: it changes no data
CAN_IMPORT = {Role.ADMIN, Role.CURATOR}
CAN_CURATE = {Role.ADMIN, Role.CURATOR}
CAN_FREEZE = {Role.ADMIN, Role.CURATOR}
CAN_TRAIN = {Role.ADMIN, Role.ML_ENGINEER}
CAN_CONFIGURE_PACS = {Role.ADMIN}


def teams_for(user) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user)


def visible(model_or_queryset: type[Model] | QuerySet, user) -> QuerySet:
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, QuerySet)
        else model_or_queryset._default_manager.all()
    )
    if queryset.model is Team:
        return queryset.filter(pk__in=teams_for(user).values("pk"))
    return queryset.visible_to(user)


def get_visible_or_404(model_or_queryset: type[Model] | QuerySet, user, **lookup) -> Model:
    queryset = visible(model_or_queryset, user)
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        # A malformed id is as unknown as a missing one.
        raise Http404 from None


def role_in(user, team: Team) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()


def require_role(user, team: Team, allowed: set[str]) -> str:
    """A member without the right role gets 403; a non-member never reaches here (404 first)."""
    role = role_in(user, team)
    if role is None:
        raise Http404
    if role not in allowed:
        raise PermissionDenied(f"your role in {team.name} ({role}) cannot do this")
    return role


class TeamScopedViewSetMixin:
    """DRF: querysets are the caller's teams' rows, whatever the view declares."""

    def get_queryset(self):
        return visible(super().get_queryset(), self.request.user)


def writable_team(user, key: str | int | None, allowed: set[str], default: Team | None) -> Team:
    """The team a write goes to: the one named by ``key`` (id or slug), else ``default`` (the
    active team). Not a member: 404. A member whose role may not do this: 403."""
    if key not in (None, ""):
        teams = teams_for(user)
        team = (
            teams.filter(pk=int(key)).first()
            if str(key).isdigit()
            else teams.filter(slug=str(key)).first()
        )
    else:
        team = default or teams_for(user).first()
    if team is None:
        raise Http404
    require_role(user, team, allowed)
    return team
