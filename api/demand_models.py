"""Public response models of the demand routes."""

from __future__ import annotations

from pydantic import Field

from api.models import UtcDatetime, _Out
from schemas.demand import SegmentType


class ForecastHourOut(_Out):
    target_start: UtcDatetime = Field(description="Start of the forecast hour (UTC)")
    predicted: float = Field(description="Expected demand events in the hour")
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


class BacktestOut(_Out):
    """Rolling-origin backtest of the segment's model at its latest refit."""

    wape: float | None = Field(description="sum |actual - predicted| / sum actual")
    mase: float | None = Field(
        description="MAE / seasonal-naive MAE on the same hours (< 1 beats it)"
    )
    coverage_80: float | None = Field(description="Share of actuals inside the 80 % interval")
    coverage_95: float | None = Field(description="Share of actuals inside the 95 % interval")
    model: str
    baseline: str = Field(description="The seasonal-naive baseline of the MASE")
    origins: int = Field(description="Daily forecast origins evaluated")
    horizon_h: int = Field(description="Hours forecast from each origin")
    points: int = Field(description="Forecast hours scored")
    generated_at: UtcDatetime


class DemandForecastOut(_Out):
    segment_type: SegmentType
    segment: str
    generated_at: UtcDatetime = Field(
        description="Event-time end of the last closed hour the forecast was made from"
    )
    model: str = Field(description="holt_winters_168h_sqrt, or seasonal_mean_24h (cold start)")
    horizon_h: int = Field(description="Hours returned (at most what was asked)")
    items: list[ForecastHourOut]
    backtest: BacktestOut | None = Field(description="None until the segment has a backtest")


class DemandSegmentOut(_Out):
    segment_type: SegmentType
    segment: str
    model: str
    generated_at: UtcDatetime
    next_24h: float = Field(description="Predicted demand events over the next 24 forecast hours")


class DemandSegmentList(_Out):
    items: list[DemandSegmentOut]
