"""First start of an embedded install: a demo team, its admin with a fresh password, demo data.

The admin is the team's, not a Django superuser: the Django admin shows every team's rows, so it
belongs to operators made with ``createsuperuser`` (README, "Access").
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command

from labeling.models import Study
from teams import services
from teams.management.base import LabCommand
from teams.models import Role, Team


class Command(LabCommand):
    help = "Create the demo team and an admin user (password printed once), then demo data."
    takes_team = False

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--team", default="Demo")
        parser.add_argument("--username", default="admin")
        parser.add_argument("--images", type=int, default=300)
        parser.add_argument("--size", type=int, default=512)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, **options) -> None:
        team = Team.objects.filter(name=options["team"]).first() or services.create_team(
            options["team"]
        )
        password = self._ensure_admin(options["username"], team)
        if not Study.objects.of_team(team).exists() and options["images"] > 0:
            call_command(
                "demo",
                team=team.name,
                images=options["images"],
                size=options["size"],
                seed=options["seed"],
                enriched=True,  # enough of each label for all three tasks (synth/demo.py)
                stdout=self.stdout,
                stderr=self.stderr,
            )
        summary = {"team": team.name, "username": options["username"], "password": password}
        if password:
            text = (
                f"\n  CXR Lab is starting at {options['url']}\n"
                f"  Log in as {options['username']} with password {password}\n"
                "  (shown once; change it with: manage.py changepassword "
                f"{options['username']})\n"
            )
        else:
            text = (
                f"\n  CXR Lab is starting at {options['url']}\n"
                f"  The user {options['username']} already exists; forgot the password? "
                f"manage.py changepassword {options['username']}\n"
            )
        self.emit(summary, text)

    def _ensure_admin(self, username: str, team: Team) -> str | None:
        """Returns the new password, or None when the user already existed."""
        users = get_user_model().objects
        user = users.filter(username=username).first()
        password = None
        if user is None:
            password = secrets.token_urlsafe(12)
            user = users.create_user(username=username, email="", password=password)
        services.add_member(team, user, Role.ADMIN)
        return password
