"""Demand forecasts per segment (queue, region, service type), with their backtests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.demand_models import DemandForecastOut, DemandSegmentList
from api.deps import ReaderDep, TenantDep
from api.models import UNAUTHORIZED, not_found
from schemas.demand import MAX_HORIZON_H, SegmentType

router = APIRouter(prefix="/v1/demand", tags=["demand"], responses=UNAUTHORIZED)


@router.get(
    "/forecast",
    response_model=DemandForecastOut,
    summary="The latest forecast of one segment, with 80/95 % intervals, its model and "
    "every candidate's backtest",
    responses=not_found("No forecast for this segment of the tenant"),
)
def demand_forecast(
    tenant: TenantDep,
    reader: ReaderDep,
    segment_type: Annotated[SegmentType, Query(description="queue, region or service_type")],
    segment: Annotated[str, Query(min_length=1, max_length=128, description="Segment name")],
    horizon_h: Annotated[
        int, Query(ge=1, le=MAX_HORIZON_H, description="Hours ahead, from the first forecast hour")
    ] = 24,
) -> DemandForecastOut:
    """Hourly forecast from the hour after the one in progress (event time), as of the
    latest closed hour. Fewer than ``horizon_h`` items only if the flows were configured
    to store a shorter horizon (``CXPULSE_FORECAST_HORIZON_H``)."""
    fc = reader.demand_forecast(tenant, segment_type, segment, horizon_h)
    if fc is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"no forecast for {segment_type} {segment!r} yet",
        )
    hours = fc.hours()
    candidates = reader.demand_candidates(tenant, segment_type, segment)
    chosen = next((c for c in candidates if c.selected), None)
    if chosen is None or chosen.model != fc.model:
        # the forecast's model has no backtest of its own yet (the profile stands in
        # between 192 and 215 h of history): the latest rows are another model's
        chosen, candidates = None, []
    return DemandForecastOut.model_validate(
        {
            "segment_type": segment_type,
            "segment": segment,
            "generated_at": fc.generated_at,
            "model": fc.model,
            "horizon_h": len(hours),
            "items": hours,
            "backtest": chosen,
            "candidates": candidates,
        }
    )


@router.get(
    "/segments",
    response_model=DemandSegmentList,
    summary="Every segment with a forecast, busiest first within its type",
)
def demand_segments(tenant: TenantDep, reader: ReaderDep) -> DemandSegmentList:
    return DemandSegmentList.model_validate({"items": reader.demand_segments(tenant)})
