"""flows.agents.facts.TicketTracker: ticket events joined into per-agent facts.

Durations (handle time, first-response time) are integer milliseconds and CSAT values
the integer rating: integers sum exactly in any order, so values are compared exactly.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.agents.facts import AgentFact, FactKind, TicketTracker
from flows.core.timeutil import to_ms
from schemas.events import Event
from tests.unit.helpers import (
    DAY_MS,
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
    assert tr.on_event(ticket_resolved("tk", "ag-1", at(50), tenant="globex")) == []
    [f] = tr.on_event(ticket_resolved("tk", "ag-1", at(60), tenant="acme"))
    assert (f.tenant_id, value_of(f)) == ("acme", 60_000)


# ---- out of order -----------------------------------------------------------------------


def test_resolution_before_its_assignment_waits_for_it() -> None:
    tr = TicketTracker()
    res = ticket_resolved("tk", "ag-1", at(500))
    assert tr.on_event(res) == []
    asg = ticket_assigned("tk", "ag-1", at(200))
    facts = tr.on_event(asg)
    assert [f.kind for f in facts] == [FactKind.ASSIGNED, FactKind.RESOLVED]
    resolved = facts[1]
    assert (value_of(resolved), resolved.event_id, resolved.at_ms) == (
        300_000,
        res.event_id,
        T0_MS + 500_000,
    )
    assert tr.flush() == []  # nothing left pending


def test_assignment_later_than_the_resolution_does_not_release_it() -> None:
    tr = TicketTracker()
    tr.on_event(ticket_resolved("tk", "ag-1", at(500)))
    assert [f.kind for f in tr.on_event(ticket_assigned("tk", "ag-2", at(600)))] == [
        FactKind.ASSIGNED
    ]
    # a late-arriving earlier assignment does release it, measured from itself
    facts = tr.on_event(ticket_assigned("tk", "ag-1", at(100)))
    assert [(f.kind, value_of(f)) for f in facts] == [
        (FactKind.ASSIGNED, None),
        (FactKind.RESOLVED, 400_000),
    ]


def test_first_response_before_creation_waits_for_it() -> None:
    tr = TicketTracker()
    ev = first_response("tk", "ag-1", at(120))
    assert tr.on_event(ev) == []
    assert tr.on_event(first_response("tk", "ag-2", at(130))) == []  # not the first
    [f] = tr.on_event(ticket_created("tk", at(20)))
    assert (f.kind, f.agent_id, value_of(f), f.event_id) == (
        FactKind.FIRST_RESPONSE,
        "ag-1",
        100_000,
        ev.event_id,
    )
    assert f.event_type == "ticket.first_response"


@given(st.permutations(range(4)))
def test_any_arrival_order_gives_the_same_facts(order: list[int]) -> None:
    events = [
        ticket_created("tk", at(0)),
        ticket_assigned("tk", "ag-1", at(30)),
        first_response("tk", "ag-1", at(45)),
        ticket_resolved("tk", "ag-1", at(630)),
    ]
    tr = TicketTracker()
    facts = feed(tr, *(events[i] for i in order)) + tr.flush()
    got = sorted((f.kind, f.agent_id, f.at_ms, value_of(f), f.event_id) for f in facts)
    assert got == sorted(
        [
            (FactKind.ASSIGNED, "ag-1", T0_MS + 30_000, None, events[1].event_id),
            (FactKind.FIRST_RESPONSE, "ag-1", T0_MS + 45_000, 45_000, events[2].event_id),
            (FactKind.RESOLVED, "ag-1", T0_MS + 630_000, 600_000, events[3].event_id),
        ]
    )


# ---- flush and expiry -------------------------------------------------------------------


def test_flush_emits_pending_resolutions_without_handle_time() -> None:
    tr = TicketTracker()
    r1 = ticket_resolved("tk-1", "ag-1", at(100))
    r2 = ticket_resolved("tk-2", "ag-2", at(200), tenant="acme")
    feed(tr, r1, r2)
    flushed = tr.flush()
    got = sorted((f.tenant_id, f.agent_id, f.kind, f.at_ms, f.value, f.event_id) for f in flushed)
    assert got == [
        ("acme", "ag-2", FactKind.RESOLVED, T0_MS + 200_000, None, r2.event_id),
        ("t1", "ag-1", FactKind.RESOLVED, T0_MS + 100_000, None, r1.event_id),
    ]
    assert all(f.event_type == "ticket.resolved" for f in flushed)
    assert tr.flush() == []  # emitted once
    # a later assignment no longer releases the already flushed resolution
    assert [f.kind for f in tr.on_event(ticket_assigned("tk-1", "ag-1", at(50)))] == [
        FactKind.ASSIGNED
    ]


def test_flush_leaves_out_a_first_response_without_creation() -> None:
    tr = TicketTracker()
    tr.on_event(first_response("tk", "ag-1", at(10)))
    assert tr.flush() == []


def test_expire_forgets_idle_tickets() -> None:
    tr = TicketTracker(retention_ms=DAY_MS)
    feed(tr, ticket_assigned("old", "ag-1", at(0)), ticket_assigned("kept", "ag-2", at(0)))
    tr.on_event(ticket_created("kept", at(100)))
    tr.on_event(ticket_created("new", at(86_400 + 100)))  # max time moves a day on
    assert tr.expire() == []
    assert set(tr.tickets) == {("t1", "kept"), ("t1", "new")}  # idle exactly 1 day: kept
    tr.on_event(ticket_created("newer", at(86_400 + 101)))
    tr.expire()
    assert set(tr.tickets) == {("t1", "new"), ("t1", "newer")}
    # the forgotten ticket starts over: its old assignment is gone
    assert tr.on_event(ticket_resolved("old", "ag-1", at(86_400 + 200))) == []


def test_expire_flushes_pending_resolutions_of_forgotten_tickets() -> None:
    tr = TicketTracker(retention_ms=DAY_MS)
    res = ticket_resolved("tk", "ag-1", at(0), tenant="acme")
    tr.on_event(res)
    tr.on_event(ticket_created("other", at(2 * 86_400), tenant="acme"))
    [f] = tr.expire()
    assert (f.tenant_id, f.agent_id, f.kind, f.value, f.event_id) == (
        "acme",
        "ag-1",
        FactKind.RESOLVED,
        None,
        res.event_id,
    )
    assert ("acme", "tk") not in tr.tickets
    assert tr.expire() == []


def test_expire_keeps_state_bounded() -> None:
    tr = TicketTracker(retention_ms=3_600_000)
    for i in range(200):
        tr.on_event(ticket_assigned(f"tk-{i}", "ag-1", at(i * 60)))
        tr.expire()
    assert len(tr.tickets) <= 62  # about one hour of tickets, one a minute


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


@pytest.mark.parametrize("how", ["flush", "expire"])
def test_flushed_and_expired_facts_keep_their_partition(how: str) -> None:
    tr = TicketTracker(retention_ms=DAY_MS)
    tr.on_event(ticket_resolved("tk", "ag-1", at(0)), partition=5)
    if how == "flush":
        [f] = tr.flush()
    else:
        tr.on_event(ticket_created("other", at(2 * 86_400)), partition=5)
        [f] = tr.expire()
    assert f.partition == 5


def test_released_pending_facts_take_the_tickets_last_seen_partition() -> None:
    """A fact released by a later event is built with the partition the ticket was last
    seen on, including partition 0 after a non-zero one (nothing is left at a default)."""
    tr = TicketTracker(retention_ms=DAY_MS)
    res = ticket_resolved("tk", "ag-1", at(500))
    assert tr.on_event(res, 5) == []
    facts = tr.on_event(ticket_assigned("tk", "ag-1", at(200)), 0)
    assert [(f.kind, f.partition) for f in facts] == [
        (FactKind.ASSIGNED, 0),
        (FactKind.RESOLVED, 0),
    ]
    assert (facts[1].event_id, value_of(facts[1])) == (res.event_id, 300_000)

    fr = first_response("tk-2", "ag-1", at(40))
    assert tr.on_event(fr, 2) == []
    [f] = tr.on_event(ticket_created("tk-2", at(0)), 7)
    assert (f.kind, f.event_id, f.partition, value_of(f)) == (
        FactKind.FIRST_RESPONSE,
        fr.event_id,
        7,
        40_000,
    )

    tr.on_event(ticket_resolved("tk-3", "ag-1", at(600)), 1)
    tr.on_event(ticket_created("tk-3", at(0)), 3)  # seen again on another partition
    [flushed] = tr.flush()
    assert flushed.partition == 3


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
    without such an assignment the resolution waits and flush gives it no handle time."""
    events = [ticket_assigned("tk", f"ag-{t}", at(t)) for t in assigned_s]
    events.append(ticket_resolved("tk", "ag-x", at(res_s)))
    events.sort(key=lambda e: (e.occurred_at, e.event_type != "ticket.assigned"))
    tr = TicketTracker()
    facts = feed(tr, *events) + tr.flush()
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


def test_one_tenants_clock_never_expires_another_tenants_tickets() -> None:
    tr = TicketTracker(retention_ms=DAY_MS)
    tr.on_event(ticket_assigned("tk", "ag-1", at(0), tenant="a"))
    tr.on_event(ticket_created("far", at(30 * 86_400), tenant="b"))  # b's clock far ahead
    assert tr.expire() == []
    assert ("a", "tk") in tr.tickets
    [f] = feed(tr, ticket_resolved("tk", "ag-1", at(600), tenant="a"))
    assert f.value == 600_000  # the assignment was still there
