"""An erased client leaves the client-risk state: SLA deadlines and decided tickets, the
ticket -> client map, its score, its complaints; another client's data and the same
client id in another tenant stay as they were."""

from __future__ import annotations

import pickle
from datetime import datetime
from typing import Any

from flows.core.timeutil import from_ms
from flows.risk.client_risk import (
    ERASURE,
    ClientRiskTracker,
    RiskSignal,
    TicketClients,
    erasure_signals,
)
from flows.risk.complaints import ComplaintAlerts
from flows.risk.sla import SlaTracker
from schemas.events import Event
from tests.unit.helpers import HOUR_MS, MINUTE_MS, T0, T0_MS, make_event, uid

GONE = "client-gone-7q"
KEPT = "client-kept-3w"
NOW = datetime(2030, 1, 1, tzinfo=T0.tzinfo)


def absent(state: object, *needles: str) -> None:
    blob = pickle.dumps(state)
    for needle in needles:
        assert needle.encode() not in blob, f"{needle!r} is still in the state"


def ev(event_type: str, payload: dict[str, Any], ms: int = 0, tenant: str = "t1") -> Event:
    return make_event(event_type, payload, occurred_at=from_ms(T0_MS + ms), tenant=tenant)


def created(ticket: str, client: str, ms: int = 0, tenant: str = "t1") -> Event:
    payload = {
        "ticket_id": ticket,
        "client_id": client,
        "channel": "email",
        "queue": "billing",
        "priority": "urgent",
        "category": "invoice",
        "subject": "s",
        "description": "d",
        "region": "eu",
    }
    return ev("ticket.created", payload, ms, tenant)


def erasure(client: str, ms: int = 0, tenant: str = "t1") -> Event:
    payload = {"erasure_id": str(uid("erasure", tenant, client)), "client_id": client}
    return ev("client.erasure_requested", payload, ms, tenant)


def test_sla_forgets_open_and_decided_tickets_of_the_client_only() -> None:
    sla = SlaTracker()
    sla.on_event(created("tk-gone-decided", GONE, 0))
    assert [b.ticket_id for b in sla.due("t1", T0_MS + 2 * HOUR_MS)] == ["tk-gone-decided"]
    sla.on_event(created("tk-gone-open", GONE, 3 * HOUR_MS))
    sla.on_event(created("tk-kept", KEPT, 3 * HOUR_MS))
    sla.on_event(created("tk-other-tenant", GONE, 3 * HOUR_MS, tenant="t2"))

    assert sla.forget_client("t1", GONE) == 2

    absent(sla, "tk-gone-decided", "tk-gone-open")
    # the erased ticket never breaches; the others still do, once each
    assert [b.ticket_id for b in sla.due("t1", T0_MS + 5 * HOUR_MS)] == ["tk-kept"]
    [other] = sla.due("t2", T0_MS + 5 * HOUR_MS)
    assert (other.ticket_id, other.client_id) == ("tk-other-tenant", GONE)
    assert sla.forget_client("t1", GONE) == 0
    assert sla.forget_client("t2", GONE) == 1  # decided, kept as a tombstone until now
    absent(sla, GONE, "tk-other-tenant")


def test_ticket_clients_forget_which_tickets_were_the_clients() -> None:
    tc = TicketClients()
    tc.on_event(created("tk-gone", GONE))
    tc.on_event(created("tk-kept", KEPT))
    tc.on_event(created("tk-gone", GONE, tenant="t2"))

    assert tc.forget_client("t1", GONE) == 1

    assert ("t1", "tk-gone") not in tc.clients
    assert tc.clients == {("t1", "tk-kept"): KEPT, ("t2", "tk-gone"): GONE}
    assert all((e[2], e[3]) != ("t1", "tk-gone") for e in tc._expiry)
    tc.forget_client("t2", GONE)
    absent(tc, GONE, "tk-gone")


def test_the_score_of_the_client_is_forgotten_and_no_row_is_due() -> None:
    tracker = ClientRiskTracker()
    for tenant, client in (("t1", GONE), ("t1", KEPT), ("t2", GONE)):
        tracker.on_signal(
            RiskSignal(tenant, client, "complaints_high", T0_MS, 1.0, uid(tenant, client))
        )
    [signal] = erasure_signals(erasure(GONE, MINUTE_MS))
    assert (signal.tenant_id, signal.client_id, signal.factor) == ("t1", GONE, ERASURE)

    assert tracker.forget_client(signal.tenant_id, signal.client_id)

    assert tracker.score_at("t1", GONE, T0_MS + MINUTE_MS) is None
    assert tracker.score_at("t1", KEPT, T0_MS + MINUTE_MS) is not None
    assert tracker.score_at("t2", GONE, T0_MS + MINUTE_MS) is not None
    assert not tracker.forget_client("t1", GONE)
    tracker.forget_client("t2", GONE)
    absent(tracker, GONE)


def test_only_an_erasure_makes_an_erasure_signal() -> None:
    assert erasure_signals(created("tk-1", GONE)) == []


def complaint(event_type: str, cid: str, client: str, ms: int, tenant: str = "t1") -> Event:
    payload: dict[str, Any] = {"complaint_id": cid, "client_id": client, "severity": "critical"}
    if event_type == "complaint.created":
        payload |= {"category": "billing", "description": f"{client} says the agent was rude"}
    return ev(event_type, payload, ms, tenant)


def test_complaints_of_the_client_are_forgotten_and_its_waiting_escalation_never_alerts() -> None:
    state = ComplaintAlerts()
    no_wm = -(2**62)
    state.on_event(complaint("complaint.created", "k-gone-1", GONE, 0), False, no_wm, NOW)
    # an escalation whose creation has not arrived waits (it would alert later)
    state.on_event(complaint("complaint.escalated", "k-gone-2", GONE, MINUTE_MS), False, no_wm, NOW)
    state.on_event(complaint("complaint.escalated", "k-kept", KEPT, MINUTE_MS), False, no_wm, NOW)
    state.on_event(complaint("complaint.created", "k-gone-1", GONE, 0, "t2"), False, no_wm, NOW)

    assert state.forget_client("t1", GONE) == 2

    absent(state, "k-gone-2")
    assert ("t1", "k-gone-1") not in state.created
    [alert] = state.on_watermark("t1", T0_MS + 2 * MINUTE_MS, NOW)  # only the kept client's
    assert alert.subject_id == "k-kept"
    assert ("t2", "k-gone-1") in state.created  # the other tenant's client stays
    state.forget_client("t2", GONE)
    absent(state, GONE, "k-gone-1")
