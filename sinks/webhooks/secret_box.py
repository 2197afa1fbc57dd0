"""Webhook signing secrets encrypted at rest: AES-256-GCM (``cryptography``) keyed by
``CXPULSE_SECRET_KEY``, with the subscription id as associated data.

A sealed secret reads ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``. The associated
data binds it to its subscription: copied into another subscription's row it does not
open. ``CXPULSE_SECRET_KEY`` may list several keys (comma-separated): the first seals,
each opens what it sealed (the key id says which), so the key can be rotated.

Without ``CXPULSE_SECRET_KEY``, a deployment on the embedded engine (demo, local ``up``,
tests) keeps a generated key in ``<CXPULSE_DATA_DIR>/webhook-secret.key`` (mode 0600,
beside the data it protects, which still keeps secrets out of SQL results and
ClickHouse backups); with a ClickHouse server, processes that handle webhook
secrets refuse to start (:class:`MissingSecretKeyError`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import uuid
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from schemas.settings import Settings

VERSION = "v1"
KEY_FILE = "webhook-secret.key"
_AAD_PREFIX = b"cxpulse/webhook-secret/"


class MissingSecretKeyError(RuntimeError):
    """No ``CXPULSE_SECRET_KEY`` where one is required."""


class SecretUnreadableError(ValueError):
    """A sealed secret that none of the keys opens (another key, or tampered)."""


def new_key() -> str:
    """A fresh ``CXPULSE_SECRET_KEY`` value: 32 random bytes, base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raise ValueError("CXPULSE_SECRET_KEY entries must be base64url") from None
    if len(raw) != 32:
        raise ValueError("CXPULSE_SECRET_KEY entries must be 32 bytes (base64url, 44 chars)")
    return raw


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"cxpulse-key-id/" + key).hexdigest()[:8]


class SecretBox:
    """Seals and opens webhook secrets; the first key seals."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._sealing = _key_id(keys[0])
        self._ciphers = {_key_id(k): AESGCM(k) for k in keys}

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """From ``key[,key...]`` (base64url 32-byte keys)."""
        return cls([_decode_key(k) for k in text.split(",") if k.strip()])

    def seal(self, plaintext: str, subscription_id: uuid.UUID) -> str:
        nonce = os.urandom(12)
        sealed = self._ciphers[self._sealing].encrypt(
            nonce, plaintext.encode(), _AAD_PREFIX + subscription_id.bytes
        )
        blob = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{VERSION}.{self._sealing}.{blob}"

    def open(self, sealed: str, subscription_id: uuid.UUID) -> str:
        version, _, rest = sealed.partition(".")
        key_id, _, blob = rest.partition(".")
        cipher = self._ciphers.get(key_id)
        if version != VERSION or cipher is None:
            raise SecretUnreadableError("sealed with an unknown key or format")
        try:
            raw = base64.urlsafe_b64decode(blob.encode())
            plain = cipher.decrypt(raw[:12], raw[12:], _AAD_PREFIX + subscription_id.bytes)
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadableError("the sealed secret does not open") from None
        return plain.decode()


def secret_box(settings: Settings) -> SecretBox:
    """The box of ``CXPULSE_SECRET_KEY``; on the embedded engine without it, the key file
    in the data dir (created on first use); else :class:`MissingSecretKeyError`."""
    configured = settings.secret_key.get_secret_value().strip()
    if configured:
        return SecretBox.from_text(configured)
    if not settings.embedded_clickhouse:
        raise MissingSecretKeyError(
            "CXPULSE_SECRET_KEY is required with a ClickHouse server: it encrypts webhook "
            'secrets at rest. Generate one with: python -c "import base64, secrets; '
            'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
        )
    return SecretBox.from_text(_local_key(settings.data_dir / KEY_FILE))


def _local_key(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    with os.fdopen(fd, "w") as f:
        key = new_key()
        f.write(key)
    return key
