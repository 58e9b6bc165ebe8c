"""Failed logins are counted per (username, client address): the pair past the limit gets 429
and a page that says so, on the login page and the admin login alike, while other users behind
the same address (a whole hospital behind one NAT) and the same user elsewhere log in as before."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate, get_user_model
from django.db.models import F
from django.test import RequestFactory
from django.urls import reverse

from teams.addresses import client_address

X, Y, PROXY = "203.0.113.7", "198.51.100.20", "10.0.0.2"
OWNER_PASSWORD = "pw-owner-1234"  # tests/conftest.py


@pytest.fixture
def limit(settings) -> int:
    return settings.AXES_FAILURE_LIMIT


def log_in(client, username: str, password: str, address: str = X, url: str = "", **headers):
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        headers=headers,
    )


def lock_out(client, username: str, limit: int, address: str = X) -> None:
    for _ in range(limit - 1):
        refused = log_in(client, username, "wrong", address)
        assert refused.status_code == 200 and "did not match" in refused.content.decode()
    assert log_in(client, username, "wrong", address).status_code == 429


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_past_the_limit_the_pair_gets_429_even_with_the_right_password(client, personas, limit):
    assert limit == 5  # the default of CXR_LOGIN_FAILURE_LIMIT, as the README says
    lock_out(client, "owner", limit)
    response = log_in(client, "owner", OWNER_PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) == 15 * 60
    page = response.content.decode()
    assert "Too many failed logins" in page and "paused for 15 minutes" in page
    assert not logged_in(client)


def test_another_user_behind_the_same_address_still_logs_in(client, personas, limit):
    lock_out(client, "owner", limit, address=X)
    response = log_in(client, "teammate", "pw-teammate-1234", address=X)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert logged_in(client)


def test_the_same_user_from_another_address_still_logs_in(client, personas, limit):
    lock_out(client, "owner", limit, address=X)
    assert log_in(client, "owner", OWNER_PASSWORD, address=Y).status_code == 302


def test_the_admin_login_counts_and_refuses_alike(client, personas, limit):
    get_user_model().objects.create_superuser("operator", password="pw-operator-1234")
    admin_login = reverse("admin:login")
    for _ in range(limit - 1):
        assert log_in(client, "operator", "wrong", url=admin_login).status_code == 200
    assert log_in(client, "operator", "wrong", url=admin_login).status_code == 429
    # One count for the pair, whichever page the attempts came through.
    assert log_in(client, "operator", "pw-operator-1234", url=admin_login).status_code == 429
    assert log_in(client, "operator", "pw-operator-1234").status_code == 429
    lock_out(client, "owner", limit)
    assert log_in(client, "owner", OWNER_PASSWORD, url=admin_login).status_code == 429


def test_the_lockout_page_speaks_chinese_when_asked(client, personas, limit):
    lock_out(client, "owner", limit)
    response = log_in(client, "owner", OWNER_PASSWORD, accept_language="zh-hans")
    page = response.content.decode()
    assert response.status_code == 429
    assert "登录失败次数过多" in page and "15 分钟" in page and "Too many" not in page


def test_the_lockout_ends_after_the_cool_off(client, personas, limit, settings):
    lock_out(client, "owner", limit)
    waited = timedelta(minutes=settings.LOCKOUT_MINUTES, seconds=1)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - waited)
    assert log_in(client, "owner", OWNER_PASSWORD).status_code == 302


def test_a_successful_login_clears_the_count(client, personas, limit):
    for _ in range(limit - 1):
        log_in(client, "owner", "wrong")
    assert log_in(client, "owner", OWNER_PASSWORD).status_code == 302
    client.logout()
    for _ in range(limit - 1):
        assert log_in(client, "owner", "wrong").status_code == 200


def test_logins_without_a_request_are_not_refused(client, personas):
    """manage.py shell's authenticate() and the test client's login() carry no request."""
    assert authenticate(username="owner", password=OWNER_PASSWORD) == personas.owner
    assert client.login(username="owner", password=OWNER_PASSWORD)
    assert client.get(reverse("home")).status_code == 200


def test_behind_a_proxy_the_pair_is_the_user_and_the_address_the_proxy_saw(
    client, personas, limit, settings
):
    settings.PROXY_COUNT = 1
    for number in range(limit):  # the client writes a new address each time: it is ignored
        log_in(client, "owner", "wrong", PROXY, x_forwarded_for=f"192.0.2.{number}, {X}")
    assert log_in(client, "owner", OWNER_PASSWORD, PROXY, x_forwarded_for=X).status_code == 429
    assert log_in(client, "owner", OWNER_PASSWORD, PROXY, x_forwarded_for=Y).status_code == 302


@pytest.mark.parametrize(
    "count, remote, forwarded, expected",
    [
        (0, X, f"{Y}", X),  # no proxy: a client's header is not believed
        (1, PROXY, f"{Y}, {X}", X),  # the right-most entry is what the one proxy saw
        (2, PROXY, f"{Y}, {X}, 10.0.0.9", X),
        (2, PROXY, f"{X}", PROXY),  # fewer entries than proxies: it came around them
        (1, PROXY, "not-an-address", PROXY),
        (1, PROXY, "2001:db8:0:0::1", "2001:db8::1"),
        (0, "", "", None),
    ],
)
def test_the_client_address(settings, count, remote, forwarded, expected):
    settings.PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
