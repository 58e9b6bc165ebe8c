"""Production mode is safe by construction: it refuses to start when it would not be."""

import os
import re
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path, timeout: int = 60, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    base.update(CXR_DATA_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(args, cwd=ROOT, env=base, capture_output=True, text=True, timeout=timeout)


def manage(*args: str, tmp_path, **env) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], tmp_path, **env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_deploy_checks_pass_with_production_settings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="cxr.example.org",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("key", [None, "short-key"])
def test_production_refuses_a_missing_or_short_secret_key(tmp_path, key):
    env = {"DEBUG": "0", "ALLOWED_HOSTS": "cxr.example.org"}
    if key:
        env["SECRET_KEY"] = key
    result = manage("check", tmp_path=tmp_path, **env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_boolean_is_one_clear_line(tmp_path):
    result = manage("check", tmp_path=tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "cxr-lab: configuration error: DEBUG='maybe' is not a boolean (use 1/0, true/false, yes/no)"
    )


def test_gunicorn_refuses_debug_on_a_public_address(tmp_path):
    bind = f"0.0.0.0:{free_port()}"
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    result = run(
        [gunicorn, "-c", "lab/gunicorn.conf.py", "-b", bind, "lab.wsgi"], tmp_path, DEBUG="1"
    )
    assert result.returncode != 0
    assert f"refusing to serve with DEBUG=1 on {bind}" in result.stderr


def test_runserver_refuses_debug_on_a_public_address(tmp_path):
    result = manage("runserver", f"0.0.0.0:{free_port()}", tmp_path=tmp_path, DEBUG="1")
    assert result.returncode != 0
    assert "refusing to serve with DEBUG=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_serves_the_login_page_in_production_mode(tmp_path):
    """Production mode (static files compressed by whitenoise) actually serves pages."""
    import time
    import urllib.request

    port = free_port()
    env = dict(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert manage("migrate", "-v0", tmp_path=tmp_path, **env).returncode == 0
    collect = manage(
        "collectstatic",
        "--noinput",
        "-v0",
        tmp_path=tmp_path,
        **env,
        STATIC_ROOT=str(tmp_path / "static"),
    )
    assert collect.returncode == 0, collect.stderr
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    base = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    base.update(CXR_DATA_DIR=str(tmp_path / "var"), STATIC_ROOT=str(tmp_path / "static"), **env)
    server = subprocess.Popen(
        [gunicorn, "-c", "lab/gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "lab.wsgi"],
        cwd=ROOT,
        env=base,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/").read()
                break
            except OSError:
                time.sleep(0.2)
        assert b'name="password"' in body
        # Every page names its icon, so browsers do not ask for a missing /favicon.ico.
        icon = re.search(rb'<link rel="icon" href="([^"]+)"', body).group(1).decode()
        served = urllib.request.urlopen(f"http://127.0.0.1:{port}{icon}")
        assert served.headers["Content-Type"] == "image/svg+xml"
        assert served.read().startswith(b"<svg")
    finally:
        server.terminate()
        server.wait(timeout=20)
