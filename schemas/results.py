"""Result rows and alerts: what lands in ClickHouse and on the alerts topic.

Each row carries a deterministic id and a version so a replay rewrites, never duplicates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field

WindowName = Literal["5m", "1h", "1d"]
WINDOW_SECONDS: dict[str, int] = {"5m": 300, "1h": 3600, "1d": 86400}

AlertKind = Literal[
    "coaching", "client_risk", "sla_breach", "demand_hotspot", "anomaly", "kb_suggestion"
]
AlertSeverity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

RejectReason = Literal["invalid_utf8", "invalid_json", "unknown_event_type", "validation_error"]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


def _avg(total: float, count: int) -> float | None:
    return total / count if count else None


class AgentWindow(_Row):
    """One agent's metrics in one UTC-aligned event-time tumbling window."""

    row_id: UUID
    version: int = Field(description="grows with every event folded in; final rows are odd")
    is_final: bool
    tenant_id: str
    agent_id: str
    window: WindowName
    window_start: datetime
    window_end: datetime
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


class Alert(_Row):
    """One alert, whatever raised it; ``alert_id`` is derived from its cause."""

    alert_id: UUID
    tenant_id: str
    kind: AlertKind
    severity: AlertSeverity
    subject_type: str
    subject_id: str
    title: str
    details: dict[str, Any]
    event_time: datetime
    fired_at: datetime


class DeadLetter(_Row):
    """A message that could not be accepted, with why and its exact bytes."""

    letter_id: UUID
    received_at: datetime
    topic: str
    partition: int
    offset: int
    reason: RejectReason
    error: str
    raw: bytes
    key: bytes | None = None


class LateEvent(_Row):
    """An event that arrived after its windows closed: recorded, not counted."""

    late_id: UUID
    flow: str
    event_id: UUID
    tenant_id: str
    event_type: str
    occurred_at: datetime
    watermark: datetime
    recorded_at: datetime
