"""Secrets at rest: AES-GCM sealed, bound to their subscription, key from settings.

Attacks: reading the secret from the stored value, moving a sealed secret to another
subscription, tampering with it, a production API started without a key.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from schemas.settings import Settings
from sinks.webhooks.secret_box import (
    KEY_FILE,
    MissingSecretKeyError,
    SecretBox,
    SecretUnreadableError,
    new_key,
    secret_box,
)

SUB = uuid.uuid4()


def test_sealed_secret_holds_no_plain_text_and_opens() -> None:
    box = SecretBox.from_text(new_key())
    sealed = box.seal("whsec_topsecret", SUB)
    assert "whsec" not in sealed
    assert "topsecret" not in sealed
    assert sealed.startswith("v1.")
    assert box.open(sealed, SUB) == "whsec_topsecret"
    assert box.seal("whsec_topsecret", SUB) != sealed  # fresh nonce each time


def test_sealed_secret_is_bound_to_its_subscription() -> None:
    box = SecretBox.from_text(new_key())
    sealed = box.seal("whsec_x", SUB)
    with pytest.raises(SecretUnreadableError):
        box.open(sealed, uuid.uuid4())


def test_tampered_or_foreign_secrets_do_not_open() -> None:
    box = SecretBox.from_text(new_key())
    sealed = box.seal("whsec_x", SUB)
    head, blob = sealed.rsplit(".", 1)
    flipped = blob[:-2] + ("A" if blob[-2] != "A" else "B") + blob[-1]
    for bad in (f"{head}.{flipped}", "v1.deadbeef.AAAA", "v2." + sealed[3:], "", "garbage"):
        with pytest.raises(SecretUnreadableError):
            box.open(bad, SUB)
    with pytest.raises(SecretUnreadableError):
        SecretBox.from_text(new_key()).open(sealed, SUB)


def test_key_rotation_first_key_seals_all_open() -> None:
    old, new = new_key(), new_key()
    sealed_old = SecretBox.from_text(old).seal("whsec_old", SUB)
    both = SecretBox.from_text(f"{new},{old}")
    assert both.open(sealed_old, SUB) == "whsec_old"
    assert SecretBox.from_text(new).open(both.seal("whsec_n", SUB), SUB) == "whsec_n"


@pytest.mark.parametrize("raw", ["short", "!!!!", new_key()[:-4]])
def test_malformed_keys_fail(raw: str) -> None:
    with pytest.raises(ValueError):
        SecretBox.from_text(raw)


def test_server_clickhouse_without_a_key_refuses(tmp_path: Path) -> None:
    s = Settings(clickhouse_dsn="http://ch:8123", data_dir=tmp_path)
    with pytest.raises(MissingSecretKeyError, match="CXPULSE_SECRET_KEY"):
        secret_box(s)
    key = new_key()
    box = secret_box(Settings(clickhouse_dsn="http://ch:8123", data_dir=tmp_path, secret_key=key))
    assert box.open(SecretBox.from_text(key).seal("whsec_a", SUB), SUB) == "whsec_a"
    assert not (tmp_path / KEY_FILE).exists()


def test_embedded_engine_keeps_a_private_key_file(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    sealed = secret_box(s).seal("whsec_a", SUB)
    path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_box(s).open(sealed, SUB) == "whsec_a"  # the same key next time
