"""Team administration: ``teams create NAME``, ``teams add-member NAME USER --role R``, ``teams list``."""

import argparse

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from teams import services
from teams.management.base import LabCommand
from teams.models import Role, Team


class Command(LabCommand):
    help = "Create teams, add members with a role, list teams."
    takes_team = False

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        actions = parser.add_subparsers(dest="action", required=True)
        # --json is accepted after the action too: `teams list --json`.
        json_flag = {"action": "store_true", "default": argparse.SUPPRESS, "help": "print JSON"}
        create = actions.add_parser("create", help="create a team")
        create.add_argument("--json", **json_flag)
        create.add_argument("name")
        add = actions.add_parser("add-member", help="add a user to a team (or change the role)")
        add.add_argument("name")
        add.add_argument("username")
        add.add_argument("--role", choices=Role.values, default=Role.VIEWER)
        add.add_argument("--json", **json_flag)
        actions.add_parser("list", help="list teams with their members").add_argument(
            "--json", **json_flag
        )

    def handle(self, *args, **options) -> None:
        getattr(self, "_" + options["action"].replace("-", "_"))(options)

    def _create(self, options) -> None:
        team = services.create_team(options["name"])
        self.emit({"id": team.pk, "name": team.name, "slug": team.slug}, f"created {team.name}")

    def _add_member(self, options) -> None:
        team = self.team(options["name"])
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"unknown user {options['username']!r}")
        membership = services.add_member(team, user, options["role"])
        self.emit(
            {"team": team.name, "username": user.username, "role": membership.role},
            f"{user.username} is {membership.role} in {team.name}",
        )

    def _list(self, options) -> None:
        teams = Team.objects.prefetch_related("memberships__user")
        rows = [
            {
                "name": team.name,
                "slug": team.slug,
                "members": {m.user.username: m.role for m in team.memberships.all()},
            }
            for team in teams
        ]
        text = "\n".join(
            f"{row['name']} ({row['slug']}): "
            + (", ".join(f"{u} [{r}]" for u, r in row["members"].items()) or "no members")
            for row in rows
        )
        self.emit({"teams": rows}, text or "no teams")
