"""Admin commands: what they print, what they change, and one clear line when input is bad."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from teams.models import Membership, Team

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, tmp_path) -> subprocess.CompletedProcess:
    """Runs a command as an operator would, in its own process with its own SQLite database."""
    env = {**os.environ, "DEBUG": "1", "CXR_DATA_DIR": str(tmp_path / "var")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def run_json(*args: str) -> dict:
    from io import StringIO

    out = StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_teams_create_add_member_and_list(db):
    get_user_model().objects.create_user("alice")
    assert run_json("teams", "create", "Chest Unit")["slug"] == "chest-unit"
    added = run_json("teams", "add-member", "Chest Unit", "alice", "--role", "curator")
    assert added == {"team": "Chest Unit", "username": "alice", "role": "curator"}
    run_json("teams", "add-member", "chest-unit", "alice", "--role", "ml-engineer")
    assert Membership.objects.get(user__username="alice").role == "ml-engineer"
    listed = run_json("teams", "list")["teams"]
    assert listed == [
        {"name": "Chest Unit", "slug": "chest-unit", "members": {"alice": "ml-engineer"}}
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (("teams", "add-member", "Nowhere", "alice"), "unknown team 'Nowhere'"),
        (("teams", "add-member", "Chest", "nobody"), "unknown user 'nobody'"),
        (("teams", "create", "chest"), "a team named 'chest' already exists"),
        (("teams", "create", "   "), "a team needs a non-empty name"),
        (("demo", "--team", "Nowhere", "--images", "2"), "unknown team 'Nowhere'"),
        (("demo", "--team", "Chest", "--images", "-3"), "--images must be at least 1, got -3"),
        (("ingest", "--team", "Chest", "/no/such/dir"), "no such file or folder: /no/such/dir"),
    ],
)
def test_bad_input_is_a_command_error_and_changes_nothing(db, args, message):
    Team.objects.create(name="Chest")
    get_user_model().objects.create_user("alice")
    before = (Team.objects.count(), Membership.objects.count())
    with pytest.raises(CommandError, match=message):
        call_command(*args)
    assert (Team.objects.count(), Membership.objects.count()) == before


def test_operator_sees_one_line_and_a_failing_exit_status(tmp_path):
    assert manage("migrate", "-v0", tmp_path=tmp_path).returncode == 0
    assert manage("teams", "create", "Chest", tmp_path=tmp_path).returncode == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for args in (
        ("teams", "add-member", "Nowhere", "bob"),
        ("demo", "--team", "Chest", "--images", "-1"),
        ("demo", "--team", "Chest", "--images", "2", "--size", "64", "--out", str(blocker / "x")),
    ):
        result = manage(*args, tmp_path=tmp_path)
        assert result.returncode != 0, args
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("CommandError: "), result.stderr
        assert "Traceback" not in result.stderr


def test_bootstrap_prints_a_fresh_password_once_and_creates_demo_data(tmp_path):
    assert manage("migrate", "-v0", tmp_path=tmp_path).returncode == 0
    first = manage("bootstrap", "--images", "3", "--size", "64", "--json", tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["team"] == "Demo" and len(summary["password"]) >= 12
    second = manage("bootstrap", "--images", "3", "--size", "64", "--json", tmp_path=tmp_path)
    assert json.loads(second.stdout.strip().splitlines()[-1])["password"] is None
    # The printed password logs in; the demo team has its studies (and only once). The admin is
    # the team's: no Django superuser or staff, since the Django admin shows every team.
    check = (
        "from django.contrib.auth import authenticate;"
        "from labeling.models import Study;"
        "from teams.models import Membership;"
        f"user = authenticate(username='admin', password={summary['password']!r});"
        "assert user and not user.is_superuser and not user.is_staff;"
        "assert Membership.objects.get(user=user, team__name='Demo').role == 'admin';"
        "print(Study.objects.filter(team__name='Demo').count())"
    )
    counted = manage("shell", "--no-imports", "-c", check, tmp_path=tmp_path)
    assert counted.stdout.strip() == "3", counted.stderr
