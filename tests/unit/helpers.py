"""Builders shared by the unit tests of ``flows/`` (plain module, not a conftest).

Events are built as JSON envelopes and validated through ``schemas.events.parse_event``,
so every event a test uses is one the real decoder would accept.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bytewax.inputs import Source
from bytewax.outputs import Sink
from bytewax.testing import TestingSink, TestingSource

from flows.agents.facts import AgentFact, FactKind
from flows.core.outputs import SinkKey
from schemas.events import Event, parse_event
from schemas.transport import RawMessage

# Monday 2025-01-06 00:00:00 UTC: aligned to every window size (5m, 1h, 1d).
T0 = datetime(2025, 1, 6, tzinfo=UTC)
T0_MS = 1_736_121_600_000

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

T = TypeVar("T")

_TEST_NAMESPACE = uuid.UUID("0b6c2f52-7f0e-4a8e-9d0c-3b1f6a2c9e11")


def uid(*parts: object) -> uuid.UUID:
    """A deterministic UUID per distinct ``parts`` (readable, repeatable test ids)."""
    return uuid.uuid5(_TEST_NAMESPACE, "/".join(str(p) for p in parts))


def at(seconds: float = 0.0) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def iso(dt: datetime) -> str:
    """The wire format producers use: UTC, millisecond precision, ``Z`` suffix."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# One minimal valid payload (required fields only) per event type in schemas.events.
MINIMAL_PAYLOADS: dict[str, dict[str, Any]] = {
    "ticket.created": {
        "ticket_id": "tk-1",
        "client_id": "cl-1",
        "channel": "email",
        "queue": "billing",
        "priority": "normal",
        "category": "invoice",
        "subject": "Wrong invoice",
        "description": "I was charged twice",
        "region": "eu",
    },
    "ticket.assigned": {"ticket_id": "tk-1", "agent_id": "ag-1", "assigned_by": "auto"},
    "ticket.first_response": {"ticket_id": "tk-1", "agent_id": "ag-1"},
    "ticket.resolved": {
        "ticket_id": "tk-1",
        "agent_id": "ag-1",
        "category": "invoice",
        "resolution_code": "refund",
        "resolution_text": "Refunded the duplicate charge",
    },
    "ticket.reopened": {"ticket_id": "tk-1"},
    "complaint.created": {
        "complaint_id": "cp-1",
        "client_id": "cl-1",
        "severity": "high",
        "category": "billing",
        "description": "Charged twice",
    },
    "complaint.escalated": {"complaint_id": "cp-1", "client_id": "cl-1", "severity": "critical"},
    "complaint.resolved": {"complaint_id": "cp-1", "client_id": "cl-1", "agent_id": "ag-1"},
    "csat.received": {
        "survey_id": "sv-1",
        "ticket_id": "tk-1",
        "agent_id": "ag-1",
        "client_id": "cl-1",
        "rating": 4,
    },
    "agent.status_changed": {"agent_id": "ag-1", "status": "active", "team": "tier1"},
    "client.health_updated": {"client_id": "cl-1", "health_score": 72.5},
    "service.requested": {
        "request_id": "rq-1",
        "client_id": "cl-1",
        "region": "eu",
        "service_type": "installation",
        "urgency": "high",
    },
    "session.queued": {"session_id": "se-1", "channel": "chat", "queue": "support"},
    "session.started": {"session_id": "se-1", "channel": "video", "queue": "support"},
    "session.ended": {"session_id": "se-1", "channel": "phone", "queue": "support"},
    "message.sent": {"session_id": "se-1", "sender": "customer", "kind": "text"},
    "kb.article_created": {
        "article_id": "kb-1",
        "title": "How refunds work",
        "body": "Refunds take five days.",
        "category": "billing",
    },
    "client.erasure_requested": {
        "erasure_id": "7d4f8f3e-6a52-4c1e-9f0e-2b8a5b7e1c11",
        "client_id": "cl-1",
    },
}


