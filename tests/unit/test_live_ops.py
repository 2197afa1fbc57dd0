"""flows.ops.live_ops.LiveOps: one tenant's live queues, agents, CSAT and message mix.

Times are whole milliseconds after ``T0`` (a Monday, aligned to every minute), so every
expected wait is exact.
"""

from __future__ import annotations

import pickle
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.core.timeutil import from_ms
from flows.ops.live_ops import LiveOps
from schemas.events import Event
from schemas.ids import stable_id
from schemas.ops import AgentBoardState, OpsSnapshot, PeakHour, QueueState, snapshot_id
from tests.unit.helpers import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, T0, T0_MS, make_event

QUEUES = ("billing", "sales", "support")
ZERO_AGENTS = {"active": 0, "idle": 0, "in_call": 0, "offline": 0}
ZERO_CSAT = {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
ZERO_MESSAGES = {"text": 0, "image": 0, "file": 0, "audio": 0, "video": 0}


# ---- builders ---------------------------------------------------------------------------


def session(kind: str, sid: str, queue: str, ms: int, *, tenant: str = "t1") -> Event:
    """``session.<kind>`` at ``T0 + ms``."""
    payload = {"session_id": sid, "channel": "chat", "queue": queue}
    return make_event(f"session.{kind}", payload, occurred_at=from_ms(T0_MS + ms), tenant=tenant)


def status(agent: str, state: str, ms: int, *, event_id: Any = None) -> Event:
    payload = {"agent_id": agent, "status": state, "team": "tier1"}
    return make_event(
        "agent.status_changed", payload, occurred_at=from_ms(T0_MS + ms), event_id=event_id
    )


def rating(value: int, ms: int, survey: str = "sv") -> Event:
    payload = {
        "survey_id": f"{survey}-{ms}",
        "ticket_id": "tk-1",
        "agent_id": "ag-1",
        "client_id": "cl-1",
        "rating": value,
    }
    return make_event("csat.received", payload, occurred_at=from_ms(T0_MS + ms))


def message(kind: str, ms: int, sid: str = "se-1") -> Event:
    payload = {"session_id": sid, "sender": "customer", "kind": kind}
    return make_event("message.sent", payload, occurred_at=from_ms(T0_MS + ms))


def feed(events: list[Event], ops: LiveOps | None = None) -> LiveOps:
    ops = ops or LiveOps("t1")
    for event in events:
        ops.on_event(event)
    return ops


def queues(snap: OpsSnapshot) -> dict[str, tuple[int, float, float]]:
    return {q.queue: (q.depth, q.oldest_wait_s, q.avg_wait_s) for q in snap.queues}


# ---- queues -----------------------------------------------------------------------------

S = SECOND_MS

SCRIPT = [
    session("queued", "s1", "billing", 0),
    session("queued", "s2", "billing", 10 * S),
    session("queued", "s3", "support", 20 * S),
    session("started", "s4", "support", 30 * S),  # before its queued (out of order)
    session("started", "s1", "billing", 40 * S),
    session("queued", "s6", "billing", 50 * S),
    session("queued", "s4", "support", 25 * S),  # late: s4 already started, so ignored
    session("queued", "s5", "sales", 60 * S),
    session("ended", "s5", "sales", 70 * S),  # abandoned in the queue
]


def test_queue_depths_and_waits_at_the_latest_event_time() -> None:
    snap = feed(SCRIPT).snapshot()
    assert snap.tenant_id == "t1"
    assert snap.as_of == from_ms(T0_MS + 70 * S)
    # billing: s2 (queued at 10 s) and s6 (50 s) wait 60 s and 20 s; sales emptied but
    # had traffic, so it stays listed with depth 0; sorted by queue name.
    assert [q.queue for q in snap.queues] == ["billing", "sales", "support"]
    assert queues(snap) == {
        "billing": (2, 60.0, 40.0),
        "sales": (0, 0.0, 0.0),
        "support": (1, 50.0, 50.0),
    }


def test_waits_follow_an_explicit_as_of_and_never_go_negative() -> None:
    ops = feed(SCRIPT)
    later = queues(ops.snapshot(T0_MS + 100 * S))
    assert later["billing"] == (2, 90.0, 70.0)
    assert later["support"] == (1, 80.0, 80.0)
    # as_of before s6 was queued: its wait clamps to 0; s2 waited 20 s.
    earlier = queues(ops.snapshot(T0_MS + 30 * S))
    assert earlier["billing"] == (2, 20.0, 10.0)
    assert earlier["support"] == (1, 10.0, 10.0)


def test_wait_seconds_keep_milliseconds() -> None:
    ops = feed([session("queued", "a", "q", 0), session("queued", "b", "q", 1)])
    assert queues(ops.snapshot(T0_MS + 1_500)) == {"q": (2, 1.5, 1.4995)}


def test_a_session_leaves_the_queue_it_was_queued_in_whatever_its_start_says() -> None:
    ops = feed([session("queued", "s1", "billing", 0), session("started", "s1", "support", S)])
    assert queues(ops.snapshot()) == {"billing": (0, 0.0, 0.0), "support": (0, 0.0, 0.0)}


def test_ended_before_queued_cancels_the_queued_too() -> None:
    ops = feed([session("ended", "s1", "q", 5 * S), session("queued", "s1", "q", 0)])
    assert queues(ops.snapshot()) == {"q": (0, 0.0, 0.0)}


def test_a_duplicate_queued_counts_once() -> None:
    event = session("queued", "s1", "q", 0)
    ops = feed([event, event, session("queued", "s1", "q", 0)])
    assert queues(ops.snapshot(T0_MS + 4 * S)) == {"q": (1, 4.0, 4.0)}


def test_a_transfer_moves_the_session_but_keeps_its_wait_clock() -> None:
    # the later (event time) queued decides the queue, whatever the arrival order
    for order in ([0, 1], [1, 0]):
        events = [session("queued", "s1", "billing", 0), session("queued", "s1", "sales", 30 * S)]
        ops = feed([events[i] for i in order])
        assert queues(ops.snapshot(T0_MS + 60 * S)) == {
            "billing": (0, 0.0, 0.0),
            "sales": (1, 60.0, 60.0),
        }


def test_sessions_waiting_beyond_the_retention_are_dropped_as_lost() -> None:
    ops = feed([session("queued", "old", "q", 0), session("queued", "new", "q", HOUR_MS)])
    assert queues(ops.snapshot(T0_MS + DAY_MS)) == {"q": (1, 23 * 3600.0, 23 * 3600.0)}
    assert queues(ops.snapshot(T0_MS + DAY_MS + HOUR_MS)) == {}


# ---- agents -----------------------------------------------------------------------------


def test_agents_by_status_keep_the_latest_status_by_event_time() -> None:
    ops = feed(
        [
            status("a1", "active", 10 * S),
            status("a1", "idle", 5 * S),  # late and older: ignored
            status("a2", "in_call", 20 * S),
            status("a2", "offline", 30 * S),
            status("a3", "idle", 0),
            status("a2", "in_call", 25 * S),  # late and older: ignored
        ]
    )
    assert ops.snapshot().agents_by_status == {"active": 1, "idle": 1, "in_call": 0, "offline": 1}
    ops.on_event(status("a3", "in_call", 40 * S))
    ops.on_event(status("a1", "in_call", 11 * S))
    assert ops.snapshot().agents_by_status == {"active": 0, "idle": 0, "in_call": 2, "offline": 1}


def test_equal_status_times_resolve_the_same_in_any_arrival_order() -> None:
    one = status("a1", "active", S, event_id=stable_id("x", 1))
    two = status("a1", "offline", S, event_id=stable_id("x", 2))
    first = feed([one, two]).snapshot().agents_by_status
    second = feed([two, one]).snapshot().agents_by_status
    assert first == second
    assert sum(first.values()) == 1


# ---- CSAT -------------------------------------------------------------------------------


def test_csat_distribution_covers_the_24_hours_up_to_as_of() -> None:
    ops = feed(
        [
            rating(1, 0),  # exactly 24 h before as_of: out
            rating(2, 1),  # 24 h minus 1 ms before as_of: in
            rating(4, 12 * HOUR_MS),
            rating(4, 12 * HOUR_MS),
            rating(5, DAY_MS),  # at as_of: in
        ]
    )
    snap = ops.snapshot()
    assert snap.as_of == from_ms(T0_MS + DAY_MS)
    assert snap.csat_distribution == {"1": 0, "2": 1, "3": 0, "4": 2, "5": 1}
    # one minute later the 1 ms rating has left the window too
    later = ops.snapshot(T0_MS + DAY_MS + MINUTE_MS).csat_distribution
    assert later == {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}
    assert ops.snapshot(T0_MS + 2 * DAY_MS).csat_distribution == ZERO_CSAT


def test_csat_window_rounds_an_unaligned_as_of_up_to_the_minute() -> None:
    ops = feed([rating(1, 0), rating(5, DAY_MS)])
    # (as_of - 24 h, as_of] would be (T0 - 30 s, T0 + 24 h - 30 s]; at minute resolution
    # the window is (T0, T0 + 24 h]: nothing at or before as_of is ever left out.
    unaligned = ops.snapshot(T0_MS + DAY_MS - 30 * S).csat_distribution
    assert unaligned == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1}


