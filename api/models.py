"""Public response models of the v1 API (what clients may rely on).

Every datetime is serialised as ISO-8601 in UTC with an explicit ``+00:00`` offset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from schemas.events import AgentStatus
from schemas.ops import CsatRating, MessageKind
from schemas.results import AlertKind, AlertSeverity
from schemas.risk import RiskLevel


def _iso_utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


UtcDatetime = Annotated[
    datetime,
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorOut(_Out):
    """An error the API answered with instead of a result."""

    detail: str = Field(description="What went wrong, for a human")


# Every /v1 route refuses a missing or unknown key; routers declare it with ``responses=``.
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorOut,
        "description": "Missing or unknown API key (`WWW-Authenticate: Bearer`)",
    }
}


class AgentItem(_Out):
    """One agent's current figures."""

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


class AgentList(_Out):
    items: list[AgentItem]


class PerformanceItem(_Out):
    """One agent's metrics in one window."""

    window_start: UtcDatetime = Field(description="Inclusive window start (event time)")
    window_end: UtcDatetime = Field(description="Exclusive window end (event time)")
    tickets_assigned: int
    tickets_resolved: int
    avg_handle_time_s: float | None
    avg_first_response_s: float | None
    csat_avg: float | None
    csat_count: int
    low_csat_count: int
    is_final: bool = Field(
        description="false while the window may still change (watermark not past its end)"
    )


class PerformanceList(_Out):
    items: list[PerformanceItem]


class AlertItem(_Out):
    """One alert."""

    alert_id: UUID
    tenant_id: str
    kind: AlertKind
    severity: AlertSeverity
    subject_type: str = Field(description="What the alert is about: agent, client, ticket...")
    subject_id: str
    title: str
    details: dict[str, Any] = Field(description="The evidence, as a JSON object")
    event_time: UtcDatetime = Field(description="Event time of the triggering event")
    fired_at: UtcDatetime = Field(description="Processing time the alert was raised")


class AlertList(_Out):
    items: list[AlertItem]


Probability = Annotated[float, Field(ge=0, le=1, description="Modelled churn probability, 0-1")]


class RiskFactorOut(_Out):
    """One factor's share of a score."""

    name: str = Field(
        description="complaints_<severity>, escalations, low_csat, sla_breaches, reopenings "
        "or health"
    )
    contribution: float = Field(description="Logit points the factor adds to the score")


class ClientRiskItem(_Out):
    """One client's current churn-risk score."""

    client_id: str
    churn_probability: Probability
    risk_level: RiskLevel
    factors: list[RiskFactorOut] = Field(description="Factors behind the score, largest first")
    scored_at: UtcDatetime = Field(description="Event time the score refers to")


class ClientRiskList(_Out):
    items: list[ClientRiskItem]


class RiskVersion(_Out):
    """One version of a client's score."""

    churn_probability: Probability
    risk_level: RiskLevel
    factors: list[RiskFactorOut] = Field(description="Factors behind the score, largest first")
    scored_at: UtcDatetime = Field(description="Event time the score refers to")
    version: int = Field(description="Risk signals folded in for this client so far")


class ClientRiskDetail(_Out):
    client_id: str
    current: RiskVersion = Field(description="The latest version")
    history: list[RiskVersion] = Field(description="Versions newest first (current included)")


class RiskLevelOut(_Out):
    churn_probability: Probability
    risk_level: RiskLevel


class RiskScoreOut(_Out):
    churn_probability: Probability
    risk_level: RiskLevel
    factors: list[RiskFactorOut] = Field(description="Factors kept, largest first")


class ClientRiskWhatIf(_Out):
    """The client's current score next to its score without some factors."""

    client_id: str
    without: list[str] = Field(description="Factors left out (as asked, duplicates dropped)")
    current: RiskLevelOut = Field(description="The stored latest score")
    what_if: RiskScoreOut = Field(
        description="The latest contributions scored by the risk model, minus `without`"
    )


class QueueOut(_Out):
    """One queue: sessions waiting and for how long."""

    queue: str
    depth: int = Field(description="Sessions queued and not yet started or ended")
    oldest_wait_s: float = Field(description="Wait so far of the longest-waiting session (s)")
    avg_wait_s: float = Field(description="Mean wait so far of the waiting sessions (s)")


class OpsLive(_Out):
    """The tenant's latest live-operations snapshot."""

    as_of: UtcDatetime = Field(description="Event time of the snapshot")
    queues: list[QueueOut] = Field(description="Queues by name")
    agents_by_status: dict[AgentStatus, int] = Field(
        description="Agents by their latest status (every status listed)"
    )
    csat_distribution: dict[CsatRating, int] = Field(
        description="CSAT ratings 1-5 in the 24 h of event time up to as_of"
    )
    messages_last_hour: dict[MessageKind, int] = Field(
        description="Messages by kind in the hour of event time up to as_of"
    )


class Health(_Out):
    status: Literal["ok"] = "ok"


class Readiness(_Out):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="Each dependency: 'ok', or the error that made it fail"
    )
