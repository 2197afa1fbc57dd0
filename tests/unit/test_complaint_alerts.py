"""flows.risk.complaints: complaint_escalation alerts (issue #12) with exact severities,
details and ids, whatever order a complaint's events arrive in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.core.timeutil import from_ms
from flows.risk.complaints import ComplaintAlerts
from schemas.events import Event
from schemas.ids import stable_id
from schemas.results import Alert
from tests.unit.helpers import DAY_MS, MINUTE_MS, T0, T0_MS, make_event

NOW = datetime(2030, 1, 1, tzinfo=T0.tzinfo)
NO_WM = -(2**62)
CREATED_ID = "00000000-0000-0000-0000-0000000000c1"
ESCALATED_ID = "00000000-0000-0000-0000-0000000000e1"


def created(
    severity: str,
    ms: int = 0,
    *,
    cid: str = "k1",
    tenant: str = "t1",
    eid: str = CREATED_ID,
    category: str = "billing",
) -> Event:
    payload: dict[str, Any] = {
        "complaint_id": cid,
        "client_id": "c1",
        "severity": severity,
        "category": category,
        "description": "the agent was rude",
        "ticket_id": "tk1",
    }
    return make_event(
        "complaint.created", payload, occurred_at=from_ms(T0_MS + ms), tenant=tenant, event_id=eid
    )


def escalated(
    severity: str,
    ms: int = MINUTE_MS,
    *,
    cid: str = "k1",
    tenant: str = "t1",
    eid: str = ESCALATED_ID,
) -> Event:
    payload = {"complaint_id": cid, "client_id": "c1", "severity": severity}
    return make_event(
        "complaint.escalated",
        payload,
        occurred_at=from_ms(T0_MS + ms),
        tenant=tenant,
        event_id=eid,
    )


def on(state: ComplaintAlerts, event: Event, *, late: bool = False, wm: int = NO_WM) -> list[Alert]:
    return state.on_event(event, late, wm, NOW)


@pytest.mark.parametrize(
    ("severity", "alerts"), [("low", 0), ("medium", 0), ("high", 1), ("critical", 1)]
)
def test_only_high_and_critical_complaints_alert_on_creation(severity: str, alerts: int) -> None:
    got = on(ComplaintAlerts(), created(severity))
    assert len(got) == alerts
    if alerts:
        assert got[0].severity == severity


def test_a_critical_complaint_alert_in_full() -> None:
    (alert,) = on(ComplaintAlerts(), created("critical"))
    assert alert == Alert(
        alert_id=stable_id("complaint_escalation", "t1", CREATED_ID),
        tenant_id="t1",
        kind="complaint_escalation",
        severity="critical",
        subject_type="complaint",
        subject_id="k1",
        title="Critical complaint k1 from client c1 (billing)",
        details={
            "cause": "created",
            "complaint_id": "k1",
            "client_id": "c1",
            "category": "billing",
            "severity": "critical",
            "ticket_id": "tk1",
            "event_id": CREATED_ID,
        },
        event_time=T0,
        fired_at=NOW,
    )
    assert "rude" not in str(alert.model_dump())  # free text never goes into alerts


@pytest.mark.parametrize("severity", ["low", "medium", "high", "critical"])
def test_every_escalation_alerts_with_its_own_severity(severity: str) -> None:
    state = ComplaintAlerts()
    on(state, created("medium"))
    (alert,) = on(state, escalated(severity))
    assert alert.severity == severity
    assert alert.alert_id == stable_id("complaint_escalation", "t1", ESCALATED_ID)
    assert (alert.subject_type, alert.subject_id) == ("complaint", "k1")
    assert alert.event_time == from_ms(T0_MS + MINUTE_MS)
    assert alert.details == {
        "cause": "escalated",
        "complaint_id": "k1",
        "client_id": "c1",
        "category": "billing",
        "severity": severity,
        "created_severity": "medium",
        "event_id": ESCALATED_ID,
    }
    assert alert.title == f"Complaint k1 of client c1 (billing) escalated to {severity}"


def test_an_escalation_before_its_creation_waits_for_it() -> None:
    state = ComplaintAlerts()
    assert on(state, escalated("high")) == []
    (alert,) = on(state, created("low"))
    assert (alert.details["category"], alert.details["created_severity"]) == ("billing", "low")
    assert state.pending == {}


def test_without_its_creation_an_escalation_goes_out_when_the_watermark_passes_it() -> None:
    state = ComplaintAlerts()
    assert on(state, escalated("critical")) == []
    assert state.on_watermark("t1", T0_MS + MINUTE_MS, NOW) == []  # not past it yet
    assert state.on_watermark("t2", T0_MS + DAY_MS, NOW) == []  # another tenant's clock
    (alert,) = state.on_watermark("t1", T0_MS + MINUTE_MS + 1, NOW)
    assert (alert.severity, alert.details["category"]) == ("critical", None)
    assert alert.title == "Complaint k1 of client c1 escalated to critical"
    # a late escalation behind the watermark with no creation goes out at once
    assert (
        on(state, escalated("low", eid=CREATED_ID), wm=T0_MS + 2 * MINUTE_MS)[0].severity == "low"
    )


def test_late_or_later_creations_never_name_the_category() -> None:
    state = ComplaintAlerts()
    on(state, created("high"), late=True)  # judged late: could have come after the watermark
    on(state, created("high", 2 * MINUTE_MS, eid=ESCALATED_ID.replace("e1", "c2")))  # after it
    assert on(state, escalated("critical")) == []
    (alert,) = state.flush(NOW)
    assert alert.details["category"] is None


def test_creations_are_forgotten_after_the_retention() -> None:
    state = ComplaintAlerts(retention_ms=10 * DAY_MS)
    on(state, created("low"))
    state.on_watermark("t1", T0_MS + 10 * DAY_MS + 1, NOW)
    assert state.created == {}
    assert state.expiry == {}
    # an escalation more than the retention after the creation would not use it anyway
    state2 = ComplaintAlerts(retention_ms=10 * DAY_MS)
    on(state2, created("low"))
    assert on(state2, escalated("high", 10 * DAY_MS + 1)) == []


def test_ids_are_per_tenant_and_event_so_replays_rewrite() -> None:
    a = on(ComplaintAlerts(), created("high"))[0]
    again = on(ComplaintAlerts(), created("high"))[0]
    other = on(ComplaintAlerts(), created("high", tenant="t2"))[0]
    assert a.alert_id == again.alert_id
    assert a.alert_id != other.alert_id


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(["created", "escalated", "escalated2"]),
    wm_after=st.integers(0, 3),
)
def test_alerts_do_not_depend_on_arrival_order(order: list[str], wm_after: int) -> None:
    """A creation and two escalations, in any arrival order, with the watermark applied
    anywhere it could be (never past an on-time event that has not arrived): the same
    alerts, with the category."""
    events = {
        "created": created("high", 0),
        "escalated": escalated("critical", MINUTE_MS),
        "escalated2": escalated("low", 2 * MINUTE_MS, eid=ESCALATED_ID.replace("e1", "e2")),
    }
    state = ComplaintAlerts()
    out: list[Alert] = []
    for i, name in enumerate(order):
        if i == wm_after:
            # the watermark can only be past events that have all arrived
            arrived = [events[n] for n in order[:i]]
            wm = min(
                [
                    int(e.occurred_at.timestamp() * 1000)
                    for e in events.values()
                    if e not in arrived
                ],
                default=T0_MS + DAY_MS,
            )
            out += state.on_watermark("t1", wm, NOW)
        out += on(state, events[name])
    out += state.flush(NOW)
    assert sorted((a.severity, a.details["category"]) for a in out) == [
        ("critical", "billing"),
        ("high", "billing"),
        ("low", "billing"),
    ]