def test_csat_older_than_the_window_is_dropped_on_arrival() -> None:
    ops = feed([rating(3, DAY_MS + HOUR_MS)])
    ops.on_event(rating(1, HOUR_MS))  # exactly 24 h older: can never count again
    ops.on_event(rating(2, HOUR_MS + MINUTE_MS))  # still in the window
    assert ops.state_sizes()["csat_buckets"] == 2
    assert ops.snapshot().csat_distribution == {"1": 0, "2": 1, "3": 1, "4": 0, "5": 0}


# ---- messages ---------------------------------------------------------------------------


def test_messages_last_hour_edges() -> None:
    ops = feed(
        [
            message("text", 0),  # exactly 1 h before as_of: out
            message("image", 1),  # in
            message("text", 30 * MINUTE_MS),
            message("text", 30 * MINUTE_MS, sid="se-2"),
            message("video", HOUR_MS),  # at as_of: in
        ]
    )
    snap = ops.snapshot()
    assert snap.as_of == from_ms(T0_MS + HOUR_MS)
    assert snap.messages_last_hour == {"text": 2, "image": 1, "file": 0, "audio": 0, "video": 1}
    later = ops.snapshot(T0_MS + HOUR_MS + MINUTE_MS).messages_last_hour
    assert later == {"text": 2, "image": 0, "file": 0, "audio": 0, "video": 1}
    ops.on_event(message("audio", 0))  # late and out of the window: dropped
    assert ops.snapshot().messages_last_hour["audio"] == 0


