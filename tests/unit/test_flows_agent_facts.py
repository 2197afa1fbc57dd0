"""flows.agents.facts.TicketTracker: ticket events joined into per-agent facts.

Durations (handle time, first-response time) are integer milliseconds and CSAT values
the integer rating: integers sum exactly in any order, so values are compared exactly.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.agents.facts import AgentFact, FactKind, TicketTracker
from flows.core.clock import PartitionClock
from flows.core.timeutil import to_ms
from schemas.events import Event
from schemas.transport import Accepted
from tests.unit.helpers import (
    DAY_MS,
    T0,
    T0_MS,
    at,
    csat,
    first_response,
    make_event,
    ticket_assigned,
    ticket_created,
    ticket_resolved,
)


def feed(tracker: TicketTracker, *events: Event, partition: int = 0) -> list[AgentFact]:
    out: list[AgentFact] = []
    for e in events:
        out.extend(tracker.on_event(e, partition))
    return out


def only(facts: list[AgentFact], kind: FactKind) -> list[AgentFact]:
    return [f for f in facts if f.kind is kind]


def value_of(f: AgentFact) -> int | None:
    """The fact's value, checked to be a plain int (not a float, not a bool) when set."""
    assert f.value is None or type(f.value) is int, f"non-integer value {f.value!r}"
    return f.value


# ---- simple facts -----------------------------------------------------------------------


def test_created_alone_emits_nothing() -> None:
    assert TicketTracker().on_event(ticket_created("tk", at(0))) == []


def test_assignment_fact() -> None:
    ev = ticket_assigned("tk", "ag-1", at(30))
    [f] = TicketTracker().on_event(ev)
    assert f == AgentFact(
        "t1", "ag-1", FactKind.ASSIGNED, T0_MS + 30_000, None, ev.event_id, "ticket.assigned"
    )


def test_resolution_handle_time() -> None:
    tr = TicketTracker()
    feed(tr, ticket_created("tk", at(0)), ticket_assigned("tk", "ag-1", at(60)))
    res = ticket_resolved("tk", "ag-1", at(60 + 754.25))
    [f] = tr.on_event(res)
    assert f.kind is FactKind.RESOLVED
    assert value_of(f) == 754_250  # ms, exact
    assert (f.agent_id, f.at_ms, f.event_id, f.event_type) == (
        "ag-1",
        to_ms(res.occurred_at),
        res.event_id,
        "ticket.resolved",
    )


def test_resolution_at_the_assignment_instant_has_zero_handle_time() -> None:
    tr = TicketTracker()
    feed(tr, ticket_assigned("tk", "ag-1", at(60)))
    [f] = tr.on_event(ticket_resolved("tk", "ag-1", at(60)))
    assert value_of(f) == 0


def test_reassignment_counts_from_the_last_assignment() -> None:
    tr = TicketTracker()
    feed(tr, ticket_assigned("tk", "ag-1", at(0)), ticket_assigned("tk", "ag-2", at(100)))
    [f] = tr.on_event(ticket_resolved("tk", "ag-2", at(400)))
    assert (f.agent_id, value_of(f)) == ("ag-2", 300_000)


def test_assignment_after_the_resolution_is_not_the_start() -> None:
    """Handle time runs from the last assignment at or before the resolution, even when
    a later assignment (e.g. after a reopen) arrived first."""
    tr = TicketTracker()
    feed(tr, ticket_assigned("tk", "ag-1", at(0)), ticket_assigned("tk", "ag-2", at(900)))
    [f] = tr.on_event(ticket_resolved("tk", "ag-1", at(500)))
    assert (f.agent_id, value_of(f)) == ("ag-1", 500_000)


def test_a_second_resolution_after_reopen_and_reassign() -> None:
    tr = TicketTracker()
    facts = feed(
        tr,
        ticket_assigned("tk", "ag-1", at(0)),
        ticket_resolved("tk", "ag-1", at(100)),
        make_event("ticket.reopened", {"ticket_id": "tk"}, occurred_at=at(200)),
        ticket_assigned("tk", "ag-2", at(300)),
        ticket_resolved("tk", "ag-2", at(350)),
    )
    assert [(f.agent_id, value_of(f)) for f in only(facts, FactKind.RESOLVED)] == [
        ("ag-1", 100_000),
        ("ag-2", 50_000),
    ]


