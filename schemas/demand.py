"""Demand result rows: hourly actuals, forecast points and backtest scores.

Plain frozen dataclasses rather than pydantic models: a forecast snapshot is hundreds of
rows per segment per hour, built by the flow and only ever written, so validation would
cost without catching anything. Every row's ClickHouse key is deterministic (segment +
hour), so a replay rewrites rows instead of adding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
class ForecastPoint:
    """One target hour of one forecast snapshot.

    ``generated_at`` is the event-time boundary the history was complete up to (the end
    of the last closed hour), not wall time, so replays regenerate identical snapshots.
    """

    tenant_id: str
    segment_type: SegmentType
    segment: str
    generated_at: datetime
    target_start: datetime
    horizon_h: int
    predicted: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float
    model: str


@dataclass(frozen=True, slots=True)
class BacktestRow:
    """Rolling-origin accuracy of a segment's model at one refit (see flows.forecast)."""

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
