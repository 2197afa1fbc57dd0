"""Which IP addresses a webhook may reach: the SSRF rules, pure (no DNS, no sockets).

Following the OWASP SSRF cheat sheet, only globally routable unicast addresses are
reachable: loopback, private, link-local, unique-local, multicast, unspecified, reserved,
shared (CGNAT) and documentation ranges are refused, and so are cloud metadata endpoints
(even when an operator allows a private range). IPv6 forms that carry an IPv4 address
(mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``) are judged by that IPv4 address. Numeric hosts must be canonical: the
spellings ``0x7f000001``, ``2130706433``, ``127.1`` or ``0177.0.0.1`` are what parsers
disagree on, so they are refused rather than interpreted.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Metadata services of AWS (incl. ECS, IPv6), GCP, Azure (IMDS and the wire server),
# Alibaba, Oracle: never reachable, whatever the allow-list says.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.169.123",
        "fd00:ec2::254",
        "168.63.129.16",
        "100.100.100.200",
        "192.0.0.192",
    )
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# the WHATWG URL parser's test for "this host is an IPv4 address": a numeric last label
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


class NonCanonicalAddressError(ValueError):
    """A numeric host in a spelling other than dotted quad / plain IPv6."""


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is no public unicast address (``None`` if it is one)."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return forbidden_reason(inner)
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (CGNAT)"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (
            isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"),
            "unique-local",
        ),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((reason for hit, reason in checks if hit), None)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, ``None`` for a name; :class:`NonCanonicalAddressError` for
    a numeric host in an ambiguous spelling, ``ValueError`` for a malformed one."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        if "%" in bare:
            raise ValueError("scoped IPv6 addresses are not accepted")
        return ipaddress.IPv6Address(bare)
    trimmed = bare[:-1] if bare.endswith(".") else bare
    if not _NUMERIC_LABEL.match(trimmed.rsplit(".", 1)[-1]):
        return None
    try:
        ip = ipaddress.IPv4Address(trimmed)
    except ValueError:
        try:
            packed = socket.inet_aton(trimmed)  # the C library's reading of odd spellings
        except OSError:
            raise ValueError(f"malformed numeric host {host!r}") from None
        raise NonCanonicalAddressError(
            f"non-canonical IPv4 spelling (of {ipaddress.IPv4Address(packed)})"
        ) from None
    if trimmed != bare:
        raise NonCanonicalAddressError(f"non-canonical IPv4 spelling (of {ip})")
    return ip


@dataclass(frozen=True, slots=True)
class AllowList:
    """``CXPULSE_WEBHOOK_ALLOWED_HOSTS``: host names and networks an operator trusts.

    A named host may resolve to private addresses; an address inside a listed network
    is reachable. Metadata addresses stay forbidden either way.
    """

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        """From ``host,host,10.0.0.0/8,127.0.0.1``; ``ValueError`` on a malformed entry."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in raw.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", entry):
                raise ValueError(f"webhook allow-list entry {entry!r} is no host name or CIDR")
            names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, ip: IPAddress) -> bool:
        inner = embedded_ipv4(ip)
        candidates: Iterable[IPAddress] = (ip,) if inner is None else (ip, inner)
        return any(
            c in net for c in candidates for net in self.networks if c.version == net.version
        )
