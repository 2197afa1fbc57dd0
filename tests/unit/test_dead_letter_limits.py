"""Poison-pill limits at the door: dead letters of bounded size, event times ClickHouse
can store and Python can convert, a bound on how old an event may be."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from flows.ingest.decode import decode
from schemas.events import (
    DERIVED_TIME_MARGIN,
    OCCURRED_AT_MAX,
    OCCURRED_AT_MIN,
    STORABLE_MAX,
    parse_event,
)
from schemas.ids import stable_id
from schemas.results import (
    DEFAULT_DLQ_MAX_RAW_BYTES,
    MAX_DLQ_ERROR_CHARS,
    MAX_DLQ_KEY_BYTES,
    DeadLetter,
    make_dead_letter,
    synthetic_offset,
)
from schemas.transport import Accepted
from tests.unit.helpers import envelope, raw_message, to_bytes

RECEIVED = datetime(2026, 3, 2, 12, tzinfo=UTC)
PAST = timedelta(days=400)


def _letter(raw: bytes, **kw: Any) -> DeadLetter:
    args: dict[str, Any] = {
        "topic": "cx.events",
        "partition": 2,
        "offset": 41,
        "key": b"acme/tk-1",
        "raw": raw,
        "reason": "invalid_json",
        "error": "bad",
        "received_at": RECEIVED,
    }
    return make_dead_letter(**{**args, **kw})


def _decode(doc: dict[str, Any], **kw: Any) -> Accepted | DeadLetter:
    return decode(raw_message(to_bytes(doc)), RECEIVED, **kw)


def _at(occurred_at: str) -> dict[str, Any]:
    return dict(envelope("ticket.reopened"), occurred_at=occurred_at)


# ---- make_dead_letter -----------------------------------------------------------------


def test_default_cap_is_64_kib() -> None:
    assert DEFAULT_DLQ_MAX_RAW_BYTES == 65_536


def test_small_message_is_kept_whole_with_its_size_and_hash() -> None:
    d = _letter(b"{nope")
    assert d.raw == b"{nope"
    assert d.raw_size == 5
    assert d.raw_sha256 == hashlib.sha256(b"{nope").hexdigest()
    assert not d.truncated
    assert d.flow == ""


def test_large_message_keeps_the_cap_and_describes_the_whole() -> None:
    raw = bytes(range(256)) * 4000  # 1,024,000 bytes
    d = _letter(raw)
    assert d.raw == raw[:DEFAULT_DLQ_MAX_RAW_BYTES]
    assert d.raw_size == len(raw)
    assert d.raw_sha256 == hashlib.sha256(raw).hexdigest()
    assert d.truncated


@pytest.mark.parametrize("cap", [0, 1, 10, 10_000])
def test_cap_is_respected(cap: int) -> None:
    d = _letter(b"x" * 5000, cap=cap)
    assert len(d.raw) == min(cap, 5000)
    assert d.raw_size == 5000
    assert d.truncated == (cap < 5000)


def test_negative_cap_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="cap"):
        _letter(b"x", cap=-1)


def test_key_and_error_are_cut() -> None:
    d = _letter(b"x", key=b"k" * 1_000_000, error="e" * 100_000)
    assert d.key == b"k" * MAX_DLQ_KEY_BYTES
    assert d.error == "e" * MAX_DLQ_ERROR_CHARS
    assert _letter(b"x", key=None).key is None


def test_ingest_letter_id_is_unchanged_and_flows_get_their_own() -> None:
    ingest = _letter(b"x")
    assert ingest.letter_id == stable_id("dlq", "cx.events", 2, 41)
    agents = _letter(b"x", flow="agent_performance", reason="processing_error")
    risk = _letter(b"x", flow="client_risk", reason="processing_error")
    assert len({ingest.letter_id, agents.letter_id, risk.letter_id}) == 3
    assert agents.letter_id == _letter(b"other bytes", flow="agent_performance").letter_id


def test_new_reasons_are_accepted() -> None:
    assert _letter(b"x", reason="processing_error", flow="kb").reason == "processing_error"
    assert _letter(b"x", reason="sink_error", flow="sink:alerts").reason == "sink_error"


def test_letter_built_directly_describes_the_bytes_it_holds() -> None:
    d = DeadLetter(
        letter_id=stable_id("x"),
        received_at=RECEIVED,
        topic="t",
        partition=0,
        offset=0,
        reason="invalid_json",
        error="e",
        raw=b"abc",
    )
    assert (d.raw_size, d.raw_sha256) == (3, hashlib.sha256(b"abc").hexdigest())
    assert not d.truncated


def test_synthetic_offset_is_stable_and_fits_int64() -> None:
    a = synthetic_offset("agent_performance", ("acme", "5m"))
    assert a == synthetic_offset("agent_performance", ("acme", "5m"))
    assert a != synthetic_offset("agent_performance", ("acme", "1h"))
    assert 0 <= a < 2**63


@given(st.binary(max_size=3000), st.integers(0, 4000))
def test_any_bytes_and_cap_give_a_bounded_prefix(raw: bytes, cap: int) -> None:
    d = _letter(raw, cap=cap)
    assert raw.startswith(d.raw)
    assert len(d.raw) == min(cap, len(raw))
    assert d.raw_size == len(raw)
    assert d.raw_sha256 == hashlib.sha256(raw).hexdigest()


# ---- occurred_at: what ClickHouse DateTime64(3) stores ---------------------------------


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00+14:00",  # UTC conversion underflows (OverflowError)
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",  # UTC conversion overflows
        "9999-12-31T23:59:59.999999Z",
        "1899-12-31T23:59:59.999Z",
        "1900-01-01T00:30:00+01:00",  # 1899-12-31T23:30Z
        "2300-01-01T00:00:00Z",
        "2298-12-31T23:59:59.999500Z",  # would round past the last accepted millisecond
        "2299-01-01T00:00:00Z",  # storable, but its window ends, deadlines and forecasts
        "2299-12-31T23:59:59.999Z",  # ... might not be: a year of margin
    ],
)
def test_unstorable_event_time_is_a_validation_error(occurred_at: str) -> None:
    out = _decode(_at(occurred_at))
    assert isinstance(out, DeadLetter)
    assert out.reason == "validation_error"
    assert out.error.startswith("occurred_at: ")
    assert "outside the range ClickHouse stores" in out.error
    assert "1900-01-01T00:00:00Z .. 2298-12-31T23:59:59.999Z" in out.error


@pytest.mark.parametrize(
    "occurred_at",
    [
        "1900-01-01T00:00:00Z",
        "1900-01-01T01:00:00+01:00",
        "2298-12-31T23:59:59.999Z",
        "2299-01-01T13:59:59.999+14:00",
    ],
)
def test_storable_extremes_are_accepted_without_a_time_bound(occurred_at: str) -> None:
    assert isinstance(_decode(_at(occurred_at)), Accepted)


def test_bounds_are_the_documented_ones() -> None:
    assert datetime(1900, 1, 1, tzinfo=UTC) == OCCURRED_AT_MIN
    assert datetime(2298, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC) == OCCURRED_AT_MAX
    assert datetime(2299, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC) == STORABLE_MAX
    assert STORABLE_MAX - OCCURRED_AT_MAX == DERIVED_TIME_MARGIN == timedelta(days=365)


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.datetimes(timezones=OFFSETS), st.booleans())
def test_any_event_time_is_accepted_or_rejected_never_raised(when: datetime, bound: bool) -> None:
    """Accepted times convert to UTC and lie in the storable range."""
    doc = _at(when.isoformat())
    out = _decode(doc, max_future=timedelta(days=1) if bound else None, max_past=PAST)
    if isinstance(out, Accepted):
        utc = out.event.occurred_at.astimezone(UTC)  # must not raise
        assert OCCURRED_AT_MIN <= utc <= OCCURRED_AT_MAX
        assert utc >= RECEIVED - PAST
    else:
        assert out.reason == "validation_error"
        assert out.error.startswith("occurred_at: ")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.datetimes(timezones=OFFSETS),
        st.datetimes(datetime(1899, 12, 30), datetime(1900, 1, 2), timezones=OFFSETS),
        st.datetimes(datetime(2298, 12, 30), datetime(2299, 1, 2), timezones=OFFSETS),
    )
)
def test_accepted_exactly_when_storable(when: datetime) -> None:
    """The envelope's bound is exact at both ends, for every UTC offset."""
    doc = to_bytes(_at(when.isoformat()))
    try:
        parse_event(doc)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == (OCCURRED_AT_MIN <= when <= OCCURRED_AT_MAX)