def test_first_response_time() -> None:
    tr = TicketTracker()
    tr.on_event(ticket_created("tk", at(0)))
    ev = first_response("tk", "ag-1", at(90.5))
    [f] = tr.on_event(ev)
    assert f == AgentFact(
        "t1",
        "ag-1",
        FactKind.FIRST_RESPONSE,
        T0_MS + 90_500,
        90_500,
        ev.event_id,
        "ticket.first_response",
    )
    assert value_of(f) == 90_500


def test_only_the_first_response_counts() -> None:
    tr = TicketTracker()
    tr.on_event(ticket_created("tk", at(0)))
    assert len(tr.on_event(first_response("tk", "ag-1", at(10)))) == 1
    assert tr.on_event(first_response("tk", "ag-2", at(20))) == []
    assert tr.on_event(first_response("tk", "ag-1", at(30))) == []


def test_csat_fact_with_rating() -> None:
    tr = TicketTracker()
    ev = csat("tk", "ag-7", 2, at(5))
    [f] = tr.on_event(ev)
    assert f == AgentFact(
        "t1", "ag-7", FactKind.CSAT, T0_MS + 5_000, 2, ev.event_id, "csat.received"
    )
    assert value_of(f) == 2  # the rating itself, an int
    assert tr.tickets == {}  # CSAT needs no ticket state


@pytest.mark.parametrize(
    "event_type",
    ["ticket.reopened", "complaint.created", "agent.status_changed", "session.started"],
)
def test_other_events_emit_nothing(event_type: str) -> None:
    assert TicketTracker().on_event(make_event(event_type)) == []


def test_tenants_are_separate() -> None:
    tr = TicketTracker()
    tr.on_event(ticket_assigned("tk", "ag-1", at(0), tenant="acme"))
    [other] = tr.on_event(ticket_resolved("tk", "ag-1", at(50), tenant="globex"))
    assert (other.tenant_id, value_of(other)) == ("globex", None)  # not acme's assignment
    [f] = tr.on_event(ticket_resolved("tk", "ag-1", at(60), tenant="acme"))
    assert (f.tenant_id, value_of(f)) == ("acme", 60_000)


# ---- out of order: counted on arrival, timed by a partner that comes in time ----------------


def test_resolution_before_its_assignment_counts_now_and_is_timed_by_it() -> None:
    tr = TicketTracker()
    res = ticket_resolved("tk", "ag-1", at(500))
    [counted] = tr.on_event(res)
    assert (counted.kind, value_of(counted), counted.at_ms) == (
        FactKind.RESOLVED,
        None,
        T0_MS + 500_000,
    )
    asg = ticket_assigned("tk", "ag-1", at(200))
    facts = tr.on_event(asg)
    assert [f.kind for f in facts] == [FactKind.ASSIGNED, FactKind.HANDLE_TIME]
    timed = facts[1]
    assert (value_of(timed), timed.event_id, timed.at_ms, timed.event_type) == (
        300_000,
        res.event_id,
        T0_MS + 500_000,
        "ticket.resolved",
    )
    assert tr.on_event(ticket_assigned("tk", "ag-2", at(100)))[1:] == []  # timed once


def test_assignment_later_than_the_resolution_does_not_time_it() -> None:
    tr = TicketTracker()
    tr.on_event(ticket_resolved("tk", "ag-1", at(500)))
    assert [f.kind for f in tr.on_event(ticket_assigned("tk", "ag-2", at(600)))] == [
        FactKind.ASSIGNED
    ]
    # an earlier-stamped assignment arriving after it does time it, measured from itself
    facts = tr.on_event(ticket_assigned("tk", "ag-1", at(100)))
    assert [(f.kind, value_of(f)) for f in facts] == [
        (FactKind.ASSIGNED, None),
        (FactKind.HANDLE_TIME, 400_000),
    ]


def test_first_response_before_creation_counts_now_and_is_timed_by_it() -> None:
    tr = TicketTracker()
    ev = first_response("tk", "ag-1", at(120))
    [counted] = tr.on_event(ev)
    assert (counted.kind, value_of(counted)) == (FactKind.FIRST_RESPONSE, None)
    assert tr.on_event(first_response("tk", "ag-2", at(130))) == []  # not the first
    [f] = tr.on_event(ticket_created("tk", at(20)))
    assert (f.kind, f.agent_id, value_of(f), f.event_id, f.at_ms) == (
        FactKind.RESPONSE_TIME,
        "ag-1",
        100_000,
        ev.event_id,
        T0_MS + 120_000,
    )
    assert f.event_type == "ticket.first_response"


