"""Public response models of the v1 API (what clients may rely on).

A response item is its row type (:mod:`schemas`) as published: a subclass of it and of
:class:`View`, which leaves out the fields named in ``hidden``. So a field added to a row
type is served without an edit here, and nothing is copied field by field. Every
datetime is serialised as ISO-8601 in UTC with an explicit ``+00:00`` offset.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.alert_lifecycle import AlertStateChange, AlertWithState
from schemas.ops import OpsSnapshot
from schemas.results import AgentSummary, AgentWindow
from schemas.risk import ClientRisk, RiskScore
from schemas.rows import UtcDatetime

__all__ = ["UtcDatetime"]  # re-exported: the API's one datetime type


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class View(_Out):
    """Base of a response model published from a row type (``class X(Row, View)``).

    ``hidden`` names the row fields not published; they are still read (from the row's
    attributes, ``from_attributes``) but left out of the JSON and of its schema. Fields
    with defaults are documented as always present, as they are.
    """

    model_config = ConfigDict(
        frozen=True, from_attributes=True, json_schema_serialization_defaults_required=True
    )
    hidden: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        unknown = set(cls.hidden) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"{cls.__name__}.hidden names no field: {sorted(unknown)}")
        fields = [cls.model_fields[name] for name in cls.hidden]
        if any(not f.exclude for f in fields):
            for f in fields:
                f.exclude = True
            cls.model_rebuild(force=True)


class ErrorOut(_Out):
    """An error the API answered with instead of a result."""

    detail: str = Field(description="What went wrong, for a human")


# Every /v1 route refuses a missing or unknown key, a key without the route's scope, and
# an address that failed to authenticate too often; routers declare it with ``responses=``.
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorOut,
        "description": "Missing or unknown API key (`WWW-Authenticate: Bearer`)",
    },
    403: {
        "model": ErrorOut,
        "description": "The API key lacks the scope this route needs (read, write or admin)",
    },
    429: {
        "model": ErrorOut,
        "description": "Too many failed authentications from this address (`Retry-After`)",
    },
}


def not_found(description: str) -> dict[int | str, dict[str, Any]]:
    """A route's documented 404 (``responses=``)."""
    return {404: {"model": ErrorOut, "description": description}}


class AgentItem(AgentSummary, View):
    """One agent's current figures."""


class AgentList(_Out):
    items: list[AgentItem]


class PerformanceItem(AgentWindow, View):
    """One agent's metrics in one window (averages derived from the sums and counts)."""

    hidden = (
        "row_id",
        "version",
        "tenant_id",
        "agent_id",
        "window",
        "handle_time_sum_s",
        "handle_time_count",
        "first_response_sum_s",
        "first_response_count",
        "csat_sum",
    )


class PerformanceList(_Out):
    items: list[PerformanceItem]


class AlertItem(AlertWithState, View):
    """One alert with its lifecycle state."""


class AlertList(_Out):
    items: list[AlertItem]


class AlertStateEvent(AlertStateChange, View):
    """An alert's new lifecycle state (SSE ``event: alert_state``)."""


class ClientRiskItem(ClientRisk, View):
    """One client's current churn-risk score."""

    hidden = ("risk_id", "tenant_id", "version", "trigger_event_id")


class ClientRiskList(_Out):
    items: list[ClientRiskItem]


class RiskVersion(ClientRisk, View):
    """One version of a client's score."""

    hidden = ("risk_id", "tenant_id", "client_id", "trigger_event_id")


class ClientRiskDetail(_Out):
    client_id: str
    current: RiskVersion = Field(description="The latest version")
    history: list[RiskVersion] = Field(description="Versions newest first (current included)")


class RiskLevelOut(RiskScore, View):
    """A score's probability and level."""

    hidden = ("factors",)


class RiskScoreOut(RiskScore, View):
    """A score with the factors kept."""


class ClientRiskWhatIf(_Out):
    """The client's current score next to its score without some factors."""

    client_id: str
    without: list[str] = Field(description="Factors left out (as asked, duplicates dropped)")
    current: RiskLevelOut = Field(description="The stored latest score")
    what_if: RiskScoreOut = Field(
        description="The latest contributions scored by the risk model, minus `without`"
    )


class OpsLive(OpsSnapshot, View):
    """The tenant's latest live-operations snapshot."""

    hidden = ("tenant_id",)


class Health(_Out):
    status: Literal["ok"] = "ok"


class Readiness(_Out):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="Each dependency: 'ok', or the error that made it fail ('failed' "
        "without a valid API key)"
    )
    store_lag: dict[str, int] = Field(
        default_factory=dict,
        description="Messages per result topic not yet stored in ClickHouse (what the "
        "storage writer has yet to insert; results there are not queryable yet)",
    )
