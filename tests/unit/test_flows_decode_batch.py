"""flows.ingest.decode.decode_batch: the batch hot path gives exactly what ``decode`` gives
message by message (same events, same dead letters with the same errors), whatever the
batch boundaries."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.core.keys import accepted_only, by_ticket_key, rejected_only, ticket_key, values
from flows.core.sharding import shard_of
from flows.ingest.decode import decode, decode_batch
from schemas.results import DeadLetter
from schemas.transport import Accepted, RawMessage
from tests.unit.helpers import envelope, raw_message, to_bytes

RECEIVED = datetime(2026, 3, 2, 12, tzinfo=UTC)
FUTURE = timedelta(days=1)
PAST = timedelta(days=400)


def _at(occurred_at: str, event_type: str = "ticket.reopened") -> bytes:
    return to_bytes(dict(envelope(event_type), occurred_at=occurred_at))


def _edges() -> list[bytes]:
    """Event times on and around both limits, in UTC and with offsets."""
    out = []
    for bound in (RECEIVED + FUTURE, RECEIVED - PAST):
        for d in (timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1)):
            at = bound + d
            out.append(_at(at.isoformat()))
            out.append(_at(at.astimezone(timezone(timedelta(hours=-5))).isoformat()))
    return out


def _messages() -> list[bytes | None]:
    csat = envelope("csat.received")
    bad_rating = dict(csat, payload=dict(csat["payload"], rating=9))
    return [
        to_bytes(envelope("ticket.created")),
        to_bytes(csat),
        None,
        b"",
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[1, 2]",
        json.dumps({"event_type": "no.such"}).encode(),
        to_bytes(bad_rating),
        to_bytes(dict(envelope("ticket.assigned"), extra=1)),
        _at("1899-12-31T23:59:59Z"),
        _at("2025-01-01T00:00:00"),
        *_edges(),
    ]


def _raw(values: Sequence[bytes | None]) -> list[RawMessage]:
    return [raw_message(v, partition=i % 3, offset=i, key=b"k") for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("max_future", "max_past"),
    [(None, None), (FUTURE, None), (None, PAST), (FUTURE, PAST), (timedelta.max, timedelta.max)],
)
def test_batch_equals_one_message_at_a_time(
    max_future: timedelta | None, max_past: timedelta | None
) -> None:
    msgs = _raw(_messages())
    expected = [decode(m, RECEIVED, max_future, max_past=max_past, raw_cap=50) for m in msgs]
    got = decode_batch(msgs, RECEIVED, max_future, max_past=max_past, raw_cap=50)
    assert got == expected
    if max_future == FUTURE and max_past == PAST:  # the edges fall on both sides
        errors = [x.error for x in got if isinstance(x, DeadLetter)]
        assert any("ahead of the time it was received" in e for e in errors)
        assert any("too old to be counted" in e for e in errors)
        assert sum(isinstance(x, Accepted) for x in got) >= 6


def test_limits_are_judged_on_the_instant_whatever_the_offset_of_received_at() -> None:
    msgs = _raw(_edges())
    received = RECEIVED.astimezone(timezone(timedelta(hours=9)))
    expected = [decode(m, received, FUTURE, max_past=PAST) for m in msgs]
    assert decode_batch(msgs, received, FUTURE, max_past=PAST) == expected


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=6))
def test_results_do_not_depend_on_batch_boundaries(cuts: list[int]) -> None:
    msgs = _raw(_messages())
    whole = decode_batch(msgs, RECEIVED, FUTURE, max_past=PAST)
    bounds = sorted({0, len(msgs), *(min(c, len(msgs)) for c in cuts)})
    pieces = [
        decode_batch(msgs[a:b], RECEIVED, FUTURE, max_past=PAST)
        for a, b in itertools.pairwise(bounds)
    ]
    assert [x for p in pieces for x in p] == whole


def test_batch_splits_and_keys_keep_order() -> None:
    out = decode_batch(_raw(_messages()), RECEIVED, FUTURE, max_past=PAST)
    accepted, rejected = accepted_only(out), rejected_only(out)
    assert len(accepted) + len(rejected) == len(out)
    assert [a.offset for a in accepted] == sorted(a.offset for a in accepted)
    assert [d.offset for d in rejected] == sorted(d.offset for d in rejected)
    keyed = by_ticket_key(32, accepted)
    assert keyed == [(ticket_key(32, a), a) for a in accepted]
    assert values(keyed) == accepted


def test_ticket_key_of_an_event_without_a_ticket_is_the_tenant_shard() -> None:
    doc: dict[str, Any] = envelope("agent.status_changed")
    (a,) = accepted_only(decode_batch(_raw([to_bytes(doc)]), RECEIVED))
    assert "ticket_id" not in type(a.event.payload).model_fields
    assert ticket_key(32, a) == shard_of(32, a.event.tenant_id, "")
