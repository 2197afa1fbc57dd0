"""The SSRF rules and guard, with a stub resolver (no DNS): each attack a test.

Attacks: loopback/private/link-local/metadata targets by literal address, by odd spellings
parsers disagree on, by IPv6 forms carrying an IPv4 address, by a name resolving to
them (one of several records is enough), plain http, and the allow-list's limits.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from sinks.webhooks.addresses import (
    AllowList,
    NonCanonicalAddressError,
    forbidden_reason,
    literal_address,
)
from sinks.webhooks.guard import BlockedUrlError, UrlGuard

PUBLIC = "93.184.215.14"


def resolver(table: dict[str, Sequence[str]]) -> object:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


def guard(allowed: str = "", allow_http: bool = False, **names: Sequence[str]) -> UrlGuard:
    table = {k.replace("_", "."): v for k, v in names.items()}
    return UrlGuard(
        AllowList.parse(allowed),
        allow_http=allow_http,
        resolver=resolver(table),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fd12:3456::1", "unique-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.100.100.200", "cloud metadata"),
        ("192.0.0.192", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("240.0.0.1", "private"),
        ("255.255.255.255", "private"),
        ("198.18.0.1", "private"),
        ("192.0.2.1", "private"),
        ("2001:db8::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a9fe:a9fe::", "cloud metadata"),
    ],
)
def test_internal_addresses_are_forbidden(address: str, reason: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_are_fine(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host",
    ["0x7f000001", "2130706433", "127.1", "0177.0.0.1", "127.0.0.1.", "0x7f.1", "017700000001"],
)
def test_odd_ipv4_spellings_are_refused(host: str) -> None:
    with pytest.raises(NonCanonicalAddressError):
        literal_address(host)
    with pytest.raises(BlockedUrlError, match=r"non-canonical|Invalid IPv4"):
        guard().check(f"https://{host}/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/h",
        "https://[::1]/h",
        "https://[::ffff:127.0.0.1]/h",
        "https://[::ffff:7f00:1]/h",
        "https://[0:0:0:0:0:ffff:127.0.0.1]:8443/h",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "https://10.0.0.5/",
        "https://0.0.0.0/",
        "https://[64:ff9b::7f00:1]/",
        "https://100.100.100.200/",
    ],
)
def test_literal_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(BlockedUrlError, match="address"):
        guard().check(url)


def test_scoped_and_malformed_hosts_are_refused() -> None:
    for url in ("https://[fe80::1%25eth0]/", "https://999.1.1.1/", "https://1.2.3.4.5/"):
        with pytest.raises(BlockedUrlError):
            guard().check(url)


def test_names_resolving_inside_are_refused_without_telling_why() -> None:
    g = guard(
        localhost=["127.0.0.1"],
        clickhouse=["172.18.0.3"],
        metadata_google_internal=["169.254.169.254"],
        mixed_example_com=[PUBLIC, "10.0.0.7"],  # one bad record is enough
        rebound_example_com=["::ffff:10.0.0.1"],
    )
    for host in ("localhost", "clickhouse", "metadata.google.internal", "mixed.example.com"):
        with pytest.raises(BlockedUrlError) as exc:
            g.check(f"https://{host}:8123/")
        # the same words as for a name that does not resolve: no internal DNS oracle
        assert str(exc.value) == "the URL's host must resolve to public addresses only"
    with pytest.raises(BlockedUrlError, match="public addresses only"):
        g.check("https://nowhere.invalid/")
    with pytest.raises(BlockedUrlError):
        g.check("https://rebound.example.com/")


def test_public_https_target_is_pinned_to_the_checked_address() -> None:
    target = guard(hooks_example_com=[PUBLIC, "2606:4700::1111"]).check(
        "https://user:pw@hooks.example.com:8443/in?x=1#frag"
    )
    assert (target.scheme, target.host, target.port, target.target) == (
        "https",
        "hooks.example.com",
        8443,
        "/in?x=1",
    )
    assert str(target.address) == PUBLIC
    assert (target.username, target.password) == ("user", "pw")


def test_idn_hosts_are_resolved_in_ascii() -> None:
    stub = resolver({"xn--bcher-kva.example": [PUBLIC]})
    g = UrlGuard(resolver=stub)  # type: ignore[arg-type]
    target = g.check("https://bücher.example/")
    assert target.host == "xn--bcher-kva.example"


def test_http_needs_the_setting_or_the_allow_list() -> None:
    with pytest.raises(BlockedUrlError, match="only https"):
        guard(hooks_example_com=[PUBLIC]).check("http://hooks.example.com/")
    assert guard(allow_http=True, hooks_example_com=[PUBLIC]).check("http://hooks.example.com/")
    assert guard("hooks.example.com", hooks_example_com=[PUBLIC]).check("http://hooks.example.com/")


def test_allow_list_names_and_networks() -> None:
    g = guard("receiver.internal, 127.0.0.1, 10.20.0.0/16", receiver_internal=["10.9.9.9"])
    assert str(g.check("http://receiver.internal:9000/").address) == "10.9.9.9"
    assert str(g.check("http://127.0.0.1:8080/").address) == "127.0.0.1"
    assert g.check("https://10.20.3.4/")
    with pytest.raises(BlockedUrlError):
        g.check("https://10.21.0.1/")  # outside the allowed network
    with pytest.raises(BlockedUrlError):
        g.check("https://127.0.0.2/")


def test_metadata_stays_forbidden_even_when_allowed() -> None:
    g = guard("169.254.0.0/16, meta.internal", meta_internal=["169.254.169.254"])
    assert g.check("http://169.254.1.1/")
    for url in ("http://169.254.169.254/", "http://meta.internal/"):
        with pytest.raises(BlockedUrlError):
            g.check(url)


@pytest.mark.parametrize("raw", ["not a host!", "a,,b/33", "10.0.0.0/33"])
def test_malformed_allow_lists_fail(raw: str) -> None:
    with pytest.raises(ValueError):
        AllowList.parse(raw)


def test_empty_allow_list() -> None:
    assert AllowList.parse("") == AllowList()
    assert AllowList.parse(" , ") == AllowList()
