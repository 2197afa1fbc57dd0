"""A scripted morning for client risk, SLA breaches and live operations, with the
expected results derived by hand from the timeline and the documented risk model."""

from __future__ import annotations

import math
from typing import Any

from tests.scenario import DAY, event


def _ticket(label: str, ticket: str, client: str, priority: str, at: str) -> dict[str, Any]:
    return event(
        label,
        "ticket.created",
        at,
        {
            "ticket_id": ticket,
            "client_id": client,
            "channel": "phone",
            "queue": "billing",
            "priority": priority,
            "category": "billing",
            "subject": "Card declined",
            "description": "Payment fails",
            "region": "north",
        },
    )


def _resolved(label: str, ticket: str, at: str) -> dict[str, Any]:
    return event(
        label,
        "ticket.resolved",
        at,
        {
            "ticket_id": ticket,
            "agent_id": "A1",
            "category": "billing",
            "resolution_code": "fixed",
            "resolution_text": "Updated the card",
        },
    )


def _session(label: str, kind: str, session: str, queue: str, at: str) -> dict[str, Any]:
    return event(
        label, f"session.{kind}", at, {"session_id": session, "channel": "chat", "queue": queue}
    )


def _status(label: str, agent: str, status: str, at: str) -> dict[str, Any]:
    return event(
        label, "agent.status_changed", at, {"agent_id": agent, "status": status, "team": "billing"}
    )


def _csat(label: str, ticket: str, client: str, rating: int, at: str) -> dict[str, Any]:
    return event(
        label,
        "csat.received",
        at,
        {
            "survey_id": f"S-{label}",
            "ticket_id": ticket,
            "agent_id": "A1",
            "client_id": client,
            "rating": rating,
        },
    )


def timeline() -> list[dict[str, Any]]:
    return [
        _status("st1", "A1", "active", "09:00:00"),
        _ticket("r1c", "R1", "C1", "urgent", "09:00:00"),
        _ticket("r2c", "R2", "C2", "urgent", "09:00:00"),  # never resolved: breach at 10:00
        _ticket("r3c", "R3", "C2", "normal", "09:10:00"),
        event(
            "c2c",
            "complaint.created",
            "09:20:00",
            {
                "complaint_id": "K1",
                "client_id": "C2",
                "severity": "critical",
                "category": "billing",
                "description": "Charged three times",
            },
        ),
        _resolved("r1s", "R1", "09:30:00"),  # urgent, in time
        _status("st2", "A2", "in_call", "09:30:00"),
        event(
            "c2e",
            "complaint.escalated",
            "09:40:00",
            {"complaint_id": "K1", "client_id": "C2", "severity": "critical"},
        ),
        _status("st3", "A3", "offline", "09:45:00"),
        _csat("q1", "R3", "C2", 1, "09:50:00"),
        event("h2", "client.health_updated", "09:55:00", {"client_id": "C2", "health_score": 20}),
        _session("s1q", "queued", "S1", "billing", "10:00:00"),
        _status("st4", "A1", "idle", "10:00:00"),
        _session("s2q", "queued", "S2", "billing", "10:05:00"),
        _session("s1s", "started", "S1", "billing", "10:10:00"),
        event(
            "m1",
            "message.sent",
            "10:11:00",
            {"session_id": "S1", "sender": "customer", "kind": "text"},
        ),
        event(
            "m2",
            "message.sent",
            "10:12:00",
            {"session_id": "S1", "sender": "agent", "kind": "image"},
        ),
        _session("s3q", "queued", "S3", "technical", "10:20:00"),
        event("r1o", "ticket.reopened", "10:30:00", {"ticket_id": "R1"}),
        _csat("q2", "R1", "C1", 5, "10:40:00"),
        _resolved("r3s", "R3", "11:00:00"),
    ]


# Risk model defaults (schemas/risk_model.json): bias -3, half-life 14 days, weights
# critical complaint 2.5, escalation 1.2, low CSAT 0.7, SLA breach 0.6, reopen 0.4,
# health 3.0 * (100 - score) / 100.
HALF_LIFE_MIN = 14 * 24 * 60


def _decay(minutes: float) -> float:
    return float(2 ** (-minutes / HALF_LIFE_MIN))


# C2 is scored at its newest signal, the SLA breach at the deadline 10:00.
C2_CONTRIBUTIONS = {
    "complaints_critical": 2.5 * _decay(40),
    "escalations": 1.2 * _decay(20),
    "low_csat": 0.7 * _decay(10),
    "health": 3.0 * 0.8,
    "sla_breaches": 0.6,
}


def probability(contributions: dict[str, float]) -> float:
    return 1 / (1 + math.exp(-(-3.0 + math.fsum(contributions.values()))))


C2_PROBABILITY = probability(C2_CONTRIBUTIONS)  # ~0.988: critical
C1_PROBABILITY = probability({"reopenings": 0.4})  # ~0.069: low
# Level rises for C2, one alert each: complaint -> medium (p=0.378), escalation -> high
# (0.668), low CSAT -> critical (0.80).
C2_ALERT_LEVELS = ["medium", "high", "critical"]

OPS_AS_OF = f"{DAY}T11:00:00"  # newest live-ops event (R3's resolution)