# ---- max_past ---------------------------------------------------------------------------


def test_event_older_than_max_past_is_a_dead_letter() -> None:
    old = (RECEIVED - PAST - timedelta(milliseconds=1)).isoformat()
    out = _decode(_at(old), max_past=PAST)
    assert isinstance(out, DeadLetter)
    assert out.reason == "validation_error"
    assert out.error.startswith("occurred_at: ")
    assert "before the time it was received" in out.error
    assert "CXPULSE_MAX_PAST_S" in out.error


def test_event_at_max_past_or_without_a_bound_is_accepted() -> None:
    edge = (RECEIVED - PAST).isoformat()
    assert isinstance(_decode(_at(edge), max_past=PAST), Accepted)
    ancient = "1900-01-01T00:00:00Z"
    assert isinstance(_decode(_at(ancient)), Accepted)
    assert isinstance(_decode(_at(ancient), max_past=None), Accepted)


def test_max_future_still_applies_with_max_past() -> None:
    ahead = (RECEIVED + timedelta(days=2)).isoformat()
    out = _decode(_at(ahead), max_future=timedelta(days=1), max_past=PAST)
    assert isinstance(out, DeadLetter)
    assert "ahead of the time it was received" in out.error


# ---- decode: raw_cap ---------------------------------------------------------------------


def test_decode_caps_a_megabyte_message() -> None:
    value = b'{"event_type": "' + b"x" * 1_000_000 + b'"'  # invalid JSON, 1 MB
    out = decode(raw_message(value, offset=9), RECEIVED)
    assert isinstance(out, DeadLetter)
    assert out.reason == "invalid_json"
    assert out.raw == value[:DEFAULT_DLQ_MAX_RAW_BYTES]
    assert (out.raw_size, out.raw_sha256) == (len(value), hashlib.sha256(value).hexdigest())
    assert out.letter_id == stable_id("dlq", "cxpulse.events", 0, 9)


def test_decode_raw_cap_is_configurable() -> None:
    doc = dict(envelope("csat.received"), extra="y" * 500)
    value = json.dumps(doc).encode()
    out = decode(raw_message(value), RECEIVED, raw_cap=100)
    assert isinstance(out, DeadLetter)
    assert out.reason == "validation_error"
    assert out.raw == value[:100]
    assert out.raw_size == len(value)
    accepted = decode(raw_message(to_bytes(envelope("csat.received"))), RECEIVED, raw_cap=0)
    assert isinstance(accepted, Accepted)  # the cap only concerns rejections
