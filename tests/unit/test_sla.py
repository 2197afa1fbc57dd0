"""flows.risk.sla: deadlines by priority, one breach per late ticket, decided on the watermark."""

from __future__ import annotations

import math
import pickle
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.core.timeutil import from_ms
from flows.risk.client_risk import ClientRiskTracker
from flows.risk.sla import MAX_SLA_HOURS, Breach, SlaPolicy, SlaTracker, breach_alert, breach_signal
from schemas.events import OCCURRED_AT_MAX, STORABLE_MAX, Event
from schemas.ids import stable_id
from tests.unit.helpers import (
    DAY_MS,
    HOUR_MS,
    MINIMAL_PAYLOADS,
    T0_MS,
    at,
    make_event,
    ticket_resolved,
)

FIRED = datetime(2025, 1, 6, 12, tzinfo=UTC)


def due_all(sla: SlaTracker, watermark_ms: int) -> list[Breach]:
    """``due`` for every tenant at one watermark (the single-tenant view of these tests)."""
    out: list[Breach] = []
    for tenant in sorted(sla._deadlines.keys() | sla._forget.keys()):
        out.extend(sla.due(tenant, watermark_ms))
    return out


def test_a_tenants_watermark_never_breaches_another_tenants_tickets() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", priority="urgent", tenant="a"))
    sla.on_event(created("tk-1", priority="urgent", tenant="b"))
    assert sla.due("b", T0_MS + 30 * DAY_MS) != []
    assert sla.due("a", T0_MS + HOUR_MS) == []  # a's own clock: deadline not passed
    assert [b.tenant_id for b in sla.due("a", T0_MS + HOUR_MS + 1)] == ["a"]


def created(
    ticket: str,
    when_ms: int = T0_MS,
    *,
    priority: str = "normal",
    tenant: str = "t1",
    client: str = "cl-1",
    queue: str = "billing",
) -> Event:
    payload = dict(
        MINIMAL_PAYLOADS["ticket.created"],
        ticket_id=ticket,
        priority=priority,
        client_id=client,
        queue=queue,
    )
    return make_event("ticket.created", payload, occurred_at=from_ms(when_ms), tenant=tenant)


def resolved(ticket: str, when_ms: int, *, tenant: str = "t1") -> Event:
    return ticket_resolved(ticket, "ag-1", from_ms(when_ms), tenant=tenant)


def ids(breaches: list[Breach]) -> list[str]:
    return [b.ticket_id for b in breaches]


# ---- policy -------------------------------------------------------------------------------


def test_default_policy_hours() -> None:
    p = SlaPolicy()
    assert {pr: p.hours_for("t1", pr) for pr in ("urgent", "high", "normal", "low")} == {
        "urgent": 1.0,
        "high": 4.0,
        "normal": 24.0,
        "low": 72.0,
    }
    assert p.sla_ms("t1", "urgent") == HOUR_MS


def test_tenant_override_replaces_only_its_priorities() -> None:
    p = SlaPolicy(tenant_overrides={"acme": {"normal": 2.0}})
    assert p.hours_for("acme", "normal") == 2.0
    assert p.hours_for("acme", "urgent") == 1.0
    assert p.hours_for("t1", "normal") == 24.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hours": {"urgent": 1, "high": 4, "normal": 24}}, "missing priorities"),
        ({"hours": {"urgent": 0, "high": 4, "normal": 24, "low": 72}}, "must be > 0"),
        ({"tenant_overrides": {"acme": {"critical": 1}}}, "acme.*unknown priorities"),
        ({"tenant_overrides": {"acme": {"low": -1}}}, "acme.*must be > 0"),
        # regressions: infinity (JSON ``Infinity``) made every ticket.created of the
        # priority an OverflowError, a huge SLA every watermark past its deadline one
        ({"hours": {"urgent": 1, "high": 4, "normal": math.inf, "low": 72}}, "at most 8760"),
        ({"hours": {"urgent": 1, "high": 4, "normal": math.nan, "low": 72}}, "at most 8760"),
        ({"tenant_overrides": {"acme": {"low": 1e9}}}, "acme.*at most 8760"),
        ({"tenant_overrides": {"acme": {"low": MAX_SLA_HOURS + 0.001}}}, "at most 8760"),
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SlaPolicy(**kwargs)


def test_the_longest_sla_from_the_last_accepted_time_is_storable() -> None:
    """The deadline is a derived time: the longest SLA allowed, from the last event time
    accepted, ends exactly where ClickHouse's range does."""
    assert MAX_SLA_HOURS == 8760
    sla = SlaTracker(SlaPolicy(hours=dict.fromkeys(("urgent", "high", "normal", "low"), 8760)))
    sla.on_event(make_event("ticket.created", occurred_at=OCCURRED_AT_MAX))
    (b,) = due_all(sla, 2**62)
    assert b.deadline == STORABLE_MAX
    assert breach_alert(b, FIRED).event_time == STORABLE_MAX