def test_a_creation_after_its_response_in_time_does_not_time_it() -> None:
    tr = TicketTracker()
    tr.on_event(first_response("tk", "ag-1", at(100)))
    assert tr.on_event(ticket_created("tk", at(120))) == []  # skewed clocks: unknown


def totals(facts: list[AgentFact]) -> dict[str, int]:
    """What the windows make of facts: counts and duration sums."""
    out = {"assigned": 0, "resolved": 0, "ht": 0, "ht_n": 0, "fr": 0, "fr_n": 0}
    for f in facts:
        if f.kind is FactKind.ASSIGNED:
            out["assigned"] += 1
        if f.kind is FactKind.RESOLVED:
            out["resolved"] += 1
        if f.kind in (FactKind.RESOLVED, FactKind.HANDLE_TIME) and f.value is not None:
            out["ht"] += f.value
            out["ht_n"] += 1
        if f.kind in (FactKind.FIRST_RESPONSE, FactKind.RESPONSE_TIME) and f.value is not None:
            out["fr"] += f.value
            out["fr_n"] += 1
    return out


@given(st.permutations(range(4)))
def test_any_arrival_order_gives_the_same_totals(order: list[int]) -> None:
    events = [
        ticket_created("tk", at(0)),
        ticket_assigned("tk", "ag-1", at(30)),
        first_response("tk", "ag-1", at(45)),
        ticket_resolved("tk", "ag-1", at(630)),
    ]
    facts = feed(TicketTracker(), *(events[i] for i in order))
    assert totals(facts) == {
        "assigned": 1,
        "resolved": 1,
        "ht": 600_000,
        "ht_n": 1,
        "fr": 45_000,
        "fr_n": 1,
    }
    # a duration lands at its resolution's or response's time, whoever brought it
    assert {f.at_ms for f in facts if f.kind is not FactKind.ASSIGNED} == {
        T0_MS + 45_000,
        T0_MS + 630_000,
    }


# ---- a partner judged late never joins what is stamped before its floor -------------------


def test_a_late_assignment_does_not_time_a_resolution_before_its_bound() -> None:
    """The windows may have closed that resolution's window already; whether they had
    would depend on timing. The assignment has its own late record."""
    tr = TicketTracker()
    tr.on_event(ticket_resolved("tk", "ag-1", at(500)))
    bound = T0_MS + 501_000
    facts = tr.on_event(ticket_assigned("tk", "ag-1", at(100)), 0, bound)
    assert [(f.kind, f.late_bound_ms) for f in facts] == [(FactKind.ASSIGNED, bound)]
    # ... but a resolution at or after its bound, windows still open, is timed
    tr.on_event(ticket_resolved("tk-2", "ag-1", at(500)))
    bound = T0_MS + 500_000
    facts = tr.on_event(ticket_assigned("tk-2", "ag-1", at(100)), 0, bound)
    assert [(f.kind, f.value, f.late_bound_ms) for f in facts] == [
        (FactKind.ASSIGNED, None, bound),
        (FactKind.HANDLE_TIME, 400_000, None),
    ]


def test_a_late_creation_does_not_time_a_response_before_its_bound() -> None:
    tr = TicketTracker()
    tr.on_event(first_response("tk", "ag-1", at(500)))
    assert tr.on_event(ticket_created("tk", at(100)), 0, T0_MS + 600_000) == []


def test_a_late_resolution_is_counted_late_and_never_timed_later() -> None:
    tr = TicketTracker()
    bound = T0_MS + 900_000
    [f] = tr.on_event(ticket_resolved("tk", "ag-1", at(500)), 0, bound)
    assert (f.kind, f.value, f.late_bound_ms) == (FactKind.RESOLVED, None, bound)
    assert [f.kind for f in tr.on_event(ticket_assigned("tk", "ag-1", at(100)))] == [
        FactKind.ASSIGNED
    ]
    # with its assignment known, a late resolution carries its handle time and verdict
    [f] = tr.on_event(ticket_resolved("tk", "ag-1", at(700)), 0, bound)
    assert (f.kind, f.value, f.late_bound_ms) == (FactKind.RESOLVED, 600_000, bound)


# The attack: any ticket events in any order, any verdicts. A fact without a verdict is
# never stamped before the floor of the event that brought it, so no watermark the agent
# windows applied before that event arrived can have closed its window, in any run.
TYPES = ("ticket.created", "ticket.assigned", "ticket.first_response", "ticket.resolved")
arrivals = st.lists(
    st.tuples(
        st.sampled_from(TYPES),
        st.sampled_from(["tk-1", "tk-2"]),
        st.integers(0, 2_000),  # event time, s
        st.one_of(st.none(), st.integers(0, 2_500)),  # the bound it missed, if above it
    ),
    max_size=25,
)


