"""Signing webhook bodies, so a receiver can tell a cxpulse POST from a forged one.

``X-Cxpulse-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` keyed with the
subscription's secret; the secret is shown once, when the subscription is created.
Kept apart from delivery so receivers' docs and tests have one small place to read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body keyed with secret>``: the X-Cxpulse-Signature."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is :func:`sign` of ``body`` (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body).encode(), signature.encode())


def new_secret() -> str:
    """A fresh signing secret (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)