# ---- breaches -----------------------------------------------------------------------------


def test_breach_exactly_once_and_not_before_the_watermark_passes_the_deadline() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", priority="urgent", queue="vip", client="cl-9"))
    deadline = T0_MS + HOUR_MS
    assert due_all(sla, T0_MS) == []
    assert due_all(sla, deadline - 1) == []
    assert due_all(sla, deadline) == []  # a resolution stamped at the deadline may still come
    assert due_all(sla, deadline + 1) == [
        Breach(
            tenant_id="t1",
            ticket_id="tk-1",
            client_id="cl-9",
            priority="urgent",
            queue="vip",
            created_at=from_ms(T0_MS),
            deadline=from_ms(deadline),
        )
    ]
    assert due_all(sla, deadline + 1) == []
    assert due_all(sla, deadline + 10 * DAY_MS) == []


def test_resolved_in_time_never_breaches() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", priority="high"))
    sla.on_event(resolved("tk-1", T0_MS + 3 * HOUR_MS))
    sla.on_event(created("tk-2", priority="high"))
    sla.on_event(resolved("tk-2", T0_MS + 4 * HOUR_MS))  # exactly at the deadline: in time
    assert due_all(sla, T0_MS + 30 * DAY_MS) == []
    assert sla.held() == 0


def test_resolution_after_the_deadline_still_breaches() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", priority="high"))
    sla.on_event(resolved("tk-1", T0_MS + 4 * HOUR_MS + 1))
    assert ids(due_all(sla, T0_MS + 5 * HOUR_MS)) == ["tk-1"]


def test_earliest_resolution_counts() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", priority="high"))
    sla.on_event(resolved("tk-1", T0_MS + 9 * HOUR_MS))
    sla.on_event(resolved("tk-1", T0_MS + 1 * HOUR_MS))  # out of order, earlier: in time
    assert due_all(sla, T0_MS + DAY_MS) == []


def test_late_resolution_does_not_undo_a_breach() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", priority="urgent"))
    assert ids(due_all(sla, T0_MS + 2 * HOUR_MS)) == ["tk-1"]
    sla.on_event(resolved("tk-1", T0_MS + 30 * 60_000))  # stamped in time, arrived too late
    sla.on_event(created("tk-1", priority="urgent"))  # a duplicate creation
    assert due_all(sla, T0_MS + 3 * HOUR_MS) == []


def test_per_tenant_override() -> None:
    sla = SlaTracker(policy=SlaPolicy(tenant_overrides={"acme": {"normal": 2.0}}))
    sla.on_event(created("tk-a", tenant="acme"))
    sla.on_event(created("tk-b", tenant="t1"))
    assert due_all(sla, T0_MS + 2 * HOUR_MS) == []
    breaches = due_all(sla, T0_MS + 2 * HOUR_MS + 1)
    assert [(b.tenant_id, b.ticket_id) for b in breaches] == [("acme", "tk-a")]
    assert breaches[0].deadline == from_ms(T0_MS + 2 * HOUR_MS)
    assert ids(due_all(sla, T0_MS + DAY_MS + 1)) == ["tk-b"]


def test_resolution_arriving_before_its_creation_counts() -> None:
    sla = SlaTracker()
    sla.on_event(resolved("tk-1", T0_MS + HOUR_MS))
    sla.on_event(created("tk-1", priority="high"))
    sla.on_event(resolved("tk-2", T0_MS + 5 * HOUR_MS))  # before creation, but too late
    sla.on_event(created("tk-2", priority="high"))
    assert ids(due_all(sla, T0_MS + DAY_MS)) == ["tk-2"]
    assert sla.early_resolutions == {}


def test_same_ticket_id_in_two_tenants() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", tenant="a", priority="urgent"))
    sla.on_event(created("tk-1", tenant="b", priority="urgent"))
    sla.on_event(resolved("tk-1", T0_MS + 1, tenant="a"))
    assert [b.tenant_id for b in due_all(sla, T0_MS + DAY_MS)] == ["b"]


def test_duplicate_creation_while_open_does_not_double_breach() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", T0_MS + HOUR_MS, priority="urgent"))
    sla.on_event(created("tk-1", T0_MS, priority="urgent"))  # earlier copy sets the deadline
    sla.on_event(created("tk-1", T0_MS + 2 * HOUR_MS, priority="urgent"))
    breaches = due_all(sla, T0_MS + HOUR_MS + 1)
    assert [(b.ticket_id, b.deadline) for b in breaches] == [("tk-1", from_ms(T0_MS + HOUR_MS))]
    assert due_all(sla, T0_MS + DAY_MS) == []


