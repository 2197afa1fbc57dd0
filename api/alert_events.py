"""What the live alert feed carries: one event per message of the alerts topic, named
by its position.

A message is an alert (SSE ``event: alert``, data an ``AlertItem``) or, with the header
``cxpulse.type: alert_state``, an alert's state change (``event: alert_state``, data an
``AlertStateEvent``); a message of a type this API does not know is skipped. An event's
id is ``"<partition>-<offset>"`` on the alerts topic: stable across API restarts and
ordered within a partition, so a client resumes with ``Last-Event-ID`` and gets alerts
and state changes alike. Shared by the live feed and the read-back of older alerts
(``api.alert_replay``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from api.models import AlertItem, AlertStateEvent
from schemas.alert_lifecycle import ALERT_STATE_TYPE, AlertStateChange
from schemas.results import SEVERITY_RANK, Alert
from sinks.alert_states import Headers, message_type

_EVENT_ID = re.compile(r"^(\d{1,9})-(\d{1,19})$")


def parse_event_id(event_id: str) -> tuple[int, int]:
    """``"<partition>-<offset>"`` -> (partition, offset); ``ValueError`` if malformed."""
    m = _EVENT_ID.match(event_id.strip())
    if m is None:
        raise ValueError(f"malformed event id {event_id!r}: expected '<partition>-<offset>'")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One alert, or one alert's state change, on the feed, with its position on the
    alerts topic and what subscribers filter on (the alert's tenant, kind, severity)."""

    partition: int
    offset: int
    type: str  # the SSE event name: "alert" or "alert_state"
    tenant_id: str
    kind: str
    severity: str
    data: str  # the public JSON (AlertItem, AlertStateEvent), encoded once for all clients

    @property
    def id(self) -> str:
        return f"{self.partition}-{self.offset}"


def decode_alert(partition: int, offset: int, value: bytes | None) -> FeedEvent:
    """An alert message of the alerts topic as a feed event; ``ValueError`` if it is not
    one. The alert has just been raised, so its state is ``open``."""
    if value is None:
        raise ValueError("empty message")
    try:
        alert = Alert.model_validate_json(value)
    except ValidationError as exc:
        raise ValueError(str(exc).replace("\n", " ")[:300]) from exc
    item = AlertItem.model_validate(alert.model_dump())
    data = item.model_dump_json()
    return FeedEvent(partition, offset, "alert", alert.tenant_id, alert.kind, alert.severity, data)


def decode_state(partition: int, offset: int, value: bytes | None) -> FeedEvent:
    """An ``alert_state`` message as a feed event; ``ValueError`` if it is not one."""
    if value is None:
        raise ValueError("empty message")
    try:
        change = AlertStateChange.model_validate_json(value)
    except ValidationError as exc:
        raise ValueError(str(exc).replace("\n", " ")[:300]) from exc
    data = AlertStateEvent.model_validate(change).model_dump_json()
    return FeedEvent(
        partition, offset, ALERT_STATE_TYPE, change.tenant_id, change.kind, change.severity, data
    )


def decode_message(
    partition: int, offset: int, value: bytes | None, headers: Headers
) -> FeedEvent | None:
    """A message of the alerts topic as a feed event, by its ``cxpulse.type`` header;
    ``None`` for a type the feed does not serve, ``ValueError`` for a malformed one."""
    kind = message_type(headers)
    if kind == "alert":
        return decode_alert(partition, offset, value)
    if kind == ALERT_STATE_TYPE:
        return decode_state(partition, offset, value)
    return None


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts one subscriber wants."""

    tenant: str
    kinds: frozenset[str] | None = None  # None: every kind
    min_rank: int = 0

    def matches(self, event: FeedEvent) -> bool:
        """The subscriber's tenant only; kinds and minimum severity are the alert's (for a
        state change too: a subscriber gets the state changes of the alerts it gets)."""
        return (
            event.tenant_id == self.tenant
            and (self.kinds is None or event.kind in self.kinds)
            and SEVERITY_RANK.get(event.severity, 0) >= self.min_rank
        )
