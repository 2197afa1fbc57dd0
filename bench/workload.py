"""Synthetic ticket traffic with an exact number of agents, for throughput benchmarks.

The simulator models shifts, so only agents on shift get work; a benchmark of key
cardinality needs every one of N agents to be live. Each ticket: created, assigned,
first response, resolved, and a CSAT survey for 40 % of them, agents drawn uniformly.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta


def ticket_traffic(
    n: int, agents: int, seed: int = 1, tenants: int = 10, start: datetime | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs; event time advances ~1 s per ticket, in order per ticket."""
    rng = random.Random(seed)
    t0 = start or datetime.now(UTC) - timedelta(days=3)
    emitted = 0
    ticket = 0
    while emitted < n:
        ticket += 1
        tenant = f"t{ticket % tenants}"
        agent = f"agent-{rng.randrange(agents)}"
        tid = f"T{ticket}"
        at = t0 + timedelta(seconds=ticket)
        steps: list[tuple[str, timedelta, dict[str, object]]] = [
            (
                "ticket.created",
                timedelta(0),
                {
                    "ticket_id": tid,
                    "client_id": f"c{rng.randrange(5000)}",
                    "channel": "email",
                    "queue": "billing",
                    "priority": "normal",
                    "category": "billing",
                    "subject": "Invoice question",
                    "description": "Please check my invoice",
                    "region": "north",
                },
            ),
            (
                "ticket.assigned",
                timedelta(seconds=30),
                {"ticket_id": tid, "agent_id": agent, "assigned_by": "auto"},
            ),
            ("ticket.first_response", timedelta(seconds=90), {"ticket_id": tid, "agent_id": agent}),
            (
                "ticket.resolved",
                timedelta(seconds=600 + rng.randrange(600)),
                {
                    "ticket_id": tid,
                    "agent_id": agent,
                    "category": "billing",
                    "resolution_code": "answered",
                    "resolution_text": "Explained the invoice",
                },
            ),
        ]
        if rng.random() < 0.4:
            steps.append(
                (
                    "csat.received",
                    timedelta(seconds=1300),
                    {
                        "survey_id": f"S{ticket}",
                        "ticket_id": tid,
                        "agent_id": agent,
                        "client_id": "c1",
                        "rating": rng.randint(1, 5),
                    },
                )
            )
        key = f"{tenant}/{tid}".encode()
        for event_type, offset, payload in steps:
            if emitted >= n:
                return
            yield (
                key,
                json.dumps(
                    {
                        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "event_type": event_type,
                        "schema_version": 1,
                        "tenant_id": tenant,
                        "occurred_at": (at + offset).isoformat().replace("+00:00", "Z"),
                        "source": "bench",
                        "payload": payload,
                    },
                    separators=(",", ":"),
                ).encode(),
            )
            emitted += 1
