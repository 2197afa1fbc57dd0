"""Demand result rows: hourly actuals, forecast points and backtest scores.

Plain frozen dataclasses rather than pydantic models: the flow builds them and they are
only ever written, so validation would cost without catching anything. Every row's
ClickHouse key is deterministic (segment + hour), so a replay rewrites rows instead of
adding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

SegmentType = Literal["queue", "region", "service_type"]
SEGMENT_TYPES: tuple[SegmentType, ...] = ("queue", "region", "service_type")


@dataclass(frozen=True, slots=True)
class DemandHourly:
    """Demand events of one segment in one closed UTC hour (``events`` is also the row's
    version: a late event re-emits the hour with a higher count)."""

    tenant_id: str
    segment_type: SegmentType
    segment: str
    hour_start: datetime
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
    generated_at: datetime
    first_target: datetime
    model: str
    predicted: tuple[float, ...]
    lower_80: tuple[float, ...]
    upper_80: tuple[float, ...]
    lower_95: tuple[float, ...]
    upper_95: tuple[float, ...]

    def target_start(self, i: int) -> datetime:
        return self.first_target + timedelta(hours=i)


@dataclass(frozen=True, slots=True)
class BacktestRow:
    """Rolling-origin accuracy of a segment's model at one refit (see flows.demand.forecast)."""

    tenant_id: str
    segment_type: SegmentType
    segment: str
    generated_at: datetime
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
