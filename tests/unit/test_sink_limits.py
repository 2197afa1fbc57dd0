"""Dead-letter encoding and limits of the sinks, and the settings that drive them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError
from pydantic import ValidationError

from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES, MAX_DLQ_KEY_BYTES, make_dead_letter
from schemas.settings import Settings
from sinks.clickhouse_sink import describe_error, is_transient, row_json
from sinks.kafka_sink import (
    BROKER_DEFAULT_LIMIT,
    DLQ_HEADER_BUDGET,
    dlq_message_max_bytes,
    encode_dead_letter,
)
from sinks.tables import AGENT_PERFORMANCE

T = datetime(2026, 3, 2, tzinfo=UTC)


def test_dead_letter_headers_describe_the_whole_original() -> None:
    raw = b"{" * 100_000
    d = make_dead_letter(
        topic="cx.events",
        partition=1,
        offset=5,
        key=b"acme/t",
        raw=raw,
        reason="invalid_json",
        error="Invalid JSON",
        received_at=T,
    )
    key, value, headers = encode_dead_letter(d)
    h = dict(headers)
    assert (key, value) == (b"acme/t", raw[:DEFAULT_DLQ_MAX_RAW_BYTES])
    assert h["cxpulse.reason"] == b"invalid_json"
    assert h["cxpulse.source"] == b"cx.events/1/5"
    assert h["cxpulse.letter_id"] == str(d.letter_id).encode()
    assert h["cxpulse.flow"] == b""
    assert h["cxpulse.raw_size"] == b"100000"
    assert h["cxpulse.raw_sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert h["cxpulse.truncated"] == b"true"


def test_header_bytes_stay_within_the_budget_and_valid_utf8() -> None:
    d = make_dead_letter(
        topic="t" * 249,
        partition=-1,
        offset=2**63 - 1,
        key=None,
        raw=b"x",
        reason="processing_error",
        error="€" * 10_000,  # 3 bytes per character
        received_at=T,
        flow="f" * 5_000,
    )
    _key, value, headers = encode_dead_letter(d)
    assert dict(headers)["cxpulse.truncated"] == b"false"
    assert value == b"x"
    total = sum(len(k) + len(v) for k, v in headers)
    assert total < DLQ_HEADER_BUDGET
    for _k, v in headers:
        v.decode()  # never a split character


def test_dlq_producer_limit_follows_the_cap_and_stays_under_the_broker() -> None:
    assert dlq_message_max_bytes(65_536) == 65_536 + MAX_DLQ_KEY_BYTES + DLQ_HEADER_BUDGET
    assert dlq_message_max_bytes(0) > 0
    ceiling = Settings.model_fields["dlq_max_raw_bytes"].metadata
    largest = next(m.le for m in ceiling if hasattr(m, "le"))
    assert dlq_message_max_bytes(largest) <= BROKER_DEFAULT_LIMIT
    with pytest.raises(ValueError, match=r"message\.max\.bytes"):
        dlq_message_max_bytes(BROKER_DEFAULT_LIMIT)


def test_settings_defaults_and_bounds() -> None:
    s = Settings()
    assert s.max_past_s == 34_560_000.0
    assert s.dlq_max_raw_bytes == DEFAULT_DLQ_MAX_RAW_BYTES
    assert Settings(max_past_s=0).max_past_s == 0
    for bad in ({"dlq_max_raw_bytes": -1}, {"dlq_max_raw_bytes": 900_001}, {"max_past_s": -1}):
        with pytest.raises(ValidationError):
            Settings(**bad)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_MAX_PAST_S", "0")
    monkeypatch.setenv("CXPULSE_DLQ_MAX_RAW_BYTES", "1024")
    s = Settings()
    assert (s.max_past_s, s.dlq_max_raw_bytes) == (0, 1024)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (OperationalError("connection refused"), True),
        (ConnectionResetError("reset"), True),
        (TimeoutError("timed out"), True),
        (DatabaseError("Code: 252. DB::Exception: Too many parts (300). Merges are slow"), True),
        (DatabaseError("Code: 209. DB::Exception: Timeout exceeded while reading"), True),
        (
            DatabaseError("Code: 252. DB::Exception: Too many partitions for single INSERT block"),
            False,
        ),
        (
            DatabaseError("Code: 60. DB::Exception: Table x.y does not exist. (UNKNOWN_TABLE)"),
            False,
        ),
        (DataError("Unable to create native array for column `n`: error"), False),
        (ValueError("bad value"), False),
    ],
)
def test_only_errors_a_retry_can_fix_are_transient(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_sink_errors_are_short_and_name_the_type() -> None:
    exc = DatabaseError("Code: 60. DB::Exception: gone\n" + "stack " * 1000)
    assert describe_error(exc) == "DatabaseError: Code: 60. DB::Exception: gone"
    assert len(describe_error(ValueError("x" * 5000))) == 500
    assert describe_error(KeyError()) == "KeyError: "


def test_row_json_keeps_every_column_readable() -> None:
    row = [
        b"\xff\x00ok",
        T,
        1.5,
        None,
        ["a"],
        *range(len(AGENT_PERFORMANCE.columns) - 5),
    ]
    text = row_json(AGENT_PERFORMANCE.columns, row).decode()
    assert text.startswith('{"row_id": "\\\\xff\\u0000ok", "version": "2026-03-02T00:00:00+00:00"')
    assert row_json(("a", "b"), [1]).decode() == "(1,)"  # a row of the wrong length