def build(etype: str, ticket: str, when: datetime) -> Event:
    if etype == "ticket.created":
        return ticket_created(ticket, when)
    if etype == "ticket.assigned":
        return ticket_assigned(ticket, "ag-1", when)
    if etype == "ticket.first_response":
        return first_response(ticket, "ag-1", when)
    return ticket_resolved(ticket, "ag-1", when)


@given(arrivals)
def test_no_on_time_fact_is_stamped_before_the_floor_of_the_event_that_made_it(
    items: list[tuple[str, str, int, int | None]],
) -> None:
    tr = TicketTracker()
    for i, (etype, ticket, sec, bound_s) in enumerate(items):
        event = build(etype, ticket, at(sec + i / 1000))
        at_ms = to_ms(event.occurred_at)
        late = (
            None if bound_s is None or T0_MS + bound_s * 1000 <= at_ms else T0_MS + bound_s * 1000
        )
        floor = at_ms if late is None else late
        for f in tr.on_event(event, 0, late):
            assert f.late_bound_ms is not None or f.at_ms >= floor, (f, floor)


# ---- expiry ---------------------------------------------------------------------------------


def test_a_ticket_idle_for_the_retention_starts_over() -> None:
    tr = TicketTracker(retention_ms=DAY_MS)
    feed(tr, ticket_assigned("old", "ag-1", at(0)), ticket_assigned("kept", "ag-2", at(0)))
    [f] = tr.on_event(ticket_resolved("kept", "ag-2", at(86_400)))  # idle exactly 1 day
    assert value_of(f) == 86_400_000
    # the expired ticket starts over: its old assignment is gone
    [f] = tr.on_event(ticket_resolved("old", "ag-1", at(86_400 + 1)))
    assert value_of(f) is None


def test_a_late_events_idle_time_runs_to_its_bound() -> None:
    """A late event's floor is the bound it missed: whether its ticket is still there
    depends on that, never on when the state was last swept."""
    tr = TicketTracker(retention_ms=DAY_MS)
    tr.on_event(ticket_assigned("tk", "ag-1", at(0)))
    late = tr.on_event(ticket_resolved("tk", "ag-1", at(100)), 0, T0_MS + DAY_MS + 1)
    assert [(f.value, f.late_bound_ms) for f in late] == [(None, T0_MS + DAY_MS + 1)]


def test_expire_drops_only_tickets_no_later_event_can_reach() -> None:
    tr = TicketTracker(retention_ms=DAY_MS, lateness_ms=60_000)
    feed(tr, ticket_assigned("old", "ag-1", at(0)), ticket_assigned("kept", "ag-2", at(1)))
    tr.on_event(ticket_created("new", at(86_400 + 60)))  # within retention + lateness
    tr.expire()
    assert set(tr.tickets) == {("t1", "old"), ("t1", "kept"), ("t1", "new")}
    tr.on_event(ticket_created("newer", at(86_400 + 60.5)))
    tr.expire()
    assert set(tr.tickets) == {("t1", "kept"), ("t1", "new"), ("t1", "newer")}


def test_expire_keeps_state_bounded() -> None:
    tr = TicketTracker(retention_ms=3_600_000, lateness_ms=60_000)
    for i in range(200):
        tr.on_event(ticket_assigned(f"tk-{i}", "ag-1", at(i * 60)))
        tr.expire()
    assert len(tr.tickets) <= 62  # about one hour of tickets, one a minute


@given(arrivals, st.sets(st.integers(0, 25)))
def test_when_idle_tickets_are_dropped_changes_no_fact(
    items: list[tuple[str, str, int, int | None]], sweeps: set[int]
) -> None:
    """Verdicts from a real partition clock (a floor is never more than the lateness
    behind its partition's newest event), and expire() at any points in between."""
    runs: list[list[AgentFact]] = []
    for sweep_at in (set(), sweeps):
        clock = PartitionClock(30_000)
        tr = TicketTracker(retention_ms=600_000, lateness_ms=30_000)
        facts: list[AgentFact] = []
        for i, (etype, ticket, sec, _) in enumerate(items):
            event = build(etype, ticket, at(sec + i / 1000))
            [judged], _ = clock.judge([Accepted(event, 0, i, T0)], 0)
            facts.extend(tr.on_event(event, 0, judged.late_bound_ms))
            if i in sweep_at:
                tr.expire()
        runs.append(facts)
    assert runs[0] == runs[1]


