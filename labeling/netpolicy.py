"""Where the server may open a connection on a team's behalf: the PACS destination policy.

A team admin types the PACS address, so without a policy any team admin (and, in proxy mode,
any member) could make the server fetch from loopback, the cloud metadata service or any
internal host. The rule, for every outgoing PACS connection:

- the URL is ``http`` or ``https``, with a host, and no user info (``user:pw@``) or fragment
  (``#``: it would silently swallow the path appended to it);
- the host name is resolved once, and every address it resolves to must be public (not
  private, loopback, link-local, multicast, unspecified, shared, documentation or otherwise
  reserved, in IPv4 or IPv6, IPv4 embedded in IPv6 included) unless the operator allowed it;
- the connection goes to the address that was checked, never to a second resolution of the
  name (a DNS answer that changes between the check and the connect cannot slip through).

The operator's allow-list (``CXR_PACS_ALLOWED_HOSTS``) holds host names (``pacs.hospital.org``;
``*.hospital.org`` for any name under it), IP addresses and CIDR ranges (``10.20.0.0/16``). A
listed name may resolve to anything; an unlisted name must resolve to public or listed
addresses only. Ports are not restricted.

Pure Python (the standard library only, no Django), so every way out uses the same rule:
``labeling.pacs`` for DICOMweb (form validation and every HTTP request), and the DIMSE peer code
(a pynetdicom association to a PACS, issue #14) is to call :func:`check_destination` with the
peer's ``(host, port)`` and connect to the returned ``Destination.address``, not to the name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

SCHEMES = {"http": 80, "https": 443}
# The well-known NAT64 prefix carries an IPv4 address in its last 32 bits (RFC 6052).
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Python's is_global misses these (it calls them global): never a PACS.
NOT_PUBLIC = tuple(
    ipaddress.ip_network(net) for net in ("192.0.0.0/24", "192.88.99.0/24", "2002::/16")
)

# Why a destination was refused; the caller turns the code into words for its users.
SCHEME = "scheme"
USERINFO = "userinfo"
FRAGMENT = "fragment"
MALFORMED = "malformed"
UNRESOLVABLE = "unresolvable"
INTERNAL = "internal"


class DestinationRefused(ValueError):
    """The destination breaks the policy. ``reason`` is one of the codes above; the message
    has the details (addresses included) for the server's log, not for the user."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """What a URL points at: its scheme, host (lower case, no brackets) and port."""

    scheme: str
    host: str
    port: int


@dataclass(frozen=True)
class Destination:
    """A checked destination: connect to ``address`` (an IP), send ``host`` as the name."""

    host: str
    port: int
    address: str


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """From host names, ``*.domain`` patterns, IP addresses and CIDR ranges; a ValueError
        names the first entry that is none of those."""
        names, suffixes, networks = set(), [], []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*.") and _is_host_name(entry[2:]):
                suffixes.append(entry[1:])
            elif _is_host_name(entry):
                names.add(entry)
            else:
                raise ValueError(f"{raw!r} is not a host name, *.domain, IP address or CIDR range")
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def allows_name(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.names or any(host.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks) or (
            isinstance(address, ipaddress.IPv6Address)
            and (embedded := _embedded_ipv4(address)) is not None
            and any(embedded in network for network in self.networks)
        )


def _is_host_name(text: str) -> bool:
    labels = text.split(".")
    return len(text) <= 253 and all(
        0 < len(label) <= 63
        and label.replace("-", "").replace("_", "").isalnum()
        and label.isascii()
        and not label.startswith("-")
        and not label.endswith("-")
        for label in labels
    )


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet; IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if embedded is not None and not is_public(embedded):
            return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or getattr(address, "is_site_local", False)
        or not address.is_global
        or any(address in network for network in NOT_PUBLIC)
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that IPv4-mapped, 6to4, Teredo or NAT64 addresses lead to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_url(url: str) -> Target:
    """The target of a PACS URL, checked for the rules that need no name resolution."""
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        raise DestinationRefused(MALFORMED, f"{url!r} has spaces, control characters or '\\'")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(MALFORMED, f"{url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise DestinationRefused(SCHEME, f"{url!r}: scheme {scheme!r} is not http or https")
    if "@" in parts.netloc:
        raise DestinationRefused(USERINFO, f"{url!r} has user info")
    if "#" in url:
        raise DestinationRefused(FRAGMENT, f"{url!r} has a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise DestinationRefused(MALFORMED, f"{url!r} has no host")
    return Target(scheme, host, port or SCHEMES[scheme])


def same_origin(first: str, second: str) -> bool:
    """Whether two URLs share scheme, host and port (default ports made explicit)."""
    try:
        return parse_url(first) == parse_url(second)
    except DestinationRefused:
        return False


def check_destination(
    host: str, port: int, allowed: AllowList, *, resolve: Resolver | None = None
) -> Destination:
    """Resolve ``host`` once and check every address it has; the first is the one to use.

    Raises :class:`DestinationRefused` (``UNRESOLVABLE`` or ``INTERNAL``) before any connection
    is made. DIMSE peers go through here too: pass the peer's host and port.
    """
    host = host.strip("[]").lower().rstrip(".")
    if not host:
        raise DestinationRefused(MALFORMED, "no host")
    literal = ipaddress.ip_address(host) if is_ip_literal(host) else None
    addresses = [literal] if literal else _resolved(host, port, resolve or system_resolver)
    if literal is None and allowed.allows_name(host):
        return Destination(host, port, str(addresses[0]))
    for address in addresses:
        if not is_public(address) and not allowed.allows_address(address):
            via = "" if literal else f"{host} resolves to "
            raise DestinationRefused(INTERNAL, f"{via}{address} is not public and not allowed")
    return Destination(host, port, str(addresses[0]))


def _resolved(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    try:
        found = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(UNRESOLVABLE, f"{host} does not resolve: {exc}") from None
    addresses = []
    for text in found:
        try:
            addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            raise DestinationRefused(UNRESOLVABLE, f"{host} resolved to {text!r}") from None
    if not addresses:
        raise DestinationRefused(UNRESOLVABLE, f"{host} resolves to no address")
    return addresses


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its order of preference."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(sockaddr[0] for *_, sockaddr in found))
