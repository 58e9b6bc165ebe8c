"""``drf_create_token USER [--reset]``: a new API token, printed once (only its SHA-256 is kept).

The name and the output line are those of DRF's command, which scripts parse
(``Generated token <key> for user <name>``); unlike DRF's, it never shows a token again.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from teams.management.base import LabCommand
from teams.tokens import issue_token


class Command(LabCommand):
    help = "Create an API token for a user and print it once (it is stored hashed)."
    takes_team = False

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("username")
        parser.add_argument(
            "-r", "--reset", action="store_true", help="revoke the user's other tokens first"
        )

    def handle(self, *args, **options) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"unknown user {options['username']!r}")
        key = issue_token(user, replace=options["reset"])
        self.emit(
            {"username": user.username, "token": key},
            f"Generated token {key} for user {user.username}\n"
            "(shown once: only its hash is stored; revoke it in the Django admin or with --reset)",
        )
