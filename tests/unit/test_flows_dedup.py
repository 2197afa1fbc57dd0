"""flows.ingest.dedup: repeated ids dropped inside an event-time horizon, with bounded memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flows.ingest.dedup import Deduplicator
from tests.unit.helpers import uid

H = 10_000


def test_first_seen_accepted_repeat_rejected() -> None:
    d = Deduplicator(H)
    assert d.accept(uid(1), 1_000) is True
    assert d.accept(uid(1), 1_000) is False
    assert d.accept(uid(1), 5_000) is False  # a retry with another timestamp too
    assert d.accept(uid(2), 1_000) is True
    assert len(d) == 2


def test_remembered_up_to_the_horizon_forgotten_after() -> None:
    d = Deduplicator(H)
    assert d.accept(uid("old"), 0)
    assert d.accept(uid("x"), H)  # old is exactly horizon behind: still remembered
    assert d.accept(uid("old"), 0) is False
    assert d.accept(uid("y"), H + 1)  # now strictly older than the horizon: forgotten
    assert len(d) == 2
    assert d.accept(uid("old"), H + 1) is True  # accepted again


def test_memory_shrinks_as_time_moves_on() -> None:
    d = Deduplicator(H)
    for i in range(100):
        d.accept(uid(i), i * 100)  # 100 ids over 9.9 s
    assert len(d) == 100
    d.accept(uid("late-comer"), 100 * H)
    assert len(d) == 1


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3_000)), min_size=1, max_size=200),
    st.integers(1, 20_000),
)
def test_in_order_stream_matches_a_reference(steps: list[tuple[int, int]], horizon: int) -> None:
    """With non-decreasing event times, an id is rejected exactly when it was accepted
    no more than ``horizon`` behind the newest *accepted* event time before this call
    (rejected repeats do not move time; eviction runs after the check), and memory holds
    only ids inside the horizon."""
    d = Deduplicator(horizon)
    ts = 0
    newest = None
    accepted_at: dict[int, int] = {}
    for key, step in steps:
        ts += step
        seen = key in accepted_at and (newest is None or accepted_at[key] >= newest - horizon)
        assert d.accept(uid(key), ts) is (not seen)
        if not seen:
            accepted_at[key] = ts
            newest = ts
        assert newest is not None
        live = {k for k, t in accepted_at.items() if t >= newest - horizon}
        assert len(d) == len(live)


@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 50_000)), min_size=1, max_size=150),
    st.integers(1, 20_000),
)
def test_retries_inside_the_horizon_are_always_rejected(
    events: list[tuple[int, int]], horizon: int
) -> None:
    """Any arrival order: a retry (same id, same event time) whose time is still within
    the horizon of the newest accepted event is dropped; one never seen passes."""
    d = Deduplicator(horizon)
    newest: int | None = None
    accepted: set[tuple[int, int]] = set()
    for key, ts in events:
        ok = d.accept(uid(key, ts), ts)
        if (key, ts) not in accepted:
            assert ok is True
            accepted.add((key, ts))
        elif newest is not None and ts >= newest - horizon:
            assert ok is False
        if ok:
            newest = ts if newest is None else max(newest, ts)


def test_out_of_order_id_older_than_the_horizon_is_not_kept() -> None:
    d = Deduplicator(H)
    d.accept(uid("new"), 100_000)
    d.accept(uid("old"), 100_000 - H - 1)  # older than the horizon behind the newest
    assert len(d) == 1


def test_memory_stays_bounded_after_a_future_dated_event() -> None:
    d = Deduplicator(H)
    d.accept(uid("clock-skew"), 10**13)  # a producer with a wildly wrong clock
    for i in range(1_000):
        d.accept(uid(i), 1_736_121_600_000 + i)
    # every later id is far older than horizon behind the newest event seen
    assert len(d) <= 1


def test_the_same_event_id_in_two_tenants_is_two_events() -> None:
    """Issue 9 case 4: dedup is keyed by (tenant, event_id)."""
    d = Deduplicator(H)
    assert d.accept(uid(1), 1_000, tenant="a") is True
    assert d.accept(uid(1), 1_000, tenant="b") is True
    assert d.accept(uid(1), 1_000, tenant="b") is False
    assert len(d) == 2


def test_a_tenants_future_clock_never_evicts_another_tenants_ids() -> None:
    d = Deduplicator(H)
    assert d.accept(uid(1), 1_000, tenant="a")
    assert d.accept(uid(2), 10**12, tenant="b")  # b's clock far ahead
    assert d.accept(uid(1), 1_000, tenant="a") is False  # a still remembers its id