# ---- the whole snapshot -----------------------------------------------------------------


def test_every_key_is_present_with_zeros() -> None:
    snap = LiveOps("t1").snapshot(T0_MS)
    assert snap == OpsSnapshot(
        tenant_id="t1",
        as_of=T0,
        queues=[],
        agents_by_status=ZERO_AGENTS,
        csat_distribution=ZERO_CSAT,
        messages_last_hour=ZERO_MESSAGES,
    )
    with pytest.raises(ValueError, match="no event seen"):
        LiveOps("t1").snapshot()


def test_full_scripted_snapshot() -> None:
    ops = feed(
        [
            *SCRIPT,
            status("a1", "active", 0),
            status("a2", "in_call", 5 * S),
            rating(5, 10 * S),
            rating(3, 20 * S),
            message("text", 30 * S),
            message("file", 31 * S),
        ]
    )
    assert ops.snapshot() == OpsSnapshot(
        tenant_id="t1",
        as_of=from_ms(T0_MS + 70 * S),
        queues=[
            QueueState(
                queue="billing", depth=2, oldest_wait_s=60.0, avg_wait_s=40.0, active_sessions=1
            ),
            QueueState(queue="sales", depth=0, oldest_wait_s=0.0, avg_wait_s=0.0),
            QueueState(
                queue="support", depth=1, oldest_wait_s=50.0, avg_wait_s=50.0, active_sessions=1
            ),
        ],
        agents_by_status={"active": 1, "idle": 0, "in_call": 1, "offline": 0},
        csat_distribution={"1": 0, "2": 0, "3": 1, "4": 0, "5": 1},
        messages_last_hour={"text": 1, "image": 0, "file": 1, "audio": 0, "video": 0},
        open_complaints={"low": 0, "medium": 0, "high": 0, "critical": 0},
        messages_peak_hour=PeakHour(hour=T0, count=2),
        agents=[
            AgentBoardState(
                agent_id="a1",
                status="active",
                since=T0,
                last_event_at=T0,
                active_sessions=0,
                sessions_today=0,
                open_tickets=0,
            ),
            AgentBoardState(
                agent_id="a2",
                status="in_call",
                since=from_ms(T0_MS + 5 * S),
                last_event_at=from_ms(T0_MS + 5 * S),
                active_sessions=0,
                sessions_today=0,
                open_tickets=0,
            ),
        ],
    )


