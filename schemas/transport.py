"""Transport-level records: a Kafka message as the flows see it, and an accepted event
with its lineage. Shared by flows (which produce them) and sinks (which store them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.events import Event


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One Kafka record, transport-agnostic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid event plus where it came from (kept for lineage in ``events``).

    ``late_bound_ms``: None when the event is on time; otherwise the event-time bound it
    missed (its tenant's newest time earlier on its partition minus the allowed
    lateness), stamped by the input clock (:mod:`flows.core.clock`).
    """

    event: Event
    partition: int
    offset: int
    ingested_at: datetime
    late_bound_ms: int | None = None
