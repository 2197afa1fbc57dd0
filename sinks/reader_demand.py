"""Demand reads: the latest forecast snapshot and backtest of a segment, per tenant.

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_named`` (see
:class:`sinks.sql_host.SqlHost`); kept apart so each read-side module stays about one
result family. Queries bind every value as a server-side parameter; rows come back as
their row types (:mod:`schemas.demand`).
"""

from __future__ import annotations

from schemas.demand import BacktestRow, ForecastSnapshot, SegmentSummary
from schemas.rows import columns_of
from sinks.sql_host import SqlHost, read_rows, select_list

_BANDS = ("predicted", "lower_80", "upper_80", "lower_95", "upper_95")
# A snapshot's arrays cut to the first {h} hours (every other column as stored).
_SNAPSHOT_COLUMNS = ", ".join(
    f"arraySlice(s.`{c}`, 1, {{h:UInt16}}) AS `{c}`" if c in _BANDS else f"s.`{c}`"
    for c in columns_of(ForecastSnapshot)
)
_SNAPSHOT_SQL = (
    f"SELECT {_SNAPSHOT_COLUMNS} FROM demand_forecast_snapshots AS s FINAL "
    "WHERE tenant_id = {tenant:String} AND segment_type = {stype:String} "
    "AND segment = {segment:String} ORDER BY generated_at DESC LIMIT 1"
)

# The chosen candidate of the latest refit (rows stored before candidates are chosen ones).
_BACKTEST_SQL = (
    f"SELECT {select_list(BacktestRow)} FROM demand_backtest FINAL "
    "WHERE tenant_id = {tenant:String} AND segment_type = {stype:String} "
    "AND segment = {segment:String} ORDER BY generated_at DESC, selected DESC, model LIMIT 1"
)
_SEGMENT_WHERE = (
    "tenant_id = {tenant:String} AND segment_type = {stype:String} AND segment = {segment:String}"
)
# Every candidate of the latest refit, the chosen one first, then by backtest error.
_CANDIDATES_SQL = (
    f"SELECT {select_list(BacktestRow)} FROM demand_backtest FINAL WHERE {_SEGMENT_WHERE} "
    f"AND generated_at = (SELECT max(generated_at) FROM demand_backtest WHERE {_SEGMENT_WHERE}) "
    "ORDER BY selected DESC, mae, model"
)
_BACKTESTS_SQL = (
    f"SELECT {select_list(BacktestRow)} FROM demand_backtest FINAL "
    "WHERE ({tenant:String} = '' OR tenant_id = {tenant:String}) "
    "ORDER BY tenant_id, segment_type, segment, generated_at DESC, selected DESC, model "
    "LIMIT 1 BY tenant_id, segment_type, segment"
)
# Named like SegmentSummary's fields (outside the aggregation, so no alias shadows a
# column the aggregates read).
_SEGMENTS_SQL = (
    "SELECT segment_type, segment, m AS model, g AS generated_at, n AS next_24h FROM ("
    "  SELECT segment_type, segment, argMax(model, generated_at) AS m, max(generated_at) AS g, "
    "  argMax(arraySum(arraySlice(predicted, 1, 24)), generated_at) AS n "
    "  FROM demand_forecast_snapshots WHERE tenant_id = {tenant:String} "
    "  GROUP BY segment_type, segment"
    ") ORDER BY segment_type, next_24h DESC, segment"
)


class DemandQueries:
    """Demand reads; mixed into ``ResultsReader``."""

    def demand_forecast(
        self: SqlHost, tenant_id: str, segment_type: str, segment: str, horizon_h: int
    ) -> ForecastSnapshot | None:
        """The segment's latest snapshot (greatest ``generated_at``) cut to its first
        ``horizon_h`` hours; ``None`` when the tenant has no forecast for it."""
        params = {"tenant": tenant_id, "stype": segment_type, "segment": segment, "h": horizon_h}
        rows = read_rows(self, ForecastSnapshot, _SNAPSHOT_SQL, params)
        return rows[0] if rows else None

    def demand_backtest(
        self: SqlHost, tenant_id: str, segment_type: str, segment: str
    ) -> BacktestRow | None:
        """The backtest of the model chosen at the segment's latest refit."""
        params = {"tenant": tenant_id, "stype": segment_type, "segment": segment}
        rows = read_rows(self, BacktestRow, _BACKTEST_SQL, params)
        return rows[0] if rows else None

    def demand_candidates(
        self: SqlHost, tenant_id: str, segment_type: str, segment: str
    ) -> list[BacktestRow]:
        """Every candidate's backtest at the segment's latest refit, the chosen first."""
        params = {"tenant": tenant_id, "stype": segment_type, "segment": segment}
        return read_rows(self, BacktestRow, _CANDIDATES_SQL, params)

    def demand_backtests(self: SqlHost, tenant_id: str = "") -> list[BacktestRow]:
        """The latest backtest of every segment (of one tenant, or all with ``""``)."""
        return read_rows(self, BacktestRow, _BACKTESTS_SQL, {"tenant": tenant_id})

    def demand_segments(self: SqlHost, tenant_id: str) -> list[SegmentSummary]:
        """Every segment with a forecast: its model, latest snapshot and next-24 h total."""
        return read_rows(self, SegmentSummary, _SEGMENTS_SQL, {"tenant": tenant_id})
