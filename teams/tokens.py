"""API tokens: made once, stored as a SHA-256, throttled per client address.

A key is random (160 bits), so a plain SHA-256 is enough to make the stored digest useless to
whoever reads the database or the Django admin; only the first characters stay readable, to tell
a user's tokens apart. ``ApiTokenAuthentication`` serves DRF and DICOMweb alike. An address that
sent ``CXR_TOKEN_FAILURE_LIMIT`` invalid tokens is answered 429 for ``CXR_LOCKOUT_MINUTES``; the
count lives in the database, so every web worker and host shares it.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .addresses import client_address
from .models import ApiToken, TokenFailure

KEYWORD = "Token"
PREFIX_LENGTH = 8


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def issue_token(user, *, replace: bool = False) -> str:
    """A new key for ``user`` (their other tokens revoked when ``replace``): returned here and
    stored nowhere, so the caller shows it once."""
    if replace:
        ApiToken.objects.filter(user=user).delete()
    key = secrets.token_hex(20)
    ApiToken.objects.create(user=user, prefix=key[:PREFIX_LENGTH], digest=digest(key))
    return key


class TokenThrottled(exceptions.AuthenticationFailed):
    """Too many invalid tokens from one address: 429 with Retry-After, whatever the token."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, wait: int) -> None:
        self.wait = wait  # DRF sends it as Retry-After
        super().__init__(f"too many invalid tokens from your address; try again in {wait} seconds")


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Token <key>``, checked against the stored digests."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        address = client_address(request) or "unknown"
        wait = seconds_refused(address)
        if wait:
            raise TokenThrottled(wait)
        token = _token(parts)
        if token is None or not token.user.is_active:
            record_failure(address)
            raise exceptions.AuthenticationFailed("invalid token")
        return (token.user, token)

    def authenticate_header(self, request) -> str:
        return KEYWORD


def _token(parts: list[bytes]) -> ApiToken | None:
    if len(parts) != 2:
        return None
    try:
        key = parts[1].decode("ascii")
    except UnicodeDecodeError:
        return None
    return ApiToken.objects.select_related("user").filter(digest=digest(key)).first()


def _window() -> timedelta:
    return timedelta(minutes=settings.LOCKOUT_MINUTES)


def seconds_refused(address: str) -> int:
    """How long ``address`` is still refused (0: not refused)."""
    row = TokenFailure.objects.filter(
        address=address,
        failures__gte=settings.TOKEN_FAILURE_LIMIT,
        last_failure_at__gt=timezone.now() - _window(),
    ).first()
    if row is None:
        return 0
    return max(1, int((row.last_failure_at + _window() - timezone.now()).total_seconds()))


def record_failure(address: str) -> None:
    """One more invalid token from ``address``; a count older than the window starts again."""
    now = timezone.now()
    with transaction.atomic():
        TokenFailure.objects.filter(last_failure_at__lte=now - _window()).delete()
        _row, created = TokenFailure.objects.get_or_create(
            address=address, defaults={"failures": 1, "last_failure_at": now}
        )
        if not created:  # F() so that two workers counting at once both count
            TokenFailure.objects.filter(address=address).update(
                failures=F("failures") + 1, last_failure_at=now
            )


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """The token scheme in the OpenAPI schema (``/api/schema/``) and the docs' Authorize box."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; a key comes from `manage.py drf_create_token USER`.",
        }
