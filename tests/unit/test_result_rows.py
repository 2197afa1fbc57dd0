"""The result-topic contract: a table row as a JSON object by column, and back; and
what becomes of messages that are not rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from schemas.results import Alert, DeadLetter, make_dead_letter
from sinks import tables
from sinks.result_rows import MalformedRowError, RowCodec, binary_columns

AT = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)


def _alert(**over: object) -> Alert:
    base: dict[str, object] = {
        "alert_id": uuid.UUID(int=7),
        "tenant_id": "acme",
        "kind": "coaching",
        "severity": "medium",
        "subject_type": "agent",
        "subject_id": "A1",
        "title": "low CSAT",
        "details": {"rating": 1, "note": "ünïcode \u2028"},
        "event_time": AT,
        "fired_at": AT,
    }
    return Alert.model_validate(base | over)


def _letter(raw: bytes) -> DeadLetter:
    return make_dead_letter(
        topic="cx.events",
        partition=2,
        offset=41,
        key=b"\xff\x00key",
        raw=raw,
        reason="invalid_utf8",
        error="bad bytes",
        received_at=AT,
    )


def test_a_row_is_a_json_object_by_column_with_instants_as_milliseconds() -> None:
    codec = RowCodec(tables.ALERTS)
    key, value, headers = codec.encode(_alert())
    doc = json.loads(value)
    assert list(doc) == list(tables.ALERTS.columns)
    assert doc["alert_id"] == str(uuid.UUID(int=7))
    assert doc["event_time"] == int(AT.timestamp() * 1000)
    assert json.loads(doc["details"]) == {"rating": 1, "note": "ünïcode \u2028"}
    assert json.loads(key) == ["acme", "2026-03-01T09:30:15.123000+00:00", str(uuid.UUID(int=7))]
    assert headers == ()


def test_batch_and_single_encodings_agree_and_decode_to_the_insert_columns() -> None:
    codec = RowCodec(tables.ALERTS)
    items = [_alert(), _alert(alert_id=uuid.UUID(int=8), subject_id="A2")]
    batch = codec.encode_batch(items)
    assert batch == [codec.encode(a) for a in items]
    columns, bad = codec.decode_batch([value for _, value, _ in batch])
    assert bad == []
    expected = tables.ALERTS.column_lists(items)
    by_name = dict(zip(tables.ALERTS.columns, columns, strict=True))
    assert by_name["alert_id"] == [str(a.alert_id) for a in items]
    assert by_name["event_time"] == [int(AT.timestamp() * 1000)] * 2
    assert by_name["details"] == expected[tables.ALERTS.columns.index("details")]


def test_bytes_of_any_value_survive_as_base64() -> None:
    codec = RowCodec(tables.DEAD_LETTERS)
    assert binary_columns(tables.DEAD_LETTERS) == {"raw", "key"}
    raw = bytes(range(256)) * 3
    _, value, _ = codec.encode(_letter(raw))
    columns, bad = codec.decode_batch([value])
    by_name = dict(zip(tables.DEAD_LETTERS.columns, columns, strict=True))
    assert bad == []
    assert by_name["raw"] == [raw]
    assert by_name["key"] == [b"\xff\x00key"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2, 3]", "a JSON list"),
        (b'"a string"', "a JSON str"),
        (b"null", "a JSON NoneType"),
        (b"{}", "missing column"),
        (b'{"letter_id": 1}', "missing column"),
        (b"", "not JSON"),
        (b"{" * 100_000, "not JSON"),  # deep nesting: refused, never a crash
    ],
)
def test_a_message_that_is_not_a_row_is_singled_out_with_why(value: bytes, why: str) -> None:
    codec = RowCodec(tables.ALERTS)
    good = [codec.encode(_alert())[1], codec.encode(_alert(alert_id=uuid.UUID(int=9)))[1]]
    columns, bad = codec.decode_batch([good[0], value, good[1]])
    assert bad == [1]
    assert len(columns[0]) == 2  # the good rows are kept, in order
    with pytest.raises(MalformedRowError, match=why):
        codec.decode(value)


def test_bad_base64_is_malformed_not_a_crash() -> None:
    codec = RowCodec(tables.DEAD_LETTERS)
    doc = orjson.loads(codec.encode(_letter(b"x"))[1])
    doc["raw"] = "***not base64***"
    columns, bad = codec.decode_batch([orjson.dumps(doc)])
    assert bad == [0]
    assert columns[0] == []


def test_extra_keys_are_ignored_for_newer_writers() -> None:
    codec = RowCodec(tables.ALERTS)
    doc = orjson.loads(codec.encode(_alert())[1])
    doc["column_of_the_future"] = 1
    columns, bad = codec.decode_batch([orjson.dumps(doc)])
    assert bad == []
    assert len(columns) == len(tables.ALERTS.columns)
