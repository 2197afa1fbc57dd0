"""Signing webhook POSTs, so a receiver can tell a fresh cxpulse POST from a forged or
replayed one.

``X-Cxpulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``:
one ``v1`` per valid secret (the new and, for :data:`ROTATION_OVERLAP` after a rotation,
the previous one). The HMAC itself lives in :mod:`sinks.webhooks.verify`, the file
receivers copy, so signer and verifier cannot drift.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sinks.time_values import as_utc
from sinks.webhooks.verify import (
    DELIVERY_HEADER,
    SCHEME,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    compute_signature,
)

# how long the previous secret still signs after a rotation
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """A fresh signing secret (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def signature_header(secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hmac>`` with one ``v1`` per secret, in the given order."""
    if not secrets_:
        raise ValueError("at least one secret signs")
    values = ",".join(f"{SCHEME}={compute_signature(s, timestamp, body)}" for s in secrets_)
    return f"t={int(timestamp)},{values}"


def valid_secrets(
    current: str, previous: str, previous_until: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign at ``now``: the current one, and the previous one until its
    overlap ends."""
    out = [current]
    if previous and previous_until is not None and as_utc(now) < as_utc(previous_until):
        out.append(previous)
    return out


def signed_headers(
    delivery_id: str, secrets_: Sequence[str], at: datetime, body: bytes
) -> dict[str, str]:
    """The headers of one attempt sent at ``at``."""
    timestamp = int(as_utc(at).timestamp())
    return {
        "Content-Type": "application/json",
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets_, timestamp, body),
    }
