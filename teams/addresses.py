"""The client's address, as login throttling and the API token throttle see it.

Without a reverse proxy it is the socket's peer (``REMOTE_ADDR``). Behind ``CXR_PROXY_COUNT``
proxies that each append the address they saw to ``X-Forwarded-For`` (nginx's
``$proxy_add_x_forwarded_for``), it is that many entries from the right: the address the outermost
proxy saw. What stands left of it was written by the client and is never believed.
"""

import ipaddress

from django.conf import settings


def client_address(request) -> str | None:
    """A normalised IP address, or None when the request carries none that parses."""
    count = settings.PROXY_COUNT
    if count:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        # Fewer entries than proxies: the request came around them; trust only the socket.
        if len(forwarded) >= count and (address := _parsed(forwarded[-count])):
            return address
    return _parsed(request.META.get("REMOTE_ADDR", ""))


def _parsed(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
