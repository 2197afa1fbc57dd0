"""Replay-proof signatures: the header cxpulse sends and the receivers' helper.

Attacks: a captured delivery replayed after the tolerance, a body or timestamp altered
in flight, a forged ``v1`` value, a secret that was rotated away.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import sinks.webhooks.verify as verify_module
from sinks.webhooks.signing import (
    ROTATION_OVERLAP,
    signature_header,
    signed_headers,
    valid_secrets,
)
from sinks.webhooks.verify import (
    DEFAULT_TOLERANCE_S,
    compute_signature,
    parse_signature,
    verify_signature,
)

T = 1_780_000_000
BODY = b'{"alert_id":"a1","title":"n\xc3\xa9e \xe2\x9c\x93"}'
NOW = datetime.fromtimestamp(T, UTC)


def test_v1_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"whsec_k", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature("whsec_k", T, BODY) == expected
    assert signature_header(["whsec_k"], T, BODY) == f"t={T},v1={expected}"


def test_signed_headers_carry_delivery_timestamp_and_signature() -> None:
    headers = signed_headers("d-1", ["whsec_k"], NOW, BODY)
    assert headers["X-Cxpulse-Delivery"] == "d-1"
    assert headers["X-Cxpulse-Timestamp"] == str(T)
    assert headers["Content-Type"] == "application/json"
    assert verify_signature("whsec_k", BODY, headers["X-Cxpulse-Signature"], now=T)


def test_fresh_signature_verifies_within_tolerance() -> None:
    header = signature_header(["whsec_k"], T, BODY)
    assert verify_signature("whsec_k", BODY, header, now=T + DEFAULT_TOLERANCE_S)
    assert verify_signature("whsec_k", BODY, header, now=T - DEFAULT_TOLERANCE_S)  # skew


@pytest.mark.parametrize("offset", [DEFAULT_TOLERANCE_S + 1, -DEFAULT_TOLERANCE_S - 1, 86_400])
def test_replay_outside_tolerance_fails(offset: int) -> None:
    header = signature_header(["whsec_k"], T, BODY)
    assert not verify_signature("whsec_k", BODY, header, now=T + offset)


def test_altered_body_or_timestamp_fails() -> None:
    header = signature_header(["whsec_k"], T, BODY)
    assert not verify_signature("whsec_k", BODY + b" ", header, now=T)
    assert not verify_signature("whsec_k", BODY.replace(b"a1", b"a2"), header, now=T)
    # a replayer moving t forward to pass the tolerance breaks the HMAC
    moved = header.replace(f"t={T}", f"t={T + 3600}")
    assert not verify_signature("whsec_k", BODY, moved, now=T + 3600)
    assert not verify_signature("other", BODY, header, now=T)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=abc",
        f"t={T}",
        f"t={T},v1",
        f"t=-5,v1={'0' * 64}",
        f"t={T}x,v1={'0' * 64}",
        f"t={T},t={T},v1={'0' * 64}",
        f"t={'9' * 40},v1={'0' * 64}",
        f"sha256={'0' * 64}",
    ],
)
def test_malformed_headers_fail(header: str) -> None:
    assert not verify_signature("whsec_k", BODY, header, now=T)


def test_any_of_several_v1_values_verifies() -> None:
    header = signature_header(["new", "old"], T, BODY)
    assert parse_signature(header) == (
        T,
        [compute_signature("new", T, BODY), compute_signature("old", T, BODY)],
    )
    assert verify_signature("new", BODY, header, now=T)
    assert verify_signature("old", BODY, header, now=T)
    assert verify_signature(["x", "old"], BODY, header, now=T)
    assert not verify_signature("third", BODY, header, now=T)
    # a forged extra v1 next to a valid one does not make an invalid one pass
    forged = f"t={T},v1={'f' * 64},v1=zz"
    assert not verify_signature("new", BODY, forged, now=T)


def test_rotation_signs_with_both_for_24_hours_then_only_the_new() -> None:
    until = NOW + ROTATION_OVERLAP
    assert valid_secrets("new", "old", until, NOW) == ["new", "old"]
    assert valid_secrets("new", "old", until, until - timedelta(seconds=1)) == ["new", "old"]
    assert valid_secrets("new", "old", until, until) == ["new"]
    assert valid_secrets("new", "old", until, NOW + timedelta(days=2)) == ["new"]
    assert valid_secrets("new", "", None, NOW) == ["new"]

    during = signed_headers("d", valid_secrets("new", "old", until, NOW), NOW, BODY)
    after_at = NOW + timedelta(hours=25)
    after = signed_headers("d", valid_secrets("new", "old", until, after_at), after_at, BODY)
    assert during["X-Cxpulse-Signature"].count("v1=") == 2
    assert verify_signature("old", BODY, during["X-Cxpulse-Signature"], now=T)
    assert after["X-Cxpulse-Signature"].count("v1=") == 1
    late = after_at.timestamp()
    assert verify_signature("new", BODY, after["X-Cxpulse-Signature"], now=late)
    assert not verify_signature("old", BODY, after["X-Cxpulse-Signature"], now=late)


def test_no_secret_no_signature() -> None:
    with pytest.raises(ValueError):
        signature_header([], T, BODY)


def test_the_helper_imports_nothing_of_cxpulse() -> None:
    """Receivers copy verify.py alone: it must run with the standard library only."""
    tree = ast.parse(Path(verify_module.__file__).read_text())
    imported = {
        (n.module or "").split(".")[0] if isinstance(n, ast.ImportFrom) else a.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert imported <= {"__future__", "hashlib", "hmac", "time"}
