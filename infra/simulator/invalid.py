"""Deliberately broken messages for the dead-letter demo (``simulate --invalid-every``)."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any


def invalid_samples(rng: random.Random) -> list[bytes]:
    """Deliberately broken messages, one per failure class the consumer must dead-letter.

    In order: truncated JSON, unknown event type, CSAT rating 7, missing payload field,
    naive timestamp, Latin-1 (non-UTF-8) bytes. Valid in every other respect, so each
    exercises exactly one rejection reason.
    """

    def envelope(
        event_type: str, payload: dict[str, Any], occurred_at: str = "2025-01-06T10:00:00.000Z"
    ) -> dict[str, Any]:
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": event_type,
            "schema_version": 1,
            "tenant_id": "acme",
            "occurred_at": occurred_at,
            "source": "helpdesk",
            "correlation_id": None,
            "payload": payload,
        }

    n = rng.randrange(100_000, 999_999)
    ticket = f"tkt-acme-{n}"
    created = {
        "ticket_id": ticket,
        "client_id": "client-acme-1",
        "channel": "email",
        "queue": "billing",
        "priority": "normal",
        "category": "refund_request",
        "subject": "Remboursement",
        "description": "Commande réglée deux fois.",
        "region": "north",
    }
    csat = {
        "survey_id": f"csat-acme-{n}",
        "ticket_id": ticket,
        "agent_id": "agent-acme-1",
        "client_id": "client-acme-1",
        "rating": 4,
        "comment": None,
    }
    missing = dict(created)
    del missing["queue"]

    def dump(event: dict[str, Any]) -> bytes:
        return json.dumps(event).encode()

    truncated = dump(envelope("ticket.created", created))
    return [
        truncated[: len(truncated) // 2],
        dump(envelope("ticket.teleported", {"ticket_id": ticket})),
        dump(envelope("csat.received", {**csat, "rating": 7})),
        dump(envelope("ticket.created", missing)),
        dump(
            envelope(
                "ticket.assigned",
                {"ticket_id": ticket, "agent_id": "agent-acme-1", "assigned_by": "auto"},
                "2025-01-06T10:00:00",
            )
        ),
        json.dumps(envelope("ticket.created", created), ensure_ascii=False).encode("latin-1"),
    ]
