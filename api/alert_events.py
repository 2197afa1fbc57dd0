"""What the live alert feed carries: one event per alert message, named by its position.

An event's id is ``"<partition>-<offset>"`` on the alerts topic: stable across API
restarts and ordered within a partition, so a client resumes with ``Last-Event-ID``.
Shared by the live feed and the read-back of older alerts (``api.alert_replay``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from api.models import AlertItem
from schemas.results import SEVERITY_RANK, Alert

_EVENT_ID = re.compile(r"^(\d{1,9})-(\d{1,19})$")


def parse_event_id(event_id: str) -> tuple[int, int]:
    """``"<partition>-<offset>"`` -> (partition, offset); ``ValueError`` if malformed."""
    m = _EVENT_ID.match(event_id.strip())
    if m is None:
        raise ValueError(f"malformed event id {event_id!r}: expected '<partition>-<offset>'")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One alert on the feed, with its position on the alerts topic."""

    partition: int
    offset: int
    alert: Alert
    data: str  # the alert as the public ``AlertItem`` JSON, encoded once for all clients

    @property
    def id(self) -> str:
        return f"{self.partition}-{self.offset}"


def decode_alert(partition: int, offset: int, value: bytes | None) -> FeedEvent:
    """A message of the alerts topic as a feed event; ``ValueError`` if it is not one."""
    if value is None:
        raise ValueError("empty message")
    try:
        alert = Alert.model_validate_json(value)
    except ValidationError as exc:
        raise ValueError(str(exc).replace("\n", " ")[:300]) from exc
    item = AlertItem.model_validate(alert.model_dump())
    return FeedEvent(partition, offset, alert, item.model_dump_json())


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts one subscriber wants."""

    tenant: str
    kinds: frozenset[str] | None = None  # None: every kind
    min_rank: int = 0

    def matches(self, alert: Alert) -> bool:
        return (
            alert.tenant_id == self.tenant
            and (self.kinds is None or alert.kind in self.kinds)
            and SEVERITY_RANK[alert.severity] >= self.min_rank
        )
