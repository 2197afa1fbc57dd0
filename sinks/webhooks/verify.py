"""Verify a cxpulse webhook: copy this file into a receiver (it imports nothing of cxpulse).

Every POST carries ``X-Cxpulse-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`` where each
``v1`` is ``HMAC-SHA256(secret, "<t>.<raw body>")`` with one of the subscription's valid
secrets (two during a secret rotation), and ``X-Cxpulse-Timestamp: <t>``. Signing the
timestamp with the body makes a captured delivery useless after ``tolerance_s``:
a receiver rejects old timestamps and deduplicates ``X-Cxpulse-Delivery`` within them.

    from verify import verify_signature
    ok = verify_signature(secret, raw_body, request.headers["X-Cxpulse-Signature"])

Pass the raw body bytes exactly as received (before any JSON parsing).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Cxpulse-Signature"
TIMESTAMP_HEADER = "X-Cxpulse-Timestamp"
DELIVERY_HEADER = "X-Cxpulse-Delivery"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex ``HMAC-SHA256(secret, "<timestamp>.<body>")``: one ``v1`` value."""
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse_signature(header: str) -> tuple[int, list[str]] | None:
    """``(t, [v1 values])`` of a signature header; ``None`` when it is malformed."""
    timestamp: int | None = None
    values: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            if timestamp is not None or not value.isdigit() or len(value) > 12:
                return None
            timestamp = int(value)
        elif name == SCHEME:
            values.append(value)
    if timestamp is None or not values:
        return None
    return timestamp, values


def verify_signature(
    secret: str | list[str],
    body: bytes,
    header: str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` (or any of a list of secrets, e.g.
    the old and the new one while you roll your receiver's configuration) and its
    timestamp is within ``tolerance_s`` of ``now`` (default: this machine's clock).

    Every comparison is constant-time; any ``v1`` value matching is enough.
    """
    parsed = parse_signature(header)
    if parsed is None:
        return False
    timestamp, values = parsed
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    secrets = [secret] if isinstance(secret, str) else secret
    expected = [compute_signature(s, timestamp, body).encode() for s in secrets]
    found = False
    for value in values:
        for candidate in expected:
            # no early exit: the time taken does not tell which value matched
            found |= hmac.compare_digest(candidate, value.encode())
    return found
