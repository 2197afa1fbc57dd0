"""Each result table and the row type it stores: columns and row values derived from the
row type's fields, by name (see :mod:`schemas.rows`), so a field added to a row type
needs only its migration."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from schemas.demand import BacktestRow, DemandHourly, ForecastSnapshot
from schemas.kb import KbFeedback, KbSuggestion
from schemas.ops import OpsSnapshot, OpsSnapshotRow, QueueRow
from schemas.results import AgentWindow, Alert, DeadLetter, LateEvent
from schemas.risk import ClientRisk
from schemas.rows import column_values, columns_of, row_fields
from schemas.transport import Accepted

T = TypeVar("T")


@dataclass(frozen=True)
class TableSpec(Generic[T]):
    """``key``: the columns that identify a row (the table's ORDER BY; empty: all). A row
    the table refuses is dead-lettered under an offset derived from them, so a replay
    rewrites the same letter."""

    table: str
    columns: Sequence[str]
    to_row: Callable[[T], Sequence[Any]]
    key: Sequence[str] = ()
    row_type: type | None = None  # what the columns are derived from (see row_table)

    def row_key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self.key:
            return tuple(row)
        values = dict(zip(self.columns, row, strict=False))  # never raises: used on bad rows
        return tuple(values.get(c) for c in self.key)


@dataclass(frozen=True)
class _ColumnValues:
    """``to_row`` of a row type's table (a class, not a closure: specs stay picklable)."""

    row_type: type

    def __call__(self, item: Any) -> Sequence[Any]:
        return column_values(row_fields(self.row_type), item)


@dataclass(frozen=True)
class _Converted:
    """``to_row`` of items that ``convert`` turns into the row type ``to_row`` takes."""

    to_row: Callable[[Any], Sequence[Any]]
    convert: Callable[[Any], Any]

    def __call__(self, item: Any) -> Sequence[Any]:
        return self.to_row(self.convert(item))


def row_table(table: str, row_type: type[T], key: Sequence[str]) -> TableSpec[T]:
    """The spec of a table whose columns are ``row_type``'s fields (see
    :func:`schemas.rows.columns_of`)."""
    return TableSpec(table, columns_of(row_type), _ColumnValues(row_type), tuple(key), row_type)


def _via(spec: TableSpec[Any], convert: Callable[[T], Any]) -> TableSpec[T]:
    """``spec`` fed with items that ``convert`` turns into its row type."""
    return TableSpec(
        spec.table, spec.columns, _Converted(spec.to_row, convert), spec.key, spec.row_type
    )


def _event_row(a: Accepted) -> Sequence[Any]:
    e = a.event
    return (
        e.event_id,
        e.event_type,
        e.schema_version,
        e.tenant_id,
        e.occurred_at,
        a.ingested_at,
        e.source,
        e.correlation_id,
        e.payload.model_dump_json(),
        a.partition,
        a.offset,
    )


EVENTS: TableSpec[Accepted] = TableSpec(
    "events",
    (
        "event_id",
        "event_type",
        "schema_version",
        "tenant_id",
        "occurred_at",
        "ingested_at",
        "source",
        "correlation_id",
        "payload",
        "kafka_partition",
        "kafka_offset",
    ),
    _event_row,
    key=("tenant_id", "event_type", "occurred_at", "event_id"),
)


_SEGMENT_KEY = ("tenant_id", "segment_type", "segment")

DEAD_LETTERS = row_table("dead_letters", DeadLetter, ("topic", "partition", "offset", "flow"))
AGENT_PERFORMANCE = row_table(
    "agent_performance", AgentWindow, ("tenant_id", "window", "agent_id", "window_start")
)
ALERTS = row_table("alerts", Alert, ("tenant_id", "event_time", "alert_id"))
LATE_EVENTS = row_table("late_events", LateEvent, ("flow", "tenant_id", "late_id"))
OPS_SNAPSHOTS: TableSpec[OpsSnapshot] = _via(
    row_table("ops_snapshots", OpsSnapshotRow, ("tenant_id", "as_of")), OpsSnapshotRow.of
)
OPS_QUEUE_SNAPSHOTS = row_table("ops_queue_snapshots", QueueRow, ("tenant_id", "as_of", "queue"))
CLIENT_RISK = row_table("client_risk", ClientRisk, ("tenant_id", "client_id", "version"))
DEMAND_HOURLY = row_table("demand_hourly", DemandHourly, (*_SEGMENT_KEY, "hour_start"))
DEMAND_FORECAST = row_table(
    "demand_forecast_snapshots", ForecastSnapshot, (*_SEGMENT_KEY, "generated_at")
)
DEMAND_BACKTEST = row_table("demand_backtest", BacktestRow, (*_SEGMENT_KEY, "generated_at"))
KB_SUGGESTIONS = row_table("kb_suggestions", KbSuggestion, ("tenant_id", "suggestion_id"))
KB_FEEDBACK = row_table("kb_feedback", KbFeedback, ("tenant_id", "suggestion_id"))  # by the API

# Every table written from a row type (the DDL test checks each against its migrations).
ROW_TABLES: tuple[TableSpec[Any], ...] = (
    DEAD_LETTERS,
    AGENT_PERFORMANCE,
    ALERTS,
    LATE_EVENTS,
    OPS_SNAPSHOTS,
    OPS_QUEUE_SNAPSHOTS,
    CLIENT_RISK,
    DEMAND_HOURLY,
    DEMAND_FORECAST,
    DEMAND_BACKTEST,
    KB_SUGGESTIONS,
    KB_FEEDBACK,
)