def envelope(
    event_type: str,
    payload: dict[str, Any] | None = None,
    *,
    occurred_at: datetime = T0,
    tenant: str = "t1",
    event_id: uuid.UUID | str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A JSON-ready envelope; ``payload`` defaults to the type's minimal payload."""
    body = MINIMAL_PAYLOADS[event_type] if payload is None else payload
    return {
        "event_id": str(event_id or uid(event_type, tenant, iso(occurred_at), _canon(body))),
        "event_type": event_type,
        "schema_version": 1,
        "tenant_id": tenant,
        "occurred_at": iso(occurred_at),
        "source": "unit-test",
        "payload": dict(body),
        **extra,
    }


def _canon(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


def to_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode("utf-8")


def make_event(
    event_type: str,
    payload: dict[str, Any] | None = None,
    *,
    occurred_at: datetime = T0,
    tenant: str = "t1",
    event_id: uuid.UUID | str | None = None,
) -> Event:
    """A validated event, parsed exactly as the decoder parses one."""
    doc = envelope(event_type, payload, occurred_at=occurred_at, tenant=tenant, event_id=event_id)
    return parse_event(json.dumps(doc))


def _ev(
    event_type: str, payload: dict[str, Any], when: datetime, tenant: str, event_id: object
) -> Event:
    eid = event_id if event_id is not None else uid(event_type, tenant, *payload.values(), when)
    return make_event(event_type, payload, occurred_at=when, tenant=tenant, event_id=str(eid))


def ticket_created(
    ticket: str, when: datetime, *, tenant: str = "t1", event_id: object = None
) -> Event:
    payload = dict(MINIMAL_PAYLOADS["ticket.created"], ticket_id=ticket)
    return _ev("ticket.created", payload, when, tenant, event_id)


def ticket_assigned(
    ticket: str, agent: str, when: datetime, *, tenant: str = "t1", event_id: object = None
) -> Event:
    payload = {"ticket_id": ticket, "agent_id": agent, "assigned_by": "auto"}
    return _ev("ticket.assigned", payload, when, tenant, event_id)


def first_response(
    ticket: str, agent: str, when: datetime, *, tenant: str = "t1", event_id: object = None
) -> Event:
    payload = {"ticket_id": ticket, "agent_id": agent}
    return _ev("ticket.first_response", payload, when, tenant, event_id)


def ticket_resolved(
    ticket: str, agent: str, when: datetime, *, tenant: str = "t1", event_id: object = None
) -> Event:
    payload = dict(MINIMAL_PAYLOADS["ticket.resolved"], ticket_id=ticket, agent_id=agent)
    return _ev("ticket.resolved", payload, when, tenant, event_id)


def csat(
    ticket: str,
    agent: str,
    rating: int,
    when: datetime,
    *,
    tenant: str = "t1",
    comment: str | None = None,
    event_id: object = None,
) -> Event:
    payload: dict[str, Any] = {
        "survey_id": f"sv-{ticket}",
        "ticket_id": ticket,
        "agent_id": agent,
        "client_id": "cl-1",
        "rating": rating,
    }
    if comment is not None:
        payload["comment"] = comment
    return _ev("csat.received", payload, when, tenant, event_id)


_FACT_EVENT_TYPE = {
    FactKind.ASSIGNED: "ticket.assigned",
    FactKind.RESOLVED: "ticket.resolved",
    FactKind.FIRST_RESPONSE: "ticket.first_response",
    FactKind.CSAT: "csat.received",
    FactKind.HANDLE_TIME: "ticket.resolved",
    FactKind.RESPONSE_TIME: "ticket.first_response",
}


def fact(
    agent: str,
    kind: FactKind,
    at_ms: int,
    value: int | None = None,
    *,
    tenant: str = "t1",
    partition: int = 0,
    event_id: uuid.UUID | None = None,
) -> AgentFact:
    """An agent fact as the ticket tracker would emit it: ``value`` is integer milliseconds
    for RESOLVED, HANDLE_TIME, FIRST_RESPONSE and RESPONSE_TIME, the rating for CSAT."""
    return AgentFact(
        tenant_id=tenant,
        agent_id=agent,
        kind=kind,
        at_ms=at_ms,
        value=value,
        event_id=event_id or uid("fact", tenant, agent, int(kind), at_ms, value, partition),
        event_type=_FACT_EVENT_TYPE[kind],
        partition=partition,
    )


def raw_message(
    value: bytes | None,
    *,
    topic: str = "cxpulse.events",
    partition: int = 0,
    offset: int = 0,
    key: bytes | None = None,
) -> RawMessage:
    return RawMessage(topic=topic, partition=partition, offset=offset, key=key, value=value)


class MemoryIO:
    """The flows' ports in memory: a Bytewax testing source over ``messages`` and one
    list per output (``out[key.name]``), to run the whole dataflow in process."""

    def __init__(self, messages: list[RawMessage], batch_size: int) -> None:
        self.messages = messages
        self.batch_size = batch_size
        self.out: dict[str, list[Any]] = {}
        self.rules: list[RawMessage] = []  # messages of the rules topic

    def source(self) -> Source[RawMessage]:
        return TestingSource(self.messages, batch_size=self.batch_size)

    def rules_source(self) -> Source[RawMessage]:
        return TestingSource(self.rules)

    def sink(self, key: SinkKey[T]) -> Sink[T]:
        return TestingSink(self.out.setdefault(key.name, []))
