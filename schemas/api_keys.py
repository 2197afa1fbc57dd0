"""API keys and their scopes, parsed from ``CXPULSE_API_KEYS`` (issue #13).

``tenant:key`` grants ``read`` and ``write`` (what every key could do before scopes
existed, so old configurations keep working); ``tenant:key:read+write+admin`` grants
exactly the listed scopes. A malformed entry or an unknown scope is an error at start,
never a key that silently can do less (or more) than its owner meant. Errors never
quote a key.

A key is identified in logs and in ``audit_log`` by :func:`key_id`, a stable digest
that does not reveal the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal, get_args

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
# what a key without an explicit scope list may do (the behaviour before scopes)
DEFAULT_SCOPES: frozenset[Scope] = frozenset(("read", "write"))
# the API server refuses shorter keys at start-up (the demo's own keys excepted)
MIN_KEY_CHARS = 24
_FORMAT = "'tenant:key' or 'tenant:key:scope+scope' (scopes: read, write, admin), comma-separated"


def key_id(key: str) -> str:
    """A stable, non-secret id of ``key``: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ApiKey:
    """One configured key: the tenant it acts for and what it may do."""

    tenant: str
    key: str = field(repr=False)  # never in a repr, a log line or an error
    scopes: frozenset[Scope]

    @property
    def key_id(self) -> str:
        return key_id(self.key)


def _scopes(raw: str, entry: int) -> frozenset[Scope]:
    names = raw.split("+")
    unknown = [n for n in names if n not in SCOPES]
    if unknown or not raw:
        raise ValueError(
            f"CXPULSE_API_KEYS entry {entry}: unknown scope(s) {unknown or ['']}; "
            f"scopes are {', '.join(SCOPES)} joined by '+' (a key may not contain ':')"
        )
    return frozenset(n for n in SCOPES if n in names)


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """The keys of ``CXPULSE_API_KEYS``; ``ValueError`` (naming the entry by position,
    never the key) when one is malformed, has an unknown scope or repeats a key."""
    out: list[ApiKey] = []
    seen: set[str] = set()
    if not raw.strip():
        return ()
    for entry, item in enumerate(raw.strip().split(","), start=1):
        parts = item.strip().split(":")
        if len(parts) not in (2, 3) or not all(p.strip() for p in parts[:2]):
            raise ValueError(f"CXPULSE_API_KEYS entry {entry} is malformed: use {_FORMAT}")
        tenant, key = parts[0].strip(), parts[1].strip()
        scopes = DEFAULT_SCOPES if len(parts) == 2 else _scopes(parts[2].strip(), entry)
        if key in seen:
            raise ValueError(f"CXPULSE_API_KEYS entry {entry} repeats a key given before")
        seen.add(key)
        out.append(ApiKey(tenant, key, scopes))
    return tuple(out)


def short_keys(keys: tuple[ApiKey, ...], min_chars: int = MIN_KEY_CHARS) -> list[str]:
    """The tenants (by entry) whose key is shorter than ``min_chars``: guessable."""
    return [k.tenant for k in keys if len(k.key) < min_chars]
