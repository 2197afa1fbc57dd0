"""Input events: one envelope, one payload model per ``event_type``.

Strict on purpose: producers get a precise rejection instead of silently coerced data.
Every model forbids unknown fields so a typo in a field name is an error, not a loss.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

Id = Annotated[str, Field(min_length=1, max_length=128)]
Text = Annotated[str, Field(max_length=20_000)]


class _FreeTextMarker:
    """Marks a field as people's free text, which may hold personal data."""

    def __repr__(self) -> str:
        return "FREE_TEXT"


FREE_TEXT = _FreeTextMarker()
# Written by or about customers: ingest masks the personal data in it when
# CXPULSE_REDACT_TEXT is on (flows/ingest/redact.py) and no alert copies it.
FreeText = Annotated[str, Field(max_length=20_000), FREE_TEXT]
# What redaction writes in FreeText in place of what it found; readers of the text that
# weigh words (KB features) drop them: a mask says nothing about what the text is about.
REDACTION_MASKS: dict[str, str] = {
    "email": "[email]",
    "phone": "[phone]",
    "card": "[card]",
    "iban": "[iban]",
}
Label = Annotated[str, Field(min_length=1, max_length=128)]

Channel = Literal["phone", "email", "chat", "portal"]
Priority = Literal["low", "normal", "high", "urgent"]
Severity = Literal["low", "medium", "high", "critical"]
AgentStatus = Literal["active", "idle", "in_call", "offline"]
SessionChannel = Literal["phone", "email", "chat", "portal", "video"]

# What ClickHouse ``DateTime64(3)`` stores. Outside it no stored value is reliable
# (0001-01-01T00:00+14:00 came back as year 0000), and one near ``datetime.min``/``max``
# cannot even be converted to UTC in Python (``OverflowError`` in the flows).
STORABLE_MIN = datetime(1900, 1, 1, tzinfo=UTC)
STORABLE_MAX = datetime(2299, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)

# The flows derive times that lie after an event's own: a window's end (up to 1 day on),
# an SLA deadline (the SLA, at most ``DERIVED_TIME_MARGIN``), a demand forecast (its
# horizon, 14 days on). An event time must leave room for them in what ClickHouse
# stores, so the accepted range ends this much before it: an event of 2299-12-31 would
# otherwise give a window ending 2300-01-01. Windows, hours and grids start at or before
# an event, on boundaries that 1900-01-01 is aligned to, so the start needs no margin.
DERIVED_TIME_MARGIN = timedelta(days=365)

# The event times accepted; anything else is a producer bug, rejected at the door.
OCCURRED_AT_MIN = STORABLE_MIN
OCCURRED_AT_MAX = STORABLE_MAX - DERIVED_TIME_MARGIN  # 2298-12-31T23:59:59.999Z
_RANGE = "1900-01-01T00:00:00Z .. 2298-12-31T23:59:59.999Z"


def _storable_instant(value: datetime) -> datetime:
    """Bounds check by comparison: safe for any aware datetime (converting is not).

    The year test first: no offset (under 24 h) moves an instant of 1901..2297 out of
    range, and comparing aware datetimes costs more than the rest of the field.
    """
    if 1900 < value.year < 2298:
        return value
    if not OCCURRED_AT_MIN <= value <= OCCURRED_AT_MAX:
        raise ValueError(
            f"{value.isoformat()} is outside the range ClickHouse stores, less a year for "
            f"the times derived from it ({_RANGE})"
        )
    return value


StorableInstant = Annotated[
    AwareDatetime,
    AfterValidator(_storable_instant),
    Field(description=f"timezone-aware ISO-8601 instant in {_RANGE}"),
]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# ---- payloads -------------------------------------------------------------------------


class TicketCreated(_Strict):
    ticket_id: Id
    client_id: Id
    channel: Channel
    queue: Label
    priority: Priority
    category: Label
    subject: FreeText
    description: FreeText
    region: Label


class TicketAssigned(_Strict):
    ticket_id: Id
    agent_id: Id
    assigned_by: Literal["auto", "manual"]


class TicketFirstResponse(_Strict):
    ticket_id: Id
    agent_id: Id


class TicketResolved(_Strict):
    ticket_id: Id
    agent_id: Id
    category: Label
    resolution_code: Label
    resolution_text: FreeText


class TicketReopened(_Strict):
    ticket_id: Id


class ComplaintCreated(_Strict):
    complaint_id: Id
    client_id: Id
    severity: Severity
    category: Label
    description: FreeText
    ticket_id: Id | None = None


class ComplaintEscalated(_Strict):
    complaint_id: Id
    client_id: Id
    severity: Severity


class ComplaintResolved(_Strict):
    complaint_id: Id
    client_id: Id
    agent_id: Id


class CsatReceived(_Strict):
    survey_id: Id
    ticket_id: Id
    agent_id: Id
    client_id: Id
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: FreeText | None = None


class AgentStatusChanged(_Strict):
    agent_id: Id
    status: AgentStatus
    team: Label


class ClientHealthUpdated(_Strict):
    client_id: Id
    health_score: Annotated[float, Field(ge=0, le=100)]


class ServiceRequested(_Strict):
    request_id: Id
    client_id: Id
    region: Label
    service_type: Label
    urgency: Literal["low", "normal", "high", "urgent"]


class SessionLifecycle(_Strict):
    session_id: Id
    channel: SessionChannel
    queue: Label
    agent_id: Id | None = None


class MessageSent(_Strict):
    session_id: Id
    sender: Literal["agent", "customer"]
    kind: Literal["text", "image", "file", "audio", "video"]


