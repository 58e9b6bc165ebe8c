"""State changes for teams and memberships, each in one transaction."""

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from .models import Membership, Role, Team


class TeamError(ValueError):
    """A team operation a user asked for that cannot be done; the message says why."""


def create_team(name: str) -> Team:
    name = " ".join(name.split())
    if not name:
        raise TeamError("a team needs a non-empty name")
    if Team.objects.filter(name__iexact=name).exists():
        raise TeamError(f"a team named {name!r} already exists")
    slug = slugify(name, allow_unicode=True)
    if slug and Team.objects.filter(slug=slug).exists():
        raise TeamError(f"a team with the slug {slug!r} already exists")
    try:
        with transaction.atomic():
            return Team.objects.create(name=name)
    except IntegrityError:
        raise TeamError(f"a team named {name!r} already exists") from None


@transaction.atomic
def add_member(team: Team, user, role: str) -> Membership:
    if role not in Role.values:
        raise TeamError(f"unknown role {role!r}; roles: {', '.join(Role.values)}")
    membership, _created = Membership.objects.update_or_create(
        team=team, user=user, defaults={"role": role}
    )
    return membership
