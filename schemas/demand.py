"""Demand result rows: hourly actuals, forecast points and backtest scores.

The rows the flow writes are plain frozen dataclasses rather than pydantic models: the
flow builds them positionally from computed values, so validation would cost without
catching anything (the read side validates them by column name, see
:func:`schemas.rows.from_columns`); what the API reads back unrolled or aggregated
(:class:`ForecastHour`, :class:`SegmentSummary`) are pydantic models. Every row's
ClickHouse key is deterministic (segment + hour), so a replay rewrites rows instead of
adding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from schemas.rows import Row, UtcDatetime

SegmentType = Literal["queue", "region", "service_type"]
SEGMENT_TYPES: tuple[SegmentType, ...] = ("queue", "region", "service_type")
MAX_HORIZON_H = 336  # hours a snapshot may hold (two weeks): the flows' and the API's bound


@dataclass(frozen=True, slots=True)
class DemandHourly:
    """Demand events of one segment in one closed UTC hour (``events`` is also the row's
    version: a late event re-emits the hour with a higher count)."""

    tenant_id: str
    segment_type: SegmentType
    segment: str
    hour_start: UtcDatetime
    events: int


@dataclass(frozen=True, slots=True)
class ForecastSnapshot:
    """One forecast of one segment: ``len(predicted)`` consecutive hours from
    ``first_target``, each with 80 % and 95 % interval bounds.

    ``generated_at`` is the event-time boundary the history was complete up to (the end
    of the last closed hour), not wall time, so replays regenerate identical snapshots.
    Stored as one row of arrays (the ``demand_forecast`` view unrolls it to one row per
    target hour): a snapshot a segment an hour, 336 hours long, would otherwise be most
    of what the pipeline writes.
    """

    tenant_id: str
    segment_type: SegmentType
    segment: str
    generated_at: UtcDatetime
    first_target: UtcDatetime
    model: str
    predicted: tuple[float, ...]
    lower_80: tuple[float, ...]
    upper_80: tuple[float, ...]
    lower_95: tuple[float, ...]
    upper_95: tuple[float, ...]

    def target_start(self, i: int) -> datetime:
        return self.first_target + timedelta(hours=i)

    def hours(self) -> list[ForecastHour]:
        """The snapshot unrolled, one item per target hour (as the ``demand_forecast``
        view does)."""
        bands = zip(
            self.predicted, self.lower_80, self.upper_80, self.lower_95, self.upper_95, strict=True
        )
        return [
            ForecastHour(
                target_start=self.target_start(i),
                predicted=p,
                lower_80=l80,
                upper_80=u80,
                lower_95=l95,
                upper_95=u95,
            )
            for i, (p, l80, u80, l95, u95) in enumerate(bands)
        ]


class ForecastHour(Row):
    """One target hour of a forecast snapshot."""

    target_start: UtcDatetime = Field(description="Start of the forecast hour (UTC)")
    predicted: float = Field(description="Expected demand events in the hour")
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


class SegmentSummary(Row):
    """A segment with a forecast: its latest snapshot's model, time and next-24 h total."""

    segment_type: SegmentType
    segment: str
    model: str
    generated_at: UtcDatetime
    next_24h: float = Field(description="Predicted demand events over the next 24 forecast hours")


@dataclass(frozen=True, slots=True)
class BacktestRow:
    """Rolling-origin accuracy of one candidate model of a segment at one refit; every
    candidate gets a row, and ``selected`` marks the one that forecasts until the next
    refit (see flows.demand.forecast). Rows stored before candidates existed are the
    chosen model's (``selected`` defaults to true in the table too)."""

    tenant_id: str
    segment_type: SegmentType
    segment: str
    generated_at: UtcDatetime
    model: str
    baseline: str
    origins: int
    horizon_h: int
    points: int
    mae: float
    baseline_mae: float
    wape: float | None
    mase: float | None
    coverage_80: float | None
    coverage_95: float | None
    selected: bool = True
