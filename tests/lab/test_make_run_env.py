"""After ``make run``, the README's ``manage.py`` commands work in a new shell as written: no
DEBUG=1 and no SECRET_KEY to set (lab/localenv.py). Production still refuses to start without a
key: the file is manage.py's only, and a shell that sets DEBUG or SECRET_KEY ignores it."""

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from lab import localenv

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def new_shell(tmp_path, **env) -> dict:
    """A fresh login's environment: no DEBUG, SECRET_KEY, DATABASE_URL or REDIS_URL."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)),
            "CXR_DATA_DIR": str(tmp_path / "var"), **env}  # fmt: skip


def make_run_setup(tmp_path, **env) -> subprocess.CompletedProcess:
    """The step of ``make run`` that records its environment (its other steps need no test)."""
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        ["make", "-s", "local-env", f"BIN={bin_dir}"], cwd=ROOT, env=new_shell(tmp_path, **env),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def manage(line: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *shlex.split(line)], cwd=ROOT,
        env=new_shell(tmp_path, **env), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def readme_line(command: str) -> str:
    """A README command line without its optional parts and comment."""
    line = re.search(rf"^manage\.py ({command} [^\[#\n]*)", README, re.M).group(1)
    return line.strip()


def test_the_readme_s_commands_work_in_a_new_shell_after_make_run(tmp_path):
    database = tmp_path / "chosen.sqlite3"
    setup = make_run_setup(tmp_path, DATABASE_URL=f"sqlite:///{database}")
    assert setup.returncode == 0, setup.stderr
    recorded = tmp_path / "var" / localenv.FILE_NAME
    assert stat.S_IMODE(recorded.stat().st_mode) == 0o600
    assert "DEBUG=1" in recorded.read_text() and "SECRET_KEY=" not in recorded.read_text()

    steps = ["migrate -v0", "bootstrap --images 0",  # what make run does next
             "createsuperuser --noinput --username alice --email alice@example.org",
             readme_line("teams create"), readme_line("teams add-member"),
             readme_line("drf_create_token")]  # fmt: skip
    for step in steps:
        result = manage(step, tmp_path)
        assert result.returncode == 0, (step, result.stderr)
        assert "SECRET_KEY" not in result.stderr
    assert "Generated token" in result.stdout
    listed = manage("teams list --json", tmp_path)
    teams = {team["name"]: team for team in json.loads(listed.stdout)["teams"]}
    assert teams["Radiology"]["members"] == {"alice": "curator"}
    assert database.is_file()  # the database make run was given, not the default one


def test_a_shell_that_sets_debug_or_secret_key_is_in_charge(tmp_path):
    assert make_run_setup(tmp_path).returncode == 0
    refused = manage("check", tmp_path, DEBUG="0")
    assert refused.returncode != 0 and "SECRET_KEY is not set" in refused.stderr
    assert manage("check", tmp_path, SECRET_KEY="k" * 60).returncode == 0  # production mode


def test_without_make_run_a_command_still_needs_a_key(tmp_path):
    refused = manage("check", tmp_path)
    assert refused.returncode != 0 and "SECRET_KEY is not set" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_only_the_recorded_names_are_read_back(tmp_path):
    folder = tmp_path / "var"
    folder.mkdir()
    (folder / localenv.FILE_NAME).write_text(
        "# comment\nDEBUG=1\nSECRET_KEY=planted\nPYTHONPATH=/tmp/evil\nREDIS_URL=redis://x/3\n"
    )
    environ = {"CXR_DATA_DIR": str(folder), "REDIS_URL": "redis://mine/1"}
    assert localenv.load(environ) == {"DEBUG": "1"}
    assert environ["REDIS_URL"] == "redis://mine/1"  # the shell's own value wins
    assert "SECRET_KEY" not in environ and "PYTHONPATH" not in environ
    assert localenv.load({"CXR_DATA_DIR": str(folder), "SECRET_KEY": "s" * 60}) == {}


def test_what_is_recorded_is_the_make_environment_s(tmp_path):
    environ = {"CXR_DATA_DIR": str(tmp_path / "data"), "DEBUG": "1", "SECRET_KEY": "s" * 60,
               "REDIS_URL": "redis://127.0.0.1:6379/10", "HOME": "/root"}  # fmt: skip
    path = localenv.write(environ)
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert lines == ["DEBUG=1", "REDIS_URL=redis://127.0.0.1:6379/10"]
