"""Agent performance: current figures per agent, and one agent's windows over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError

from api.deps import ReaderDep, TenantDep
from api.models import UNAUTHORIZED, AgentList, PerformanceList, not_found
from schemas.results import WindowName
from sinks.time_values import clamp_ts

router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=UNAUTHORIZED)

DEFAULT_SPAN = timedelta(hours=24)


def _aware(value: datetime) -> datetime:
    """Naive is UTC; aware ones are compared as they are (converting one may overflow)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value


@router.get("", response_model=AgentList, summary="Current figures of every agent")
def list_agents(tenant: TenantDep, reader: ReaderDep) -> AgentList:
    """Each agent of the caller's tenant with a daily window, ordered by ``agent_id``.

    "Today" and the rolling 30 days are anchored on the tenant's latest daily window
    (event time, not the wall clock), so a replayed history reads as it did then:
    ``csat_*_30d`` cover that day and the 29 before it; ``*_today`` are the agent's
    figures on that day (0 / null if the agent was not active that day).
    """
    return AgentList.model_validate({"items": reader.agents(tenant)})


@router.get(
    "/{agent_id}/performance",
    response_model=PerformanceList,
    summary="One agent's metrics per window",
    responses=not_found("The caller's tenant has no such agent"),
)
def agent_performance(
    tenant: TenantDep,
    reader: ReaderDep,
    agent_id: Annotated[str, Path(min_length=1, max_length=256)],
    window: Annotated[WindowName, Query(description="Window size")] = "1h",
    start: Annotated[
        datetime | None,
        Query(description="Inclusive lower bound on window_start (default: end - 24 h)"),
    ] = None,
    end: Annotated[
        datetime | None,
        Query(description="Exclusive upper bound on window_start (default: now)"),
    ] = None,
) -> PerformanceList:
    """The agent's windows whose ``window_start`` lies in ``[start, end)``, oldest first.

    ``start`` and ``end`` are ISO-8601 datetimes; one **without** an offset is taken as
    UTC (remember to URL-encode ``+`` in an offset as ``%2B``, or use ``Z``). ``end``
    defaults to now and ``start`` to ``end`` minus 24 hours; ``start`` must be before
    ``end`` (else 422, a validation error on ``start``). An agent the caller's tenant has
    never seen is a 404, even if another tenant has an agent of that id.
    """
    end_at = _aware(end) if end is not None else datetime.now(UTC)
    if start is not None and _aware(start) >= end_at:
        # The same shape as FastAPI's own 422s (the documented one): a list of errors
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "start"),
                    "msg": "start must be before end",
                    "input": start.isoformat(),
                }
            ]
        )
    # Clamped to what ClickHouse stores (no row lies beyond), so that any datetime works,
    # even one whose UTC form or 24 h before it does not exist (year 1 or 9999).
    end_utc = clamp_ts(end_at)
    start_utc = clamp_ts(start) if start is not None else end_utc - DEFAULT_SPAN
    rows = reader.agent_performance(tenant, agent_id, window, start_utc, end_utc)
    if not rows and not reader.agent_exists(tenant, agent_id):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="unknown agent")
    return PerformanceList.model_validate({"items": rows})