def test_one_tenants_clock_never_expires_another_tenants_tickets() -> None:
    tr = TicketTracker(retention_ms=DAY_MS)
    tr.on_event(ticket_assigned("tk", "ag-1", at(0), tenant="a"))
    tr.on_event(ticket_created("far", at(30 * 86_400), tenant="b"))  # b's clock far ahead
    tr.expire()
    assert ("a", "tk") in tr.tickets
    [f] = feed(tr, ticket_resolved("tk", "ag-1", at(600), tenant="a"))
    assert f.value == 600_000  # the assignment was still there


# ---- partitions ---------------------------------------------------------------------------


def test_partition_is_propagated_to_every_fact() -> None:
    tr = TicketTracker()
    facts = feed(
        tr,
        ticket_resolved("tk", "ag-1", at(500)),
        first_response("tk", "ag-1", at(40)),
        ticket_created("tk", at(0)),
        ticket_assigned("tk", "ag-1", at(30)),
        csat("tk", "ag-1", 5, at(600)),
        partition=5,
    )
    assert sorted(f.kind for f in facts) == sorted(FactKind)
    assert {f.partition for f in facts} == {5}


def test_default_partition_is_zero() -> None:
    [f] = TicketTracker().on_event(ticket_assigned("tk", "ag-1", at(0)))
    assert f.partition == 0


def test_late_joined_facts_take_the_tickets_last_seen_partition() -> None:
    """A fact a later event brings is built with the partition the ticket was last seen
    on, including partition 0 after a non-zero one (nothing is left at a default)."""
    tr = TicketTracker(retention_ms=DAY_MS)
    res = ticket_resolved("tk", "ag-1", at(500))
    assert [f.partition for f in tr.on_event(res, 5)] == [5]
    facts = tr.on_event(ticket_assigned("tk", "ag-1", at(200)), 0)
    assert [(f.kind, f.partition) for f in facts] == [
        (FactKind.ASSIGNED, 0),
        (FactKind.HANDLE_TIME, 0),
    ]
    assert (facts[1].event_id, value_of(facts[1])) == (res.event_id, 300_000)

    fr = first_response("tk-2", "ag-1", at(40))
    assert [f.partition for f in tr.on_event(fr, 2)] == [2]
    [f] = tr.on_event(ticket_created("tk-2", at(0)), 7)
    assert (f.kind, f.event_id, f.partition, value_of(f)) == (
        FactKind.RESPONSE_TIME,
        fr.event_id,
        7,
        40_000,
    )


def test_csat_fact_keeps_its_own_partition() -> None:
    tr = TicketTracker()
    tr.on_event(ticket_created("tk", at(0)), 4)
    [f] = tr.on_event(csat("tk", "ag-1", 3, at(10)), 9)
    assert (f.kind, f.partition) == (FactKind.CSAT, 9)


@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=5, unique=True),
    st.integers(0, 12_000),
)
def test_in_order_handle_time_from_the_last_assignment(assigned_s: list[int], res_s: int) -> None:
    """Events in time order: handle time = resolution - last assignment at or before it;
    without such an assignment the resolution counts without a handle time."""
    events = [ticket_assigned("tk", f"ag-{t}", at(t)) for t in assigned_s]
    events.append(ticket_resolved("tk", "ag-x", at(res_s)))
    events.sort(key=lambda e: (e.occurred_at, e.event_type != "ticket.assigned"))
    tr = TicketTracker()
    facts = feed(tr, *events)
    assert not only(facts, FactKind.HANDLE_TIME)  # later assignments never time it
    [resolved] = only(facts, FactKind.RESOLVED)
    before = [t for t in assigned_s if t <= res_s]
    assert value_of(resolved) == ((res_s - max(before)) * 1_000 if before else None)
    assert len(only(facts, FactKind.ASSIGNED)) == len(assigned_s)


def test_facts_are_deterministic() -> None:
    events = [
        ticket_created("tk", at(0)),
        ticket_assigned("tk", "ag-1", at(30)),
        first_response("tk", "ag-1", at(45)),
        ticket_resolved("tk", "ag-1", at(630)),
        csat("tk", "ag-1", 1, at(700)),
    ]
    runs = [feed(TicketTracker(), *events, partition=2) for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(list(itertools.chain(*runs))) == 8
