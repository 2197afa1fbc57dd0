"""Synthetic traffic with exact agent and client counts, for throughput benchmarks.

The simulator models shifts and rosters, so only some agents and clients are live at a
time; a benchmark of key cardinality needs every one of N agents and M clients to see
traffic. Per ticket (client and agent drawn uniformly): created, assigned, first
response, resolved; 40 % get a CSAT survey, 5 % a complaint (a third escalated), 5 % a
health update, 3 % a reopening; and a chat session (queued, started, 2 messages, ended)
per ticket keeps the live-ops flow busy.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

_SEVERITIES = ("low", "medium", "high", "critical")
_PRIORITIES = ("low", "normal", "high", "urgent")


def mixed_traffic(
    n: int,
    agents: int,
    clients: int,
    seed: int = 1,
    tenants: int = 10,
    start: datetime | None = None,
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs; event time advances ~1 s per ticket, in order per entity."""
    rng = random.Random(seed)
    t0 = start or datetime.now(UTC) - timedelta(days=3)
    emitted = 0
    ticket = 0
    while emitted < n:
        ticket += 1
        tenant = f"t{ticket % tenants}"
        agent = f"agent-{rng.randrange(agents)}"
        client = f"client-{rng.randrange(clients)}"
        tid, sid = f"T{ticket}", f"S{ticket}"
        at = t0 + timedelta(seconds=ticket)
        steps: list[tuple[str, str, int, dict[str, Any]]] = [
            (
                "ticket.created",
                tid,
                0,
                {
                    "ticket_id": tid,
                    "client_id": client,
                    "channel": "chat",
                    "queue": "billing",
                    "priority": _PRIORITIES[ticket % 4],
                    "category": "billing",
                    "subject": "Invoice question",
                    "description": "Please check my invoice",
                    "region": "north",
                },
            ),
            (
                "session.queued",
                sid,
                5,
                {"session_id": sid, "channel": "chat", "queue": f"q{ticket % 5}"},
            ),
            (
                "ticket.assigned",
                tid,
                30,
                {"ticket_id": tid, "agent_id": agent, "assigned_by": "auto"},
            ),
            (
                "session.started",
                sid,
                40,
                {
                    "session_id": sid,
                    "channel": "chat",
                    "queue": f"q{ticket % 5}",
                    "agent_id": agent,
                },
            ),
            ("message.sent", sid, 50, {"session_id": sid, "sender": "customer", "kind": "text"}),
            ("ticket.first_response", tid, 90, {"ticket_id": tid, "agent_id": agent}),
            ("message.sent", sid, 95, {"session_id": sid, "sender": "agent", "kind": "text"}),
            (
                "session.ended",
                sid,
                120,
                {
                    "session_id": sid,
                    "channel": "chat",
                    "queue": f"q{ticket % 5}",
                    "agent_id": agent,
                },
            ),
            (
                "ticket.resolved",
                tid,
                600 + rng.randrange(7200),
                {
                    "ticket_id": tid,
                    "agent_id": agent,
                    "category": "billing",
                    "resolution_code": "answered",
                    "resolution_text": "Explained the invoice",
                },
            ),
        ]
        r = rng.random()
        if r < 0.4:
            steps.append(
                (
                    "csat.received",
                    tid,
                    9000,
                    {
                        "survey_id": f"V{ticket}",
                        "ticket_id": tid,
                        "agent_id": agent,
                        "client_id": client,
                        "rating": rng.randint(1, 5),
                    },
                )
            )
        if r < 0.05:
            cid = f"K{ticket}"
            steps.append(
                (
                    "complaint.created",
                    cid,
                    200,
                    {
                        "complaint_id": cid,
                        "client_id": client,
                        "severity": rng.choice(_SEVERITIES),
                        "category": "billing",
                        "description": "Unhappy",
                    },
                )
            )
            if r < 0.017:
                steps.append(
                    (
                        "complaint.escalated",
                        cid,
                        400,
                        {"complaint_id": cid, "client_id": client, "severity": "critical"},
                    )
                )
        if 0.05 <= r < 0.10:
            steps.append(
                (
                    "client.health_updated",
                    client,
                    300,
                    {"client_id": client, "health_score": rng.uniform(10, 100)},
                )
            )
        if 0.10 <= r < 0.13:
            steps.append(("ticket.reopened", tid, 9500, {"ticket_id": tid}))
        for event_type, entity, offset_s, payload in steps:
            if emitted >= n:
                return
            yield (
                f"{tenant}/{entity}".encode(),
                json.dumps(
                    {
                        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "event_type": event_type,
                        "schema_version": 1,
                        "tenant_id": tenant,
                        "occurred_at": (at + timedelta(seconds=offset_s))
                        .isoformat()
                        .replace("+00:00", "Z"),
                        "source": "bench",
                        "payload": payload,
                    },
                    separators=(",", ":"),
                ).encode(),
            )
            emitted += 1
