"""Demand forecasts per segment (queue, region, service type), with their backtests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.demand_models import (
    BacktestOut,
    DemandForecastOut,
    DemandSegmentList,
    DemandSegmentOut,
    ForecastHourOut,
)
from api.deps import ReaderDep, TenantDep
from api.models import UNAUTHORIZED, ErrorOut
from flows.demand.tenant import MAX_HORIZON_H
from schemas.demand import SegmentType

router = APIRouter(prefix="/v1/demand", tags=["demand"], responses=UNAUTHORIZED)


@router.get(
    "/forecast",
    response_model=DemandForecastOut,
    summary="The latest forecast of one segment, with 80/95 % intervals and its backtest",
    responses={
        404: {"model": ErrorOut, "description": "No forecast for this segment of the tenant"}
    },
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
    bt = reader.demand_backtest(tenant, segment_type, segment)
    return DemandForecastOut(
        segment_type=segment_type,
        segment=segment,
        generated_at=fc.generated_at,
        model=fc.model,
        horizon_h=len(fc.hours),
        items=[
            ForecastHourOut(
                target_start=h.target_start,
                predicted=h.predicted,
                lower_80=h.lower_80,
                upper_80=h.upper_80,
                lower_95=h.lower_95,
                upper_95=h.upper_95,
            )
            for h in fc.hours
        ],
        backtest=None
        if bt is None
        else BacktestOut(
            wape=bt.wape,
            mase=bt.mase,
            coverage_80=bt.coverage_80,
            coverage_95=bt.coverage_95,
            model=bt.model,
            baseline=bt.baseline,
            origins=bt.origins,
            horizon_h=bt.horizon_h,
            points=bt.points,
            generated_at=bt.generated_at,
        ),
    )


@router.get(
    "/segments",
    response_model=DemandSegmentList,
    summary="Every segment with a forecast, busiest first within its type",
)
def demand_segments(tenant: TenantDep, reader: ReaderDep) -> DemandSegmentList:
    rows = reader.demand_segments(tenant)
    return DemandSegmentList(
        items=[
            DemandSegmentOut(
                segment_type=s.segment_type,
                segment=s.segment,
                model=s.model,
                generated_at=s.generated_at,
                next_24h=s.next_24h,
            )
            for s in rows
        ]
    )