def test_other_event_types_are_ignored_and_other_tenants_refused() -> None:
    ops = LiveOps("t1")
    ops.on_event(make_event("ticket.created"))
    assert ops.as_of_ms is None
    with pytest.raises(ValueError, match="tenant"):
        ops.on_event(session("queued", "s1", "q", 0, tenant="t2"))


def test_state_survives_pickling() -> None:
    ops = feed([*SCRIPT, status("a1", "idle", 0), rating(4, 0), message("audio", 0)])
    clone = pickle.loads(pickle.dumps(ops))
    assert clone.snapshot() == ops.snapshot()
    clone.on_event(session("started", "s2", "billing", 80 * S))
    assert queues(clone.snapshot())["billing"] == (1, 30.0, 30.0)


def test_snapshot_id_is_deterministic() -> None:
    as_of = from_ms(T0_MS + 70 * S)
    assert snapshot_id("t1", as_of) == snapshot_id("t1", T0_MS + 70 * S)
    assert snapshot_id("t1", as_of) == stable_id("ops_snapshot", "t1", T0_MS + 70 * S)
    assert snapshot_id("t1", as_of) != snapshot_id("t2", as_of)
    assert snapshot_id("t1", as_of) != snapshot_id("t1", T0_MS + 71 * S)


# ---- bounded memory ---------------------------------------------------------------------


def test_memory_stays_bounded_with_many_sessions() -> None:
    n, step = 10_000, 2 * DAY_MS // 10_000  # 10k sessions over two days of event time
    ops = LiveOps("t1")
    for i in range(n):
        t = i * step
        ops.on_event(session("queued", f"s{i}", QUEUES[i % 3], t))
        ops.on_event(session("ended", f"s{i}", QUEUES[i % 3], t + 5 * S))
        if i % 10 == 0:
            ops.on_event(rating(1 + i % 5, t))
            ops.on_event(message("text", t))
    sizes = ops.state_sizes()
    assert sizes["waiting"] == 0
    # finished sessions are remembered for 24 h (plus at most one minute of prune lag)
    assert sizes["finished"] <= DAY_MS // step + MINUTE_MS // step + 1
    assert sizes["finished_heap"] == sizes["finished"]
    assert sizes["csat_buckets"] <= 24 * 60 + 1
    assert sizes["message_buckets"] <= 60 + 1
    assert ops.snapshot().queues == [
        QueueState(queue=q, depth=0, oldest_wait_s=0.0, avg_wait_s=0.0) for q in QUEUES
    ]
    # a quiet day later everything but the agent roster is gone
    ops.on_event(status("a1", "offline", 3 * DAY_MS))
    assert ops.state_sizes() == {
        "waiting": 0,
        "queues": 0,
        "finished": 0,
        "finished_heap": 0,
        "agents": 1,
        "csat_buckets": 0,
        "message_buckets": 0,
        "active": 0,
        "ended": 0,
        "starts": 0,
        "complaints": 0,
        "resolved_complaints": 0,
        "tickets": 0,
        "ticket_expiry": 0,
    }


def test_finished_sessions_are_capped() -> None:
    ops = LiveOps("t1", max_finished=100)
    for i in range(1_000):
        ops.on_event(session("started", f"s{i}", "q", i))
    assert len(ops.finished) == 100
    assert set(ops.finished) == {f"s{i}" for i in range(900, 1_000)}
    assert len(ops.finished_heap) == 100


def test_a_queued_older_than_the_finished_memory_is_ignored() -> None:
    ops = feed([session("started", "s1", "q", 0), status("a1", "idle", DAY_MS + HOUR_MS)])
    assert ops.state_sizes()["finished"] == 0  # forgotten after 24 h...
    ops.on_event(session("queued", "s1", "q", -S))  # ...and its late queued is stale
    assert ops.state_sizes()["waiting"] == 0


