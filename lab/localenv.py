"""``make run``'s environment, kept for ``manage.py`` commands typed later in another shell.

``make run`` exports ``DEBUG=1`` (the Makefile's default) to the web server and the workers, and
with it the settings keep a generated ``SECRET_KEY`` in ``<data dir>/secret_key``. A command typed
in a new shell has neither variable, and production settings (``DEBUG=0``) refuse to start
without a key. So ``make run`` writes ``<data dir>/make-run.env``: ``DEBUG`` and where the data
lives (``DATABASE_URL``, ``REDIS_URL``, ``CXR_BROKER_DIR``, when given), never a secret, readable
by its owner only; and ``manage.py`` reads it when the shell sets neither ``DEBUG`` nor
``SECRET_KEY``. A shell that sets either is in charge, and gunicorn and Celery never read the
file: a production server still needs its own ``SECRET_KEY``.

Pure Python, no Django: ``manage.py`` calls ``load()`` before the settings are read, and
``python lab/localenv.py`` (the Makefile's ``local-env`` target, run as a script so that it
needs nothing installed) writes the file.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
FILE_NAME = "make-run.env"
RECORDED = ("DEBUG", "DATABASE_URL", "REDIS_URL", "CXR_BROKER_DIR")
IN_CHARGE = ("DEBUG", "SECRET_KEY")  # a shell that sets one of these ignores the file
HEADER = (
    "# Written by `make run` (lab/localenv.py): manage.py reads it in a shell that sets neither\n"
    "# DEBUG nor SECRET_KEY, so that commands run as the web server and the workers do.\n"
)


def env_file(environ: MutableMapping[str, str] = os.environ) -> Path:
    """The file in the data folder the settings use (``CXR_DATA_DIR``, else ``var/``)."""
    return Path(environ.get("CXR_DATA_DIR") or BASE_DIR / "var").resolve() / FILE_NAME


def write(environ: MutableMapping[str, str] = os.environ) -> Path:
    """Record this environment's ``RECORDED`` variables, atomically, readable by the owner."""
    path = env_file(environ)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={environ[name]}\n" for name in RECORDED
             if name in environ and "\n" not in environ[name]]  # fmt: skip
    staging = path.with_suffix(".tmp")
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(HEADER + "".join(lines))
    staging.replace(path)
    return path


def load(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Fill in what the file recorded and the shell does not set; returns what was added."""
    if any(name in environ for name in IN_CHARGE):
        return {}
    path = env_file(environ)
    if not path.is_file():
        return {}
    added = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, equals, value = line.partition("=")
        if equals and name in RECORDED and name not in environ:
            environ[name] = added[name] = value
    return added


if __name__ == "__main__":
    print(f"manage.py in another shell will run with the settings recorded in {write()}")
