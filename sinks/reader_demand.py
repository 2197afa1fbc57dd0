"""Demand reads: the latest forecast snapshot and backtest of a segment, per tenant.

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_rows`` (see
:class:`sinks.sql_host.SqlHost`); kept apart so
each read-side module stays about one result family. Queries bind every value as a
server-side parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schemas.demand import BacktestRow, SegmentType
from sinks.sql_host import SqlHost
from sinks.time_values import as_utc

_SNAPSHOT_SQL = (
    "SELECT generated_at, first_target, model, "
    "arraySlice(predicted, 1, {h:UInt16}), arraySlice(lower_80, 1, {h:UInt16}), "
    "arraySlice(upper_80, 1, {h:UInt16}), arraySlice(lower_95, 1, {h:UInt16}), "
    "arraySlice(upper_95, 1, {h:UInt16}) "
    "FROM demand_forecast_snapshots FINAL "
    "WHERE tenant_id = {tenant:String} AND segment_type = {stype:String} "
    "AND segment = {segment:String} ORDER BY generated_at DESC LIMIT 1"
)

_BACKTEST_COLUMNS = (
    "tenant_id, segment_type, segment, generated_at, model, baseline, origins, horizon_h, "
    "points, mae, baseline_mae, wape, mase, coverage_80, coverage_95"
)
_BACKTEST_SQL = (
    f"SELECT {_BACKTEST_COLUMNS} FROM demand_backtest FINAL "
    "WHERE tenant_id = {tenant:String} AND segment_type = {stype:String} "
    "AND segment = {segment:String} ORDER BY generated_at DESC LIMIT 1"
)
_BACKTESTS_SQL = (
    f"SELECT {_BACKTEST_COLUMNS} FROM demand_backtest FINAL "
    "WHERE ({tenant:String} = '' OR tenant_id = {tenant:String}) "
    "ORDER BY tenant_id, segment_type, segment, generated_at DESC "
    "LIMIT 1 BY tenant_id, segment_type, segment"
)
_SEGMENTS_SQL = (
    "SELECT segment_type, segment, argMax(model, generated_at), max(generated_at), "
    "argMax(arraySum(arraySlice(predicted, 1, 24)), generated_at) "
    "FROM demand_forecast_snapshots WHERE tenant_id = {tenant:String} "
    "GROUP BY segment_type, segment ORDER BY segment_type, 5 DESC, segment"
)


@dataclass(frozen=True, slots=True)
class ForecastHour:
    target_start: datetime
    predicted: float
    lower_80: float
    upper_80: float
    lower_95: float
    upper_95: float


@dataclass(frozen=True, slots=True)
class SegmentForecast:
    """The latest snapshot of one segment, cut to the requested horizon."""

    generated_at: datetime
    model: str
    hours: list[ForecastHour]


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    segment_type: SegmentType
    segment: str
    model: str
    generated_at: datetime
    next_24h: float


def _backtest(row: Sequence[Any]) -> BacktestRow:
    t, st, seg, gen, model, base, origins, horizon, points, mae, bmae, wape, mase, c80, c95 = row
    return BacktestRow(
        str(t),
        st,
        str(seg),
        as_utc(gen),
        str(model),
        str(base),
        int(origins),
        int(horizon),
        int(points),
        float(mae),
        float(bmae),
        None if wape is None else float(wape),
        None if mase is None else float(mase),
        None if c80 is None else float(c80),
        None if c95 is None else float(c95),
    )


class DemandQueries:
    """Demand reads; mixed into ``ResultsReader``."""

    def demand_forecast(
        self: SqlHost, tenant_id: str, segment_type: str, segment: str, horizon_h: int
    ) -> SegmentForecast | None:
        """The segment's latest snapshot (greatest ``generated_at``), first ``horizon_h``
        hours; ``None`` when the tenant has no forecast for it."""
        params = {"tenant": tenant_id, "stype": segment_type, "segment": segment, "h": horizon_h}
        rows = self._rows(_SNAPSHOT_SQL, params)
        if not rows:
            return None
        generated, first, model, pred, lo80, hi80, lo95, hi95 = rows[0]
        start = as_utc(first)
        hours = [
            ForecastHour(start + timedelta(hours=i), *map(float, values))
            for i, values in enumerate(zip(pred, lo80, hi80, lo95, hi95, strict=True))
        ]
        return SegmentForecast(as_utc(generated), str(model), hours)

    def demand_backtest(
        self: SqlHost, tenant_id: str, segment_type: str, segment: str
    ) -> BacktestRow | None:
        params = {"tenant": tenant_id, "stype": segment_type, "segment": segment}
        rows = self._rows(_BACKTEST_SQL, params)
        return _backtest(rows[0]) if rows else None

    def demand_backtests(self: SqlHost, tenant_id: str = "") -> list[BacktestRow]:
        """The latest backtest of every segment (of one tenant, or all with ``""``)."""
        return [_backtest(r) for r in self._rows(_BACKTESTS_SQL, {"tenant": tenant_id})]

    def demand_segments(self: SqlHost, tenant_id: str) -> list[SegmentSummary]:
        """Every segment with a forecast: its model, latest snapshot and next-24 h total."""
        return [
            SegmentSummary(st, str(seg), str(model), as_utc(gen), float(total))
            for st, seg, model, gen, total in self._rows(_SEGMENTS_SQL, {"tenant": tenant_id})
        ]
