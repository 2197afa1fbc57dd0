"""CXPULSE_API_KEYS with scopes: backward compatible, strict, and never quoting a key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.api_keys import DEFAULT_SCOPES, key_id, parse_api_keys, short_keys
from schemas.settings import Settings


def test_tenant_key_means_read_and_write() -> None:
    (k,) = parse_api_keys("acme:k1")
    assert (k.tenant, k.key, k.scopes) == ("acme", "k1", DEFAULT_SCOPES)
    assert {"read", "write"} == DEFAULT_SCOPES


def test_explicit_scopes() -> None:
    keys = parse_api_keys("acme:k1:read, acme:k2:read+write+admin ,globex:k3:admin")
    assert [(k.tenant, sorted(k.scopes)) for k in keys] == [
        ("acme", ["read"]),
        ("acme", ["admin", "read", "write"]),
        ("globex", ["admin"]),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("acme", "entry 1 is malformed"),
        ("acme:", "entry 1 is malformed"),
        (":secret-key", "entry 1 is malformed"),
        ("acme:k1,globex:k2:a:b", "entry 2 is malformed"),
        ("acme:secret-key:root", r"unknown scope\(s\) \['root'\]"),
        ("acme:secret-key:read+", r"unknown scope\(s\) \[''\]"),
        ("acme:secret-key:", "unknown scope"),
        ("acme:secret-key,globex:secret-key", "entry 2 repeats a key"),
    ],
)
def test_malformed_keys_fail_at_start_without_quoting_the_key(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_api_keys(raw)
    assert "secret-key" not in str(info.value)
    with pytest.raises(ValidationError, match=message) as settings_info:
        Settings(api_keys=raw)
    assert "secret-key" not in str(settings_info.value)


def test_settings_keep_the_key_to_tenant_map() -> None:
    s = Settings(api_keys="acme:k1:read,globex:k2")
    assert s.tenant_keys == {"k1": "acme", "k2": "globex"}
    assert [k.scopes for k in s.api_key_list] == [{"read"}, {"read", "write"}]


def test_key_id_is_stable_and_reveals_nothing() -> None:
    key = "a-long-enough-secret-key-0123456789"
    assert key_id(key) == key_id(key)
    assert len(key_id(key)) == 12
    assert key_id(key) != key_id(key + "x")
    assert key[:6] not in key_id(key)
    (k,) = parse_api_keys(f"acme:{key}")
    assert key not in repr(k)


def test_short_keys_are_named_by_tenant() -> None:
    keys = parse_api_keys("acme:short,globex:" + "x" * 24)
    assert short_keys(keys) == ["acme"]
