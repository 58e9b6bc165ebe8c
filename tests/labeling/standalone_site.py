"""A throwaway installation in a process of its own: a migrated SQLite database with one team,
its admin and a token, for tests that must run outside the pytest process (peak memory of one
import, a real gunicorn serving the app).

Import the fixture into a test module by its function name::

    from tests.labeling.standalone_site import site_fixture  # noqa: F401

and ask for ``site`` (a :class:`Site`): the database is migrated once per module, and each test
gets a fresh copy of it with :meth:`Site.env`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.labeling.import_probe import TOKEN  # noqa: F401 - the site admin's token, for tests

REPO = Path(__file__).resolve().parents[2]
PROBE = "tests.labeling.import_probe"


@dataclass(frozen=True)
class Site:
    template: Path  # the migrated database, copied for each use

    def env(self, folder: Path, **extra: str) -> dict[str, str]:
        """Environment for a process on a fresh copy of the site under ``folder``, with its
        own data and temporary folders (so a test can see that nothing is left in them)."""
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.template, folder / "db.sqlite3")
        (folder / "tmp").mkdir(exist_ok=True)
        return _env(folder, TMPDIR=str(folder / "tmp"), **extra)

    def probe(self, folder: Path, entry: str, path: Path, **extra: str) -> dict:
        """Run one import (see import_probe.py) and return what it printed."""
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-m", PROBE, entry, str(path)],
            cwd=REPO,
            env=self.env(folder, **extra),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


def _env(folder: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DEBUG="1",
        DJANGO_SETTINGS_MODULE="lab.settings",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        CXR_DATA_DIR=str(folder / "var"),
        # PACS tests reach a stub server on loopback (an allow-list setting refuses it otherwise).
        CXR_PACS_ALLOWED_HOSTS="127.0.0.1",
        **extra,
    )
    return env


@pytest.fixture(scope="module", name="site")
def site_fixture(tmp_path_factory) -> Site:
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", PROBE, "setup"],
        cwd=REPO,
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Site(folder / "db.sqlite3")
