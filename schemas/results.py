"""Result rows and alerts: what lands in ClickHouse and on the alerts topic.

Each row carries a deterministic id and a version so a replay rewrites, never duplicates.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, computed_field, model_validator

from schemas.ids import stable_id
from schemas.rows import JsonText, Row, UtcDatetime

WindowName = Literal["5m", "1h", "1d"]
WINDOW_SECONDS: dict[str, int] = {"5m": 300, "1h": 3600, "1d": 86400}

AlertKind = Literal[
    "coaching",
    "client_risk",
    "sla_breach",
    "demand_hotspot",
    "anomaly",
    "kb_suggestion",
    "threshold",  # a tenant's rule on live state held for its for_s (issue #12)
    "complaint_escalation",  # an escalated, or high/critical, complaint
    "routing_unavailable",  # no agent eligible for new work for a while (issue #15)
]
AlertSeverity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

RejectReason = Literal[
    "invalid_utf8",
    "invalid_json",
    "unknown_event_type",
    "validation_error",
    "processing_error",  # a flow's logic raised on this event
    "sink_error",  # a sink could not store or publish this item
    "tenant_mismatch",  # tenant_id is not the tenant of its input topic (tenant topics)
    "erased_subject",  # names a client erased before (kept without its bytes, issue #13)
]

# Raw bytes a dead letter keeps (``CXPULSE_DLQ_MAX_RAW_BYTES``): a copy of every byte of a
# ~1 MB message would exceed what the dead-letter topic takes and stop the pipeline.
DEFAULT_DLQ_MAX_RAW_BYTES = 65_536
# Kafka keys are cut to this: cxpulse keys are ``tenant/entity`` (under 200 bytes).
MAX_DLQ_KEY_BYTES = 1_024
MAX_DLQ_ERROR_CHARS = 2_000


def _avg(total: float, count: int) -> float | None:
    return total / count if count else None


class AgentWindow(Row):
    """One agent's metrics in one UTC-aligned event-time tumbling window."""

    row_id: UUID
    version: int = Field(description="grows with every event folded in; final rows are odd")
    is_final: bool = Field(
        description="false while the window may still change (watermark not past its end)"
    )
    tenant_id: str
    agent_id: str
    window: WindowName
    window_start: UtcDatetime = Field(description="Inclusive window start (event time)")
    window_end: UtcDatetime = Field(description="Exclusive window end (event time)")
    tickets_assigned: int = 0
    tickets_resolved: int = 0
    handle_time_sum_s: float = 0.0
    handle_time_count: int = 0
    first_response_sum_s: float = 0.0
    first_response_count: int = 0
    csat_sum: int = 0
    csat_count: int = 0
    low_csat_count: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def avg_handle_time_s(self) -> float | None:
        return _avg(self.handle_time_sum_s, self.handle_time_count)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def avg_first_response_s(self) -> float | None:
        return _avg(self.first_response_sum_s, self.first_response_count)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def csat_avg(self) -> float | None:
        return _avg(self.csat_sum, self.csat_count)


class Alert(Row):
    """One alert, whatever raised it; ``alert_id`` is derived from its cause."""

    alert_id: UUID
    tenant_id: str
    kind: AlertKind
    severity: AlertSeverity
    subject_type: str = Field(description="What the alert is about: agent, client, ticket...")
    subject_id: str
    title: str
    details: Annotated[dict[str, Any], JsonText()] = Field(
        description="The evidence, as a JSON object"
    )
    event_time: UtcDatetime = Field(description="Event time of the triggering event")
    fired_at: UtcDatetime = Field(description="Processing time the alert was raised")


