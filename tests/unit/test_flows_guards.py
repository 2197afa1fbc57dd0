"""Guards against producers with wrong clocks: far-future events, negative durations."""

from __future__ import annotations

from datetime import timedelta

from flows.agents.facts import FactKind, TicketTracker
from flows.ingest.decode import decode
from schemas.results import DeadLetter
from schemas.transport import Accepted
from tests.unit.helpers import (
    at,
    envelope,
    first_response,
    raw_message,
    ticket_created,
    to_bytes,
)

LIMIT = timedelta(hours=1)


def test_event_stamped_beyond_the_future_limit_is_a_dead_letter() -> None:
    doc = envelope("ticket.reopened", occurred_at=at(3601))
    out = decode(raw_message(to_bytes(doc)), at(0), LIMIT)
    assert isinstance(out, DeadLetter)
    assert out.reason == "validation_error"
    assert out.error.startswith("occurred_at:")
    assert "clock" in out.error
    assert out.raw == to_bytes(doc)


def test_event_within_the_future_limit_or_without_a_limit_is_accepted() -> None:
    edge = envelope("ticket.reopened", occurred_at=at(3600))
    assert isinstance(decode(raw_message(to_bytes(edge)), at(0), LIMIT), Accepted)
    far = envelope("ticket.reopened", occurred_at=at(10**6))
    assert isinstance(decode(raw_message(to_bytes(far)), at(0), None), Accepted)


def test_response_before_creation_has_no_response_time() -> None:
    tracker = TicketTracker()
    tracker.on_event(ticket_created("T", at(100)))
    [fact] = tracker.on_event(first_response("T", "a1", at(40)))
    assert fact.kind is FactKind.FIRST_RESPONSE
    assert fact.value is None


def test_deferred_eviction_catches_a_retry_behind_a_newer_event_in_one_batch() -> None:
    from flows.ingest.dedup import Deduplicator
    from tests.unit.helpers import uid

    hour = 3_600_000
    d = Deduplicator(hour)
    batch = [(uid("a"), 0), (uid("b"), 2 * hour), (uid("a"), 0)]
    assert [d.accept(e, ts, evict=False) for e, ts in batch] == [True, True, False]
    d.evict()
    assert len(d) == 1  # "a" is now beyond the horizon and forgotten
    eager = Deduplicator(hour)
    assert [eager.accept(e, ts) for e, ts in batch] == [True, True, True]
