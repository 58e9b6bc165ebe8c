"""What every CXR Lab command shares: --team, --json, a progress bar, one-line errors."""

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from teams.models import Team


class LabCommand(BaseCommand):
    """Expected failures become one ``CommandError`` line and exit status 1, never a traceback."""

    # Errors a user can cause (bad paths, full disks, bad values) and fix from the message.
    user_errors: tuple[type[BaseException], ...] = (OSError, ValueError)
    takes_team = True

    def add_arguments(self, parser) -> None:
        if self.takes_team:
            parser.add_argument("--team", required=True, help="team name or slug")
        parser.add_argument(
            "--json", action="store_true", help="print a machine-readable summary on stdout"
        )

    def execute(self, *args, **options) -> Any:
        self.as_json = options.get("json", False)
        try:
            return super().execute(*args, **options)
        except self.user_errors as exc:
            raise CommandError(_one_line(exc)) from exc

    def team(self, name: str) -> Team:
        team = Team.objects.filter(name=name).first() or Team.objects.filter(slug=name).first()
        if team is None:
            known = ", ".join(Team.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"unknown team {name!r} (teams: {known})")
        return team

    def progress(self, items: Iterable, total: int, label: str) -> Iterator:
        """A bar on an interactive terminal; silent in --json mode and in logs."""
        show = not self.as_json and sys.stderr.isatty()
        return iter(tqdm(items, total=total, desc=label, unit="file", disable=not show))

    def counter(self, total: int, label: str) -> tqdm:
        """A bar to advance by hand, for work reported through a callback."""
        show = not self.as_json and sys.stderr.isatty()
        return tqdm(total=total, desc=label, unit="image", disable=not show)

    def emit(self, summary: dict, text: str) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, default=str))
        else:
            self.stdout.write(text)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    return " ".join(str(exc).split()) or type(exc).__name__