def test_on_event_prunes_at_most_once_per_minute_of_event_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ops = LiveOps("t1")
    calls: list[int] = []
    real = ops.prune

    def spy(as_of_ms: int) -> None:
        calls.append(as_of_ms)
        real(as_of_ms)

    monkeypatch.setattr(ops, "prune", spy)
    for i in range(600):  # ten minutes, 1 event/s
        ops.on_event(message("text", i * S))
    assert calls == [T0_MS + m * MINUTE_MS for m in range(10)]


# ---- properties -------------------------------------------------------------------------

SESSIONS = st.lists(
    st.tuples(
        st.sampled_from(QUEUES),
        st.booleans(),  # queued
        st.booleans(),  # started
        st.booleans(),  # ended
        st.integers(0, 3 * HOUR_MS),  # queued at
        st.integers(0, HOUR_MS),  # wait before start
        st.integers(0, HOUR_MS),  # start to end
        st.booleans(),  # queued event delivered twice
    ),
    max_size=15,
)


@settings(max_examples=120, deadline=None)
@given(sessions=SESSIONS, data=st.data())
def test_depth_is_queued_minus_finished_in_any_arrival_order(
    sessions: list[tuple[str, bool, bool, bool, int, int, int, bool]], data: st.DataObject
) -> None:
    events: list[Event] = []
    queued_at: dict[str, list[int]] = {q: [] for q in QUEUES}
    for i, (queue, queued, started, ended, t, wait, handle, twice) in enumerate(sessions):
        sid = f"se-{i}"
        if queued:
            events.extend([session("queued", sid, queue, t)] * (2 if twice else 1))
        if started:
            events.append(session("started", sid, queue, t + wait))
        if ended:
            events.append(session("ended", sid, queue, t + wait + handle))
        if queued and not (started or ended):
            queued_at[queue].append(t)
    if not events:
        return
    ops = feed(data.draw(st.permutations(events)))
    snap = ops.snapshot()
    assert ops.as_of_ms is not None
    as_of = ops.as_of_ms - T0_MS
    got = {q.queue: q for q in snap.queues}
    for queue, times in queued_at.items():
        if not times:
            assert queue not in got or got[queue].depth == 0
            continue
        state = got[queue]
        assert state.depth == len(times)
        assert state.oldest_wait_s == (as_of - min(times)) / 1000
        assert state.avg_wait_s == pytest.approx(sum(as_of - t for t in times) / len(times) / 1000)


MIXED = st.lists(
    st.one_of(
        st.tuples(
            st.just("session"),
            st.sampled_from(["queued", "started", "ended"]),
            st.integers(0, 6),  # session
            st.integers(0, 3 * DAY_MS),
        ),
        st.tuples(
            st.just("status"),
            st.sampled_from(["active", "idle", "in_call", "offline"]),
            st.integers(0, 3),  # agent
            st.integers(0, 3 * DAY_MS),
        ),
        st.tuples(
            st.just("csat"), st.integers(1, 5), st.integers(0, 0), st.integers(0, 3 * DAY_MS)
        ),
        st.tuples(
            st.just("message"),
            st.sampled_from(["text", "image", "file", "audio", "video"]),
            st.integers(0, 0),
            st.integers(0, 3 * DAY_MS),
        ),
    ),
    min_size=1,
    max_size=40,
)


def _mixed_event(kind: str, what: Any, n: int, ms: int) -> Event:
    if kind == "session":
        # session n is queued at n * 8 h, started 1 min and ended 2 min later (spread over
        # two days, so the 24 h retention comes into play)
        offset = {"queued": 0, "started": MINUTE_MS, "ended": 2 * MINUTE_MS}[what]
        return session(what, f"s{n}", QUEUES[n % 3], n * 8 * HOUR_MS + offset)
    if kind == "status":
        return status(f"a{n}", what, ms)
    if kind == "csat":
        return rating(what, ms)
    return message(what, ms)


@settings(max_examples=80, deadline=None)
@given(items=MIXED, data=st.data())
def test_snapshot_does_not_depend_on_arrival_order(
    items: list[tuple[str, Any, int, int]], data: st.DataObject
) -> None:
    events = [_mixed_event(*item) for item in items]
    in_order = feed(sorted(events, key=lambda e: (e.occurred_at, str(e.event_id))))
    shuffled = feed(data.draw(st.permutations(events)))
    assert shuffled.snapshot() == in_order.snapshot()
    counts = Counter(e.event_type for e in events)
    assert sum(in_order.snapshot().agents_by_status.values()) <= counts["agent.status_changed"]
