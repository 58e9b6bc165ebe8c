"""Login throttling with django-axes: failures are counted per (username, client address) pair.

A pair past ``CXR_LOGIN_FAILURE_LIMIT`` failures is refused for ``CXR_LOCKOUT_MINUTES`` (429 and
the lockout page), on ``/accounts/login/`` and the admin login alike; another user behind the same
address (a whole hospital behind one NAT) logs in as before. The settings are in
``lab/settings.py``, next to the token throttle's (``teams/tokens.py``).
"""

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a locked-out pair before any password is checked.

    Every login over HTTP carries its request. A call without one (``authenticate()`` in
    ``manage.py shell``, the test client's ``login()``) has no address to count: it is left to
    the next backend instead of failing as axes' own backend does.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """The page a locked-out login gets instead of the form (``AXES_LOCKOUT_CALLABLE``)."""
    minutes = settings.LOCKOUT_MINUTES
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response
