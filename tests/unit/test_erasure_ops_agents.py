"""An erased client leaves the live-ops state (its complaints, no longer counted) and the
agent facts' ticket state (its tickets); an erasure reaches every shard of a sharded step.
Demand keeps counts per segment only: nothing of a client to forget."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flows.agents.facts import FactKind, TicketTracker
from flows.core.keys import erasures_to_every_shard, is_erasure, ticket_key
from flows.core.timeutil import from_ms
from flows.ops.live_ops import LiveOps
from schemas.events import Event
from schemas.transport import Accepted
from tests.unit.helpers import MINUTE_MS, T0_MS, make_event, ticket_assigned, uid

GONE = "client-gone-7q"
KEPT = "client-kept-3w"


def absent(state: object, *needles: str) -> None:
    blob = pickle.dumps(state)
    for needle in needles:
        assert needle.encode() not in blob, f"{needle!r} is still in the state"


def ev(event_type: str, payload: dict[str, Any], ms: int = 0, tenant: str = "t1") -> Event:
    return make_event(event_type, payload, occurred_at=from_ms(T0_MS + ms), tenant=tenant)


def erasure(client: str, ms: int = 0, tenant: str = "t1") -> Event:
    payload = {"erasure_id": str(uid("erasure", tenant, client)), "client_id": client}
    return ev("client.erasure_requested", payload, ms, tenant)


def complaint(event_type: str, cid: str, client: str, ms: int, tenant: str = "t1") -> Event:
    payload: dict[str, Any] = {"complaint_id": cid, "client_id": client}
    if event_type == "complaint.created":
        payload |= {"severity": "high", "category": "billing", "description": "rude agent"}
    elif event_type == "complaint.resolved":
        payload["agent_id"] = "ag-1"
    else:
        payload["severity"] = "critical"
    return ev(event_type, payload, ms, tenant)


# ---- live ops -------------------------------------------------------------------------------


def test_live_ops_forgets_the_clients_complaints_open_or_resolved() -> None:
    ops = LiveOps("t1")
    ops.on_event(complaint("complaint.created", "k-gone-open", GONE, 0))
    ops.on_event(complaint("complaint.created", "k-gone-done", GONE, 0))
    ops.on_event(complaint("complaint.resolved", "k-gone-done", GONE, MINUTE_MS))
    ops.on_event(complaint("complaint.escalated", "k-kept", KEPT, MINUTE_MS))
    assert ops.snapshot().open_complaints == {"low": 0, "medium": 0, "high": 1, "critical": 1}

    ops.on_event(erasure(GONE, 2 * MINUTE_MS))

    assert ops.snapshot().open_complaints == {"low": 0, "medium": 0, "high": 0, "critical": 1}
    absent(ops, GONE, "k-gone-open", "k-gone-done")
    assert "k-kept" in ops.complaints
    assert ops.forget_client(GONE) == 0


def test_live_ops_of_another_tenant_is_untouched_by_an_erasure_elsewhere() -> None:
    ops = LiveOps("t2")
    ops.on_event(complaint("complaint.created", "k-1", GONE, 0, tenant="t2"))
    before = pickle.dumps(ops)
    assert ops.forget_client("client-of-nobody") == 0
    assert pickle.dumps(ops) == before


# ---- agent facts ------------------------------------------------------------------------------


def created(ticket: str, client: str, ms: int = 0, tenant: str = "t1") -> Event:
    payload = {
        "ticket_id": ticket,
        "client_id": client,
        "channel": "email",
        "queue": "billing",
        "priority": "normal",
        "category": "invoice",
        "subject": "s",
        "description": "d",
        "region": "eu",
    }
    return ev("ticket.created", payload, ms, tenant)


def resolved(ticket: str, ms: int, tenant: str = "t1") -> Event:
    payload = {
        "ticket_id": ticket,
        "agent_id": "ag-1",
        "category": "invoice",
        "resolution_code": "fixed",
        "resolution_text": "done",
    }
    return ev("ticket.resolved", payload, ms, tenant)


def test_agent_ticket_state_forgets_the_clients_tickets_and_keeps_the_agents_work() -> None:
    tracker = TicketTracker()
    tracker.on_event(created("tk-gone", GONE))
    # counted on arrival (without a handle time: no assignment yet), erasure or not
    counted = tracker.on_event(resolved("tk-gone", MINUTE_MS))
    tracker.on_event(created("tk-kept", KEPT))
    tracker.on_event(created("tk-gone", GONE, tenant="t2"))

    assert tracker.forget_client("t1", GONE) == 1

    assert [(f.agent_id, f.kind, f.value) for f in counted] == [("ag-1", FactKind.RESOLVED, None)]
    assert set(tracker.tickets) == {("t1", "tk-kept"), ("t2", "tk-gone")}
    assert tracker.forget_client("t1", GONE) == 0
    tracker.forget_client("t2", GONE)
    absent(tracker, GONE, "tk-gone")
    # the kept ticket still joins: an assignment then a resolution give a handle time
    when = from_ms(T0_MS + 2 * MINUTE_MS)
    tracker.on_event(ticket_assigned("tk-kept", "ag-1", when))
    [fact] = tracker.on_event(resolved("tk-kept", 5 * MINUTE_MS))
    assert fact.value == 3 * MINUTE_MS


# ---- keys ---------------------------------------------------------------------------------------


def accepted(event: Event) -> Accepted:
    return Accepted(event, 0, 0, datetime(2030, 1, 1, tzinfo=UTC))


def test_an_erasure_goes_to_every_shard_other_events_to_their_own() -> None:
    items = [
        accepted(created("tk-1", KEPT)),
        accepted(erasure(GONE)),
        accepted(resolved("tk-1", 1)),
    ]
    key = partial(ticket_key, 4)

    keyed = erasures_to_every_shard(4, key, items)

    assert [k for k, a in keyed if is_erasure(a)] == ["0", "1", "2", "3"]
    assert [(k, a) for k, a in keyed if not is_erasure(a)] == [
        (key(items[0]), items[0]),
        (key(items[2]), items[2]),
    ]
    assert keyed[0][1] is items[0]  # input order kept
