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

OPS_AS_OF = f"{DAY}T10:40:00"  # newest live-ops event (the second survey)
OPS = {
    "queues": [
        {"queue": "billing", "depth": 1, "oldest_wait_s": 2100.0, "avg_wait_s": 2100.0},
        {"queue": "technical", "depth": 1, "oldest_wait_s": 1200.0, "avg_wait_s": 1200.0},
    ],
    "agents_by_status": {"active": 0, "idle": 1, "in_call": 1, "offline": 1},
    "csat_distribution": {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1},
    "messages_last_hour": {"text": 1, "image": 1, "file": 0, "audio": 0, "video": 0},
}