def test_memory_is_released() -> None:
    sla = SlaTracker(done_retention_ms=DAY_MS, orphan_retention_ms=2 * DAY_MS)
    for i in range(50):
        sla.on_event(created(f"tk-{i}", T0_MS + i * 60_000, priority="urgent"))
        if i % 2:
            sla.on_event(resolved(f"tk-{i}", T0_MS + i * 60_000 + 1))
    sla.on_event(resolved("orphan", T0_MS))
    assert sla.held() == 51
    assert len(due_all(sla, T0_MS + DAY_MS)) == 25
    assert (len(sla.open), len(sla.done), len(sla.early_resolutions)) == (0, 50, 1)
    due_all(sla, T0_MS + 3 * DAY_MS)
    assert sla.held() == 0
    assert sla._deadlines == {}
    assert sla._forget == {}


def test_unrelated_events_are_ignored() -> None:
    sla = SlaTracker()
    sla.on_event(make_event("ticket.assigned"))
    sla.on_event(make_event("complaint.created"))
    assert sla.held() == 0


def test_tracker_pickles_mid_stream() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-1", priority="urgent"))
    sla.on_event(resolved("tk-2", T0_MS))
    copy = pickle.loads(pickle.dumps(sla))
    copy.on_event(created("tk-2", priority="urgent"))
    assert ids(due_all(copy, T0_MS + DAY_MS)) == ["tk-1"]


# ---- alert and risk signal -------------------------------------------------------------------

_BREACH = Breach(
    tenant_id="t1",
    ticket_id="tk-7",
    client_id="cl-3",
    priority="high",
    queue="billing",
    created_at=from_ms(T0_MS),
    deadline=from_ms(T0_MS + 4 * HOUR_MS),
)


@pytest.mark.parametrize(
    ("priority", "severity"),
    [("urgent", "critical"), ("high", "high"), ("normal", "medium"), ("low", "low")],
)
def test_breach_alert(priority: str, severity: str) -> None:
    b = replace(_BREACH, priority=priority)  # type: ignore[arg-type]
    alert = breach_alert(b, FIRED)
    assert alert.kind == "sla_breach"
    assert alert.severity == severity
    assert (alert.subject_type, alert.subject_id, alert.tenant_id) == ("ticket", "tk-7", "t1")
    assert alert.alert_id == stable_id("sla_breach", "t1", "tk-7")
    assert alert.event_time == b.deadline
    assert alert.fired_at == FIRED
    assert "tk-7" in alert.title
    assert alert.details == {
        "client_id": "cl-3",
        "priority": priority,
        "queue": "billing",
        "created_at": "2025-01-06T00:00:00+00:00",
        "deadline": "2025-01-06T04:00:00+00:00",
    }


def test_breach_feeds_client_risk() -> None:
    s = breach_signal(_BREACH)
    assert (s.tenant_id, s.client_id, s.factor, s.at_ms, s.value) == (
        "t1",
        "cl-3",
        "sla_breaches",
        T0_MS + 4 * HOUR_MS,
        1.0,
    )
    assert s.event_id == breach_alert(_BREACH, FIRED).alert_id
    row = ClientRiskTracker().on_signal(s)
    assert row is not None
    assert [(f.name, f.contribution) for f in row.factors] == [("sla_breaches", 0.6)]
    assert row.scored_at == at(4 * 3600)


# ---- property: any arrival order, any valid watermark, the same breaches, once each ----------

_HOURS = {"urgent": 1, "high": 4, "normal": 24, "low": 72}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Event], set[str]]:
    events: list[Event] = []
    expected: set[str] = set()
    for i in range(draw(st.integers(1, 8))):
        ticket = f"tk-{i}"
        priority = draw(st.sampled_from(sorted(_HOURS)))
        created_ms = T0_MS + draw(st.integers(0, 6 * HOUR_MS))
        deadline = created_ms + _HOURS[priority] * HOUR_MS
        events.append(created(ticket, created_ms, priority=priority))
        resolutions = draw(st.lists(st.integers(0, 100 * HOUR_MS), max_size=2))
        for offset in resolutions:
            events.append(resolved(ticket, created_ms + offset))
        if not resolutions or created_ms + min(resolutions) > deadline:
            expected.add(ticket)
    return events, expected


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.randoms(use_true_random=False))
def test_any_order_and_valid_watermarks_give_each_breach_once(
    scenario: tuple[list[Event], set[str]], rnd: Any
) -> None:
    events, expected = scenario
    rnd.shuffle(events)
    sla = SlaTracker()
    seen: list[str] = []
    for i, ev in enumerate(events):
        sla.on_event(ev)
        # a valid watermark: no later-arriving event is stamped before it
        rest = [int(e.occurred_at.timestamp() * 1000) for e in events[i + 1 :]]
        if rest:
            seen += ids(due_all(sla, min(rest)))
    seen += ids(due_all(sla, T0_MS + 30 * DAY_MS))
    seen += ids(due_all(sla, T0_MS + 60 * DAY_MS))
    assert sorted(seen) == sorted(expected)
    assert len(sla.open) == 0
