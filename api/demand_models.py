"""Public response models of the demand routes (see :class:`api.models.View`)."""

from __future__ import annotations

from pydantic import Field

from api.models import UtcDatetime, View, _Out
from schemas.demand import ForecastHour, SegmentSummary, SegmentType


class ForecastHourOut(ForecastHour, View):
    """One forecast hour with its 80 % and 95 % intervals."""


class BacktestOut(View):
    """Rolling-origin backtest of one candidate model at the segment's latest refit.

    The published part of :class:`schemas.demand.BacktestRow` (a plain dataclass, which a
    model cannot subclass), read from it by attribute; ``tests/unit/test_api_views.py``
    checks every field here is one of the row's, of the same type.
    """

    wape: float | None = Field(description="sum |actual - predicted| / sum actual")
    mase: float | None = Field(
        description="MAE / seasonal-naive MAE on the same hours (< 1 beats it)"
    )
    coverage_80: float | None = Field(description="Share of actuals inside the 80 % interval")
    coverage_95: float | None = Field(description="Share of actuals inside the 95 % interval")
    model: str = Field(description="The candidate backtested")
    selected: bool = Field(
        description="Chosen at this refit: the lowest backtest MASE (never above seasonal-naive's)"
    )
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
    model: str = Field(
        description="The model chosen for the segment at its latest refit (see candidates): "
        "seasonal_naive_168h, daily_profile_poisson, holt_winters_168h_sqrt or ensemble_mean; "
        "seasonal_naive_24h or seasonal_mean_24h with under 192 h of history"
    )
    horizon_h: int = Field(description="Hours returned (at most what was asked)")
    items: list[ForecastHourOut]
    backtest: BacktestOut | None = Field(
        description="The chosen model's backtest; None until the segment has one"
    )
    candidates: list[BacktestOut] = Field(
        description="Every candidate's backtest at the latest refit, the chosen one first, "
        "then by error (empty until the segment has a backtest)"
    )


class DemandSegmentOut(SegmentSummary, View):
    """A segment with a forecast."""


class DemandSegmentList(_Out):
    items: list[DemandSegmentOut]