def _agent(
    agent: str, status: str, since: str, last: str, counts: tuple[int, int, int] = (0, 0, 0)
) -> dict[str, Any]:
    """A board row: counts are (active sessions, sessions today, open tickets)."""
    return {
        "agent_id": agent,
        "status": status,
        "since": f"{DAY}T{since}+00:00",
        "last_event_at": f"{DAY}T{last}+00:00",
        "active_sessions": counts[0],
        "sessions_today": counts[1],
        "open_tickets": counts[2],
    }


OPS = {
    "queues": [
        {
            "queue": "billing",
            "depth": 1,
            "oldest_wait_s": 3300.0,
            "avg_wait_s": 3300.0,
            "active_sessions": 1,
        },
        {
            "queue": "technical",
            "depth": 1,
            "oldest_wait_s": 2400.0,
            "avg_wait_s": 2400.0,
            "active_sessions": 0,
        },
    ],
    "agents_by_status": {"active": 0, "idle": 1, "in_call": 1, "offline": 1},
    "csat_distribution": {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1},
    "messages_last_hour": {"text": 1, "image": 1, "file": 0, "audio": 0, "video": 0},
    "open_complaints": {"low": 0, "medium": 0, "high": 0, "critical": 1},
    "messages_peak_hour": {"hour": f"{DAY}T10:00:00+00:00", "count": 2},
    "agents": [
        _agent("A1", "idle", "10:00:00", "11:00:00"),  # last: it resolved R3 at 11:00
        _agent("A2", "in_call", "09:30:00", "09:30:00"),
        _agent("A3", "offline", "09:45:00", "09:45:00"),
    ],
}


# ---- issue #12: complaint escalations and the per-agent board ----------------------------


def _complaint(label: str, complaint: str, severity: str, category: str, at: str) -> dict[str, Any]:
    payload = {
        "complaint_id": complaint,
        "client_id": "C9",
        "severity": severity,
        "category": category,
        "description": "Parcel lost",
    }
    return event(label, "complaint.created", at, payload)


def board_timeline() -> list[dict[str, Any]]:
    """More acme traffic on top of :func:`timeline` (complaints of a client C9, work of
    A2), and a little of globex's."""
    return [
        _complaint("k2c", "K2", "high", "service", "10:15:00"),
        _complaint("k3c", "K3", "low", "delivery", "10:16:00"),
        event(
            "k3e",
            "complaint.escalated",
            "10:25:00",
            {"complaint_id": "K3", "client_id": "C9", "severity": "medium"},
        ),
        event(
            "r4a",
            "ticket.assigned",
            "10:35:00",
            {"ticket_id": "R4", "agent_id": "A2", "assigned_by": "manual"},
        ),
        event(
            "s4s",
            "session.started",
            "10:36:00",
            {"session_id": "S4", "channel": "chat", "queue": "billing", "agent_id": "A2"},
        ),
        event(
            "m3",
            "message.sent",
            "10:37:00",
            {"session_id": "S4", "sender": "agent", "kind": "text"},
        ),
        event(
            "k2r",
            "complaint.resolved",
            "10:50:00",
            {"complaint_id": "K2", "client_id": "C9", "agent_id": "A2"},
        ),
        event(
            "gs1",
            "agent.status_changed",
            "10:00:00",
            {"agent_id": "G-A1", "status": "active", "team": "x"},
            tenant="globex",
        ),
        event(
            "gk1",
            "complaint.created",
            "10:05:00",
            {
                "complaint_id": "GK1",
                "client_id": "G-C1",
                "severity": "critical",
                "category": "billing",
                "description": "No service",
            },
            tenant="globex",
        ),
    ]


# complaint_escalation alerts of timeline() + board_timeline(), acme's:
# (subject, severity, cause, category, created_severity)
ESCALATIONS = [
    ("K1", "critical", "created", "billing", None),  # K1 created critical at 09:20
    ("K1", "critical", "escalated", "billing", "critical"),  # escalated at 09:40
    ("K2", "high", "created", "service", None),
    ("K3", "medium", "escalated", "delivery", "low"),  # K3 created low: no alert then
]

# /v1/ops/live of acme after timeline() + board_timeline()
BOARD_OPS = {
    "as_of": f"{DAY}T11:00:00+00:00",
    "queues": [
        {**OPS["queues"][0], "active_sessions": 2},  # S1 and A2's S4
        OPS["queues"][1],
    ],
    "agents_by_status": OPS["agents_by_status"],
    "csat_distribution": OPS["csat_distribution"],
    "messages_last_hour": {"text": 2, "image": 1, "file": 0, "audio": 0, "video": 0},
    "open_complaints": {"low": 0, "medium": 1, "high": 0, "critical": 1},  # K3, K1
    "messages_peak_hour": {"hour": f"{DAY}T10:00:00+00:00", "count": 3},
    "agents": [
        _agent("A1", "idle", "10:00:00", "11:00:00"),
        # last: it resolved K2 at 10:50; S4 is active, started today; R4 is open
        _agent("A2", "in_call", "09:30:00", "10:50:00", (1, 1, 1)),
        _agent("A3", "offline", "09:45:00", "09:45:00"),
    ],
}