class ClientErasureRequested(_Strict):
    """A data subject's erasure (GDPR art. 17): every flow forgets ``client_id`` and later
    events naming it are suppressed (see README "Privacy"). Written by ``cxpulse erase``
    and ``DELETE /v1/clients/{client_id}/data``; a producer may send it too."""

    erasure_id: UUID
    client_id: Id


class KbArticleCreated(_Strict):
    """A knowledge-base article: the company's own published content about its products,
    not about a data subject, so ``title`` and ``body`` are not ``FreeText``. Masking
    them would also blank the support numbers and addresses an article exists to give."""

    article_id: Id
    title: Annotated[str, Field(min_length=1, max_length=500)]
    body: Text
    category: Label


# ---- envelope -------------------------------------------------------------------------


class Event(_Strict):
    """The envelope every event shares; subclasses narrow ``event_type`` and ``payload``."""

    event_id: UUID
    event_type: str
    payload: _Strict
    schema_version: Literal[1]
    tenant_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    occurred_at: StorableInstant
    source: Annotated[str, Field(min_length=1, max_length=128)]
    correlation_id: Annotated[str, Field(max_length=128)] | None = None


def _event(name: str, event_type: str, payload: type[_Strict]) -> type[Event]:
    """One envelope subclass per event type, discriminated by ``event_type``."""
    model: type[Event] = type(
        name,
        (Event,),
        {
            "__annotations__": {
                "event_type": Literal[event_type],
                "payload": payload,
            },
            "__module__": __name__,
            "__doc__": f"Envelope carrying a ``{event_type}`` payload.",
        },
    )
    return model


PAYLOADS: dict[str, type[_Strict]] = {
    "ticket.created": TicketCreated,
    "ticket.assigned": TicketAssigned,
    "ticket.first_response": TicketFirstResponse,
    "ticket.resolved": TicketResolved,
    "ticket.reopened": TicketReopened,
    "complaint.created": ComplaintCreated,
    "complaint.escalated": ComplaintEscalated,
    "complaint.resolved": ComplaintResolved,
    "csat.received": CsatReceived,
    "agent.status_changed": AgentStatusChanged,
    "client.health_updated": ClientHealthUpdated,
    "service.requested": ServiceRequested,
    "session.queued": SessionLifecycle,
    "session.started": SessionLifecycle,
    "session.ended": SessionLifecycle,
    "message.sent": MessageSent,
    "kb.article_created": KbArticleCreated,
    "client.erasure_requested": ClientErasureRequested,
}

EVENT_TYPES: tuple[str, ...] = tuple(PAYLOADS)

# The payload field whose value, with the tenant, keys a Kafka message: every event of
# one ticket (or session, client, ...) lands in one partition, in order.
ENTITY_FIELD: dict[str, str] = {
    "ticket.created": "ticket_id",
    "ticket.assigned": "ticket_id",
    "ticket.first_response": "ticket_id",
    "ticket.resolved": "ticket_id",
    "ticket.reopened": "ticket_id",
    "complaint.created": "complaint_id",
    "complaint.escalated": "complaint_id",
    "complaint.resolved": "complaint_id",
    "csat.received": "ticket_id",
    "agent.status_changed": "agent_id",
    "client.health_updated": "client_id",
    "service.requested": "request_id",
    "session.queued": "session_id",
    "session.started": "session_id",
    "session.ended": "session_id",
    "message.sent": "session_id",
    "kb.article_created": "article_id",
    "client.erasure_requested": "client_id",
}


def _is_free_text(hint: Any) -> bool:
    """``FreeText``, also inside an optional (``FreeText | None``)."""
    if get_origin(hint) is Annotated:
        return any(m is FREE_TEXT for m in hint.__metadata__)
    return any(_is_free_text(arg) for arg in get_args(hint))


def _free_text_fields(payload: type[_Strict]) -> tuple[str, ...]:
    hints = get_type_hints(payload, include_extras=True)
    return tuple(name for name, hint in hints.items() if _is_free_text(hint))


# The free-text fields of each event type that has any, derived from the ``FreeText``
# marks above: the one list redaction (and anything else that must treat people's text
# with care) reads.
FREE_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    et: fields for et, pl in PAYLOADS.items() if (fields := _free_text_fields(pl))
}

_MODELS: dict[str, type[Event]] = {
    et: _event("".join(p.title() for p in et.replace("_", ".").split(".")) + "Event", et, pl)
    for et, pl in PAYLOADS.items()
}


# Module attributes too, so pickle finds them by name: events cross Bytewax workers and
# sit in recovery snapshots.
globals().update({m.__name__: m for m in _MODELS.values()})


def _union_type() -> Any:
    """Discriminated union over every event type, built from PAYLOADS."""
    return Annotated[Union[tuple(_MODELS.values())], Field(discriminator="event_type")]  # noqa: UP007


EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(_union_type())


def parse_event(raw: bytes | str) -> Event:
    """Validate one JSON event; raises ``pydantic.ValidationError`` with every problem."""
    return EVENT_ADAPTER.validate_json(raw)


def event_model(event_type: str) -> type[Event]:
    """The envelope model of one event type (KeyError for unknown types)."""
    return _MODELS[event_type]


def entity_key(event: Event) -> str:
    """``tenant/entity`` Kafka key: keeps one entity's events ordered in one partition."""
    field = ENTITY_FIELD[event.event_type]
    return f"{event.tenant_id}/{getattr(event.payload, field)}"
