"""API tokens are shown once and stored as a SHA-256; DRF's old clear keys are hashed by the
migration and keep working; an address that sends too many invalid tokens is refused (429) on
the API and DICOMweb alike, by a count every web worker shares."""

import hashlib
import importlib
import io
import json
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import F
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from teams.models import ApiToken, TokenFailure
from teams.tokens import issue_token

README = Path(__file__).resolve().parents[2] / "README.md"
X, Y = "203.0.113.7", "198.51.100.20"


def api(key: str, address: str = X) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def teams_seen(key: str, address: str = X):
    return api(key, address).get(reverse("team-list"))


def readme_token_command() -> list[str]:
    """The README's ``manage.py drf_create_token ...`` line, without its options and comment."""
    line = re.search(r"^manage\.py (drf_create_token [^\[#\n]+)", README.read_text(), re.M)
    return shlex.split(line.group(1))


def test_the_readme_s_command_prints_a_token_once_and_keeps_only_its_hash(db):
    name, username = readme_token_command()
    get_user_model().objects.create_user(username)
    out = io.StringIO()
    call_command(name, username, stdout=out)
    key = re.search(rf"Generated token (\S+) for user {username}", out.getvalue()).group(1)

    stored = ApiToken.objects.get(user__username=username)
    assert stored.digest == hashlib.sha256(key.encode()).hexdigest()
    assert stored.prefix == key[:8] and len(key) == 40
    assert key not in json.dumps(list(ApiToken.objects.values()), default=str)
    response = teams_seen(key)
    assert response.status_code == 200 and response.json()["count"] == 0


def test_reset_revokes_the_user_s_other_tokens(personas):
    old = issue_token(personas.owner)
    out = io.StringIO()
    call_command("drf_create_token", "owner", "--reset", "--json", stdout=out)
    new = json.loads(out.getvalue())["token"]
    assert teams_seen(old).status_code == 401
    assert [team["name"] for team in teams_seen(new).json()["results"]] == ["Radiology A"]


def test_an_unknown_user_is_a_command_error_and_makes_no_token(db):
    with pytest.raises(CommandError, match="unknown user 'nobody'"):
        call_command("drf_create_token", "nobody")
    assert not ApiToken.objects.exists()


def test_dicomweb_takes_the_same_tokens(personas):
    key = issue_token(personas.owner)
    assert Client().get("/dicomweb/studies").status_code == 401
    response = Client(HTTP_AUTHORIZATION=f"Token {key}").get("/dicomweb/studies")
    assert response.status_code in (200, 204)


def test_an_inactive_user_s_token_is_refused(personas):
    key = issue_token(personas.owner)
    get_user_model().objects.filter(pk=personas.owner.pk).update(is_active=False)
    assert teams_seen(key).status_code == 401


# --- DRF's tokens from before ------------------------------------------------------------------

OLD_KEY = "0123456789abcdef0123456789abcdef01234567"


def test_the_migration_hashes_drf_s_clear_tokens_and_they_keep_working(personas):
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamp with time zone NOT NULL, user_id integer NOT NULL)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token VALUES (%s, %s, %s)",
            [OLD_KEY, "2025-03-01 10:00:00", personas.owner.pk],
        )
    migration = importlib.import_module("teams.migrations.0003_hash_drf_tokens")
    migration.hash_drf_tokens(apps, SimpleNamespace(connection=connection))

    token = ApiToken.objects.get()
    assert (token.user, token.prefix) == (personas.owner, OLD_KEY[:8])
    assert token.created_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)  # no key left in clear
    assert teams_seen(OLD_KEY).status_code == 200


def test_the_migration_does_nothing_on_a_database_that_never_had_drf_tokens(db):
    migration = importlib.import_module("teams.migrations.0003_hash_drf_tokens")
    migration.hash_drf_tokens(apps, SimpleNamespace(connection=connection))
    assert not ApiToken.objects.exists()


# --- throttling invalid tokens -----------------------------------------------------------------


@pytest.fixture
def limit(settings) -> int:
    assert settings.TOKEN_FAILURE_LIMIT == 20  # CXR_TOKEN_FAILURE_LIMIT's default (README)
    settings.TOKEN_FAILURE_LIMIT = 3
    return 3


def guess(times: int, address: str = X) -> None:
    for number in range(times):
        assert teams_seen(f"guess-{number}", address).status_code == 401


def test_an_address_past_the_limit_is_refused_whatever_token_it_sends(personas, limit):
    key = issue_token(personas.owner)
    guess(limit, X)
    refused = teams_seen(key, X)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 15 * 60
    assert "too many invalid tokens" in refused.json()["detail"]
    dicomweb = Client(HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR=X).get("/dicomweb/studies")
    assert dicomweb.status_code == 429
    # The count is one database row per address, which every web worker and host reads.
    assert TokenFailure.objects.get(address=X).failures == limit


def test_other_addresses_are_not_refused(personas, limit):
    key = issue_token(personas.owner)
    guess(limit, X)
    assert teams_seen(key, Y).status_code == 200
    response = Client(HTTP_AUTHORIZATION=f"Token {key}", REMOTE_ADDR=Y).get("/dicomweb/studies")
    assert response.status_code in (200, 204)


def test_refused_requests_do_not_extend_the_refusal(personas, limit, settings):
    key = issue_token(personas.owner)
    guess(limit, X)
    for _ in range(3):
        assert teams_seen("another-guess", X).status_code == 429
    assert TokenFailure.objects.get(address=X).failures == limit
    waited = timedelta(minutes=settings.LOCKOUT_MINUTES, seconds=1)
    TokenFailure.objects.update(last_failure_at=F("last_failure_at") - waited)
    assert teams_seen(key, X).status_code == 200


def test_failures_older_than_the_window_start_the_count_again(personas, limit, settings):
    key = issue_token(personas.owner)
    guess(limit - 1, X)
    waited = timedelta(minutes=settings.LOCKOUT_MINUTES, seconds=1)
    TokenFailure.objects.update(last_failure_at=F("last_failure_at") - waited)
    guess(limit - 1, X)
    assert teams_seen(key, X).status_code == 200


def test_requests_without_a_token_are_not_counted(personas, limit):
    for _ in range(limit + 1):
        assert APIClient(REMOTE_ADDR=X).get(reverse("team-list")).status_code in (401, 403)
    assert not TokenFailure.objects.exists()
