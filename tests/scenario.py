"""A small scripted day of events with hand-computed expected metrics.

Used by integration and end-to-end tests; every number below is derived by hand from
the timeline, not by running the code under test.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

DAY = "2026-03-02"
_NS = uuid.UUID("0b7a1f6e-54c4-4f0e-9b8e-6d1c2b3a4f50")


def _id(label: str) -> str:
    return str(uuid.uuid5(_NS, label))


def event(
    label: str, event_type: str, at: str, payload: dict[str, Any], tenant: str = "acme"
) -> dict[str, Any]:
    return {
        "event_id": _id(label),
        "event_type": event_type,
        "schema_version": 1,
        "tenant_id": tenant,
        "occurred_at": f"{DAY}T{at}Z",
        "source": "scenario",
        "payload": payload,
    }


def _created(label: str, ticket: str, at: str, tenant: str = "acme") -> dict[str, Any]:
    return event(
        label,
        "ticket.created",
        at,
        {
            "ticket_id": ticket,
            "client_id": "C1",
            "channel": "email",
            "queue": "billing",
            "priority": "high",
            "category": "billing",
            "subject": "Invoice wrong",
            "description": "Charged twice",
            "region": "north",
        },
        tenant,
    )


def _assigned(label: str, ticket: str, agent: str, at: str, tenant: str = "acme") -> dict[str, Any]:
    return event(
        label,
        "ticket.assigned",
        at,
        {"ticket_id": ticket, "agent_id": agent, "assigned_by": "auto"},
        tenant,
    )


def _responded(label: str, ticket: str, agent: str, at: str) -> dict[str, Any]:
    return event(label, "ticket.first_response", at, {"ticket_id": ticket, "agent_id": agent})


def _resolved(label: str, ticket: str, agent: str, at: str, tenant: str = "acme") -> dict[str, Any]:
    return event(
        label,
        "ticket.resolved",
        at,
        {
            "ticket_id": ticket,
            "agent_id": agent,
            "category": "billing",
            "resolution_code": "refund",
            "resolution_text": "Refunded the duplicate charge",
        },
        tenant,
    )


def _csat(label: str, ticket: str, agent: str, rating: int, at: str) -> dict[str, Any]:
    return event(
        label,
        "csat.received",
        at,
        {
            "survey_id": f"S-{ticket}",
            "ticket_id": ticket,
            "agent_id": agent,
            "client_id": "C1",
            "rating": rating,
        },
    )


def timeline() -> list[dict[str, Any]]:
    """In arrival order: each tenant's events in event-time order, as producers send
    them, except T3's assignment, which arrives after its first response, exactly the
    allowed lateness (60 s) behind it: out of order, still on time."""
    return [
        _created("t1c", "T1", "09:00:00"),
        _assigned("t1a", "T1", "A1", "09:02:00"),
        _responded("t1r", "T1", "A1", "09:05:00"),
        _created("t2c", "T2", "09:10:00"),
        _assigned("t2a1", "T2", "A1", "09:11:00"),
        _assigned("t2a2", "T2", "A2", "09:20:00"),
        _responded("t2r", "T2", "A2", "09:21:00"),
        _resolved("t1s", "T1", "A1", "09:32:00"),
        _csat("t1q", "T1", "A1", 2, "09:40:00"),
        _resolved("t2s", "T2", "A2", "09:50:00"),
        _created("t3c", "T3", "09:58:00"),
        _responded("t3r", "T3", "A1", "10:01:00"),
        _assigned("t3a", "T3", "A1", "10:00:00"),
        _csat("t2q", "T2", "A2", 5, "10:05:00"),
        _resolved("t3s", "T3", "A1", "10:30:00"),
        _created("g9c", "T9", "09:00:00", "globex"),
        _assigned("g9a", "T9", "G1", "09:01:00", "globex"),
        _resolved("g9s", "T9", "G1", "09:31:00", "globex"),
    ]


def duplicate() -> dict[str, Any]:
    """A producer retry: same event_id as T1's assignment."""
    return _assigned("t1a", "T1", "A1", "09:02:00")


def late_event() -> dict[str, Any]:
    """Sent last, hours behind the watermark: recorded as late, never counted."""
    return _assigned("late", "T7", "A1", "08:00:00")


def invalid_lines() -> list[bytes]:
    bad_rating = _csat("bad", "T1", "A1", 9, "09:45:00")
    return [b'{"event_id": "oops"', json.dumps(bad_rating).encode()]


def encode(e: dict[str, Any]) -> bytes:
    return json.dumps(e).encode()


COACHING_ALERT_ID_LABEL = "t1q"

# Expected final metrics: (agent, window, window_start) -> fields.
EXPECTED: dict[tuple[str, str, str], dict[str, Any]] = {
    ("A1", "1h", f"{DAY}T09:00:00"): {
        "tickets_assigned": 2,
        "tickets_resolved": 1,
        "avg_handle_time_s": 1800.0,
        "avg_first_response_s": 300.0,
        "csat_avg": 2.0,
        "csat_count": 1,
        "low_csat_count": 1,
    },
    ("A1", "1h", f"{DAY}T10:00:00"): {
        "tickets_assigned": 1,
        "tickets_resolved": 1,
        "avg_handle_time_s": 1800.0,
        "avg_first_response_s": 180.0,
        "csat_avg": None,
        "csat_count": 0,
        "low_csat_count": 0,
    },
    ("A2", "1h", f"{DAY}T09:00:00"): {
        "tickets_assigned": 1,
        "tickets_resolved": 1,
        "avg_handle_time_s": 1800.0,
        "avg_first_response_s": 660.0,
        "csat_avg": None,
        "csat_count": 0,
        "low_csat_count": 0,
    },
    ("A2", "1h", f"{DAY}T10:00:00"): {
        "tickets_assigned": 0,
        "tickets_resolved": 0,
        "avg_handle_time_s": None,
        "avg_first_response_s": None,
        "csat_avg": 5.0,
        "csat_count": 1,
        "low_csat_count": 0,
    },
    ("A1", "1d", f"{DAY}T00:00:00"): {
        "tickets_assigned": 3,
        "tickets_resolved": 2,
        "avg_handle_time_s": 1800.0,
        "avg_first_response_s": 240.0,
        "csat_avg": 2.0,
        "csat_count": 1,
        "low_csat_count": 1,
    },
    ("A1", "5m", f"{DAY}T09:00:00"): {
        "tickets_assigned": 1,
        "tickets_resolved": 0,
        "avg_handle_time_s": None,
        "avg_first_response_s": None,
        "csat_avg": None,
        "csat_count": 0,
        "low_csat_count": 0,
    },
    ("A1", "5m", f"{DAY}T09:05:00"): {
        "tickets_assigned": 0,
        "tickets_resolved": 0,
        "avg_handle_time_s": None,
        "avg_first_response_s": 300.0,
        "csat_avg": None,
        "csat_count": 0,
        "low_csat_count": 0,
    },
}
# Windows per agent: A1 5m {09:00,09:05,09:10,09:30,09:40,10:00,10:30} = 7, 1h 2, 1d 1;
# A2 5m {09:20,09:50,10:05} = 3, 1h 2, 1d 1; G1 5m {09:00,09:30} = 2, 1h 1, 1d 1.
EXPECTED_ROWS = {"acme": 10 + 6, "globex": 4}
