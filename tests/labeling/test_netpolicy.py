"""The destination policy on its own (pure Python): which addresses are public, how the
operator's allow-list reads, what a PACS URL may look like, and that a host name is resolved once
and refused on any internal address. Name resolution is a stub: nothing leaves the process."""

import ipaddress

import pytest

from labeling import netpolicy
from labeling.netpolicy import AllowList, DestinationRefused, check_destination, parse_url

NOT_PUBLIC = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.1.1.1", "240.0.0.1",
    "255.255.255.255", "192.0.0.9", "192.0.2.1", "198.18.0.1", "198.51.100.1", "203.0.113.1",
    "::1", "::", "fe80::1", "fec0::1", "fc00::1", "fd12:3456::1", "ff02::1", "ff0e::1",
    "2001:db8::1", "100::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "::127.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_private_loopback_link_local_multicast_and_reserved_addresses_are_not_public(address):
    assert not netpolicy.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_internet_addresses_are_public(address):
    assert netpolicy.is_public(ipaddress.ip_address(address))


def test_the_allow_list_reads_names_patterns_addresses_and_ranges():
    allowed = AllowList.parse(
        ["PACS.Hospital.org.", "*.ward.example", "10.20.0.0/16", "::1", "", "pacs_02.lan"]
    )
    assert allowed.allows_name("pacs_02.lan")
    assert allowed.allows_name("pacs.hospital.org") and allowed.allows_name("a.b.ward.example")
    assert not allowed.allows_name("ward.example") and not allowed.allows_name("evil.org")
    assert allowed.allows_address(ipaddress.ip_address("10.20.3.4"))
    assert allowed.allows_address(ipaddress.ip_address("::ffff:10.20.3.4"))  # the same host
    assert allowed.allows_address(ipaddress.ip_address("::1"))
    assert not allowed.allows_address(ipaddress.ip_address("10.21.0.1"))
    assert not allowed.allows_address(ipaddress.ip_address("127.0.0.1"))


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "pacs hospital", "http://pacs/", "*", "a..b"])
def test_a_bad_allow_list_entry_is_named(entry):
    with pytest.raises(ValueError, match="is not a host name"):
        AllowList.parse([entry])


def test_a_pacs_url_gives_scheme_host_and_port():
    assert parse_url("https://PACS.example.org/dicom-web") == netpolicy.Target(
        "https", "pacs.example.org", 443
    )
    assert parse_url("http://[::1]:8042/x") == netpolicy.Target("http", "::1", 8042)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://pacs.example.org/", netpolicy.SCHEME),
        ("file:///etc/passwd", netpolicy.SCHEME),
        ("gopher://127.0.0.1:6379/_FLUSHALL", netpolicy.SCHEME),
        ("http://user:pw@pacs.example.org/", netpolicy.USERINFO),
        ("http://pacs.example.org@127.0.0.1/", netpolicy.USERINFO),
        ("http://127.0.0.1:8042/secret#", netpolicy.FRAGMENT),
        ("http://pacs.example.org/dicom-web#x", netpolicy.FRAGMENT),
        ("http://pacs.example.org\\@127.0.0.1/", netpolicy.MALFORMED),
        ("http://pacs.example.org:99999/", netpolicy.MALFORMED),
        ("http:///dicom-web", netpolicy.MALFORMED),
        ("http://pacs.example.org/ dicom", netpolicy.MALFORMED),
    ],
)
def test_urls_the_policy_refuses_before_resolving_anything(url, reason):
    with pytest.raises(DestinationRefused) as refused:
        parse_url(url)
    assert refused.value.reason == reason


def test_same_origin_compares_scheme_host_and_port():
    assert netpolicy.same_origin("https://pacs.example.org/a", "https://PACS.example.org:443/b")
    assert not netpolicy.same_origin("https://pacs.example.org/", "http://pacs.example.org/")
    assert not netpolicy.same_origin("https://pacs.example.org/", "https://pacs.example.org:8443/")
    assert not netpolicy.same_origin("https://pacs.example.org/", "https://evil.example.org/")


class Resolver:
    """A stub DNS: a fixed answer per name, and a count of lookups."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers, self.lookups = answers, []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise OSError("Name or service not known")
        return self.answers[host]


def test_a_public_name_gives_its_first_address_after_one_lookup():
    resolve = Resolver({"pacs.example.org": ["93.184.216.34", "2606:4700:4700::1111"]})
    found = check_destination("pacs.example.org", 443, AllowList(), resolve=resolve)
    assert found == netpolicy.Destination("pacs.example.org", 443, "93.184.216.34")
    assert resolve.lookups == ["pacs.example.org"]


@pytest.mark.parametrize(
    "answer", [["127.0.0.1"], ["10.0.0.5"], ["93.184.216.34", "169.254.169.254"], ["::ffff:7f00:1"]]
)
def test_a_name_with_any_internal_address_is_refused(answer):
    resolve = Resolver({"rebind.example.org": answer})
    with pytest.raises(DestinationRefused) as refused:
        check_destination("rebind.example.org", 80, AllowList(), resolve=resolve)
    assert refused.value.reason == netpolicy.INTERNAL


def test_listed_names_and_ranges_may_be_internal():
    resolve = Resolver({"pacs.hospital.org": ["10.0.0.5"], "other.hospital.org": ["10.9.0.1"]})
    allowed = AllowList.parse(["pacs.hospital.org", "10.9.0.0/16"])
    assert (
        check_destination("pacs.hospital.org", 80, allowed, resolve=resolve).address == "10.0.0.5"
    )
    assert (
        check_destination("other.hospital.org", 80, allowed, resolve=resolve).address == "10.9.0.1"
    )
    assert check_destination("[::1]", 8042, AllowList.parse(["::1"])).address == "::1"


def test_an_ip_literal_is_checked_without_a_lookup():
    resolve = Resolver({})
    with pytest.raises(DestinationRefused):
        check_destination("127.0.0.1", 8042, AllowList(), resolve=resolve)
    assert check_destination("8.8.8.8", 443, AllowList(), resolve=resolve).address == "8.8.8.8"
    assert resolve.lookups == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "017700000001"])
def test_numeric_spellings_of_loopback_are_judged_by_what_they_resolve_to(host):
    """The C resolver reads these as 127.0.0.1 without asking any DNS server."""
    with pytest.raises(DestinationRefused) as refused:
        check_destination(host, 80, AllowList())
    assert refused.value.reason == netpolicy.INTERNAL


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(DestinationRefused) as refused:
        check_destination("nowhere.invalid", 80, AllowList(), resolve=Resolver({}))
    assert refused.value.reason == netpolicy.UNRESOLVABLE


def test_a_dimse_peer_goes_through_the_same_check():
    """DIMSE code (issue #14) passes (host, port) and associates with the returned address."""
    resolve = Resolver({"modality.ward": ["192.168.4.7"]})
    with pytest.raises(DestinationRefused):
        check_destination("modality.ward", 104, AllowList(), resolve=resolve)
    allowed = AllowList.parse(["192.168.4.0/24"])
    peer = check_destination("modality.ward", 104, allowed, resolve=resolve)
    assert (peer.address, peer.port) == ("192.168.4.7", 104)
