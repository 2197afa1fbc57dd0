"""The SSRF guard: a webhook URL becomes a :class:`Target` (the address to connect to)
only if every address its host resolves to may be reached.

Used twice: when a subscription is created (a refused URL is a 422) and before every
attempt, where the target's address is then the one connected to (see
:mod:`sinks.webhooks.sender`), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot redirect the POST. The resolver is injected: tests
give a stub, production uses the system resolver.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from sinks.webhooks.addresses import (
    METADATA_ADDRESSES,
    AllowList,
    IPAddress,
    NonCanonicalAddressError,
    embedded_ipv4,
    forbidden_reason,
    literal_address,
)
from sinks.webhooks.policy import validate_url

Resolver = Callable[[str, int], Sequence[str]]
log = logging.getLogger(__name__)

# what a tenant is told about a name that is not (only) public: the same whether it does
# not resolve or resolves to an internal address, so the API is no internal DNS oracle
_NOT_PUBLIC = "the URL's host must resolve to public addresses only"


class BlockedUrlError(ValueError):
    """A URL the guard refuses; ``str()`` is the short reason safe to show the tenant."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives ``host`` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: connect to ``address``, send ``Host``/SNI ``host``."""

    scheme: str
    host: str  # ASCII (IDNA), as sent in Host and TLS SNI
    port: int
    target: str  # path and query
    address: IPAddress
    username: str
    password: str


class UrlGuard:
    """Checks webhook URLs against the SSRF rules, the allow-list and the scheme policy.

    ``https`` always; ``http`` when ``allow_http`` or the host is on the allow-list
    (on-premises receivers without TLS).
    """

    def __init__(
        self,
        allowed: AllowList = AllowList(),
        *,
        allow_http: bool = False,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._allowed = allowed
        self._allow_http = allow_http
        self._resolver = resolver

    def check(self, url: str) -> Target:
        """The target of ``url``; :class:`BlockedUrlError` if it may not be reached."""
        try:
            validate_url(url)
            parsed = httpx.URL(url)
        except (ValueError, httpx.InvalidURL) as exc:
            raise BlockedUrlError(str(exc)) from None
        scheme = parsed.scheme
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if scheme == "https" else 80)
        try:
            literal = literal_address(host)
        except NonCanonicalAddressError as exc:
            raise BlockedUrlError(str(exc)) from None
        except ValueError as exc:
            raise BlockedUrlError(str(exc)) from None
        addresses = [literal] if literal is not None else self._resolve(host, port)
        named = literal is None and self._allowed.allows_name(host)
        for ip in addresses:
            reason = self._refusal(ip, named)
            if reason is not None:
                if literal is not None:
                    raise BlockedUrlError(f"{ip} is a {reason} address")
                log.info("webhook host %s refused: resolves to %s (%s)", host, ip, reason)
                raise BlockedUrlError(_NOT_PUBLIC)
        trusted = named or all(self._allowed.allows_address(ip) for ip in addresses)
        if scheme != "https" and not (self._allow_http or trusted):
            raise BlockedUrlError("only https URLs are accepted")
        return Target(
            scheme=scheme,
            host=host,
            port=port,
            target=parsed.raw_path.decode("ascii"),
            address=addresses[0],
            username=parsed.username,
            password=parsed.password,
        )

    def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            raw = list(self._resolver(host, port))
            addresses = [ipaddress.ip_address(a) for a in raw]
        except (OSError, UnicodeError, ValueError) as exc:
            log.info("webhook host %s does not resolve: %s", host, exc)
            raise BlockedUrlError(_NOT_PUBLIC) from None
        if not addresses:
            raise BlockedUrlError(_NOT_PUBLIC)
        return addresses

    def _refusal(self, ip: IPAddress, named: bool) -> str | None:
        inner = embedded_ipv4(ip)
        if ip in METADATA_ADDRESSES or (inner is not None and inner in METADATA_ADDRESSES):
            return "cloud metadata"
        reason = forbidden_reason(ip)
        if reason is None or named or self._allowed.allows_address(ip):
            return None
        return reason