class DeadLetter(Row):
    """A message (or result item) that could not be accepted or stored, with why.

    ``raw`` holds the first bytes of the original (see :func:`make_dead_letter`);
    ``raw_size`` and ``raw_sha256`` describe the whole original, so a truncated copy
    can still be matched to the message it came from.
    """

    letter_id: UUID
    received_at: UtcDatetime
    topic: str
    partition: int
    offset: int
    reason: RejectReason
    error: str
    raw: bytes
    key: bytes | None = None
    flow: str = ""  # the flow or sink that rejected it; "" for ingest (decode)
    raw_size: int = 0
    raw_sha256: str = ""

    @model_validator(mode="before")
    @classmethod
    def _describe_raw(cls, data: Any) -> Any:
        """A letter built without :func:`make_dead_letter` describes the bytes it holds."""
        raw = data.get("raw") if isinstance(data, dict) else None
        if isinstance(raw, bytes) and ("raw_size" not in data or "raw_sha256" not in data):
            sha = hashlib.sha256(raw).hexdigest()
            data = {"raw_size": len(raw), "raw_sha256": sha, **data}
        return data

    @property
    def truncated(self) -> bool:
        return self.raw_size > len(self.raw)


def dead_letter_id(topic: str, partition: int, offset: int, flow: str = "") -> UUID:
    """Deterministic: a replay rewrites the same letter. Ingest letters (``flow`` "")
    keep the id they always had; each flow gets its own letter for the same input."""
    if not flow:
        return stable_id("dlq", topic, partition, offset)
    return stable_id("dlq", topic, partition, offset, flow)


def synthetic_offset(*parts: object) -> int:
    """A stable non-negative 63-bit offset for a dead letter of something that has no
    input offset (a result row a sink could not store): derived from its identity."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") >> 1


def make_dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    raw: bytes,
    reason: RejectReason,
    error: str,
    received_at: datetime,
    flow: str = "",
    cap: int = DEFAULT_DLQ_MAX_RAW_BYTES,
) -> DeadLetter:
    """The one way to build a dead letter: bounded in size whatever the input.

    Keeps the first ``cap`` bytes of ``raw`` (with its full size and sha256), the first
    ``MAX_DLQ_KEY_BYTES`` of ``key`` and ``MAX_DLQ_ERROR_CHARS`` of ``error``, so that
    every letter fits the dead-letter topic and table.
    """
    if cap < 0:
        raise ValueError(f"cap must be >= 0, got {cap}")
    return DeadLetter(
        letter_id=dead_letter_id(topic, partition, offset, flow),
        received_at=received_at,
        topic=topic,
        partition=partition,
        offset=offset,
        reason=reason,
        error=error[:MAX_DLQ_ERROR_CHARS],
        raw=raw[:cap],
        key=None if key is None else key[:MAX_DLQ_KEY_BYTES],
        flow=flow,
        raw_size=len(raw),
        raw_sha256=hashlib.sha256(raw).hexdigest(),
    )


class LateEvent(Row):
    """An event that arrived after its windows closed: recorded, not counted."""

    late_id: UUID
    flow: str
    event_id: UUID
    tenant_id: str
    event_type: str
    occurred_at: UtcDatetime
    watermark: UtcDatetime
    recorded_at: UtcDatetime


class AgentSummary(Row):
    """One agent's current figures: rolling 30-day CSAT and its latest day (a read of
    ``agent_performance``'s daily windows, anchored on the tenant's latest day)."""

    agent_id: str
    csat_avg_30d: float | None = Field(
        description="Mean CSAT over the daily windows of the 30 days ending on the tenant's "
        "latest day (event time); null without surveys"
    )
    csat_count_30d: int = Field(description="CSAT surveys in those 30 days")
    low_csat_count_30d: int = Field(description="CSAT ratings <= 2 in those 30 days")
    tickets_assigned_today: int = Field(
        description="Tickets assigned on the tenant's latest day (UTC, event time)"
    )
    tickets_resolved_today: int = Field(description="Tickets resolved on that day")
    avg_handle_time_s_today: float | None = Field(description="Mean handle time that day (s)")
    avg_first_response_s_today: float | None = Field(
        description="Mean first-response time that day (s)"
    )
    last_window_end: UtcDatetime = Field(description="End of the agent's latest daily window")
