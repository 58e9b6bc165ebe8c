"""Refuse unsafe ways of serving: DEBUG pages leak settings and tracebacks to whoever can connect."""

import ipaddress

from django.core.exceptions import ImproperlyConfigured


def host_of(bind: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1'; '[::1]:8000' -> '::1'; 'unix:/x.sock' -> 'unix'."""
    if bind.startswith("unix:"):
        return "unix"
    if bind.startswith("["):
        return bind[1:].split("]", 1)[0]
    return bind.rsplit(":", 1)[0] if bind.count(":") == 1 else bind


def is_loopback(host: str) -> bool:
    if host in {"localhost", "unix"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(bind: str, debug: bool) -> None:
    if debug and not is_loopback(host_of(bind)):
        raise ImproperlyConfigured(
            f"refusing to serve with DEBUG=1 on {bind}: debug pages expose settings and "
            "tracebacks. Bind to 127.0.0.1, or run with DEBUG=0 and a real SECRET_KEY."
        )
