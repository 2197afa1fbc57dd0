"""Each result table and the row type it stores: columns and row values derived from the
row type's fields, by name (see :mod:`schemas.rows`), so a field added to a row type
needs only its migration.

A spec builds a batch both ways: a row per item (``to_row``: dead letters, reads of one
row) and a list per column (``column_lists``: the column-oriented insert of a batch,
every plain field of an item read in one C call and transposed by ``zip``, instead of a
tuple per row built in Python that the driver then pivots back into columns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, Generic, TypeVar

from schemas.alert_lifecycle import AlertAction
from schemas.alert_rules import StoredRule
from schemas.audit import AuditEntry
from schemas.demand import BacktestRow, DemandHourly, ForecastSnapshot
from schemas.kb import KbFeedback, KbSuggestion
from schemas.ops import AgentBoardRow, OpsSnapshot, OpsSnapshotRow, QueueRow
from schemas.privacy import Erasure
from schemas.results import AgentWindow, Alert, DeadLetter, LateEvent
from schemas.risk import ClientRisk
from schemas.routing import RoutingDecision, RoutingRecommendation
from schemas.rows import column_lists, column_values, columns_of, row_fields
from schemas.transport import Accepted

T = TypeVar("T")

ColumnLists = list[list[Any]]


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
    # the batch a column at a time; None: the rows of ``to_row``, transposed
    to_columns: Callable[[Sequence[T]], ColumnLists] | None = None

    def column_lists(self, items: Sequence[T]) -> ColumnLists:
        """``items`` as one list per column (the values ``to_row`` gives, by column);
        raises when any item cannot convert (the caller then converts them one by one)."""
        if self.to_columns is not None:
            return self.to_columns(items)
        return transpose([self.to_row(item) for item in items], len(self.columns))

    def row_key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self.key:
            return tuple(row)
        values = dict(zip(self.columns, row, strict=False))  # never raises: used on bad rows
        return tuple(values.get(c) for c in self.key)


def transpose(rows: Sequence[Sequence[Any]], width: int) -> ColumnLists:
    """Rows as one list per column; a row of another width than ``width`` raises."""
    if not rows:
        return [[] for _ in range(width)]
    columns = [list(c) for c in zip(*rows, strict=True)]
    if len(columns) != width:
        raise ValueError(f"rows of {len(columns)} values for {width} columns")
    return columns


@dataclass(frozen=True)
class _ColumnValues:
    """``to_row`` of a row type's table (a class, not a closure: specs stay picklable)."""

    row_type: type

    def __call__(self, item: Any) -> Sequence[Any]:
        return column_values(row_fields(self.row_type), item)


@dataclass(frozen=True)
class _ColumnLists:
    """``to_columns`` of a row type's table (a class: specs stay picklable)."""

    row_type: type

    def __call__(self, items: Sequence[Any]) -> ColumnLists:
        return column_lists(row_fields(self.row_type), items)


@dataclass(frozen=True)
class _Converted:
    """``to_row`` of items that ``convert`` turns into the row type ``to_row`` takes."""

    to_row: Callable[[Any], Sequence[Any]]
    convert: Callable[[Any], Any]

    def __call__(self, item: Any) -> Sequence[Any]:
        return self.to_row(self.convert(item))


@dataclass(frozen=True)
class _ConvertedColumns:
    """``to_columns`` of items that ``convert`` turns into the row type ``to_columns`` takes."""

    to_columns: Callable[[Sequence[Any]], ColumnLists]
    convert: Callable[[Any], Any]

    def __call__(self, items: Sequence[Any]) -> ColumnLists:
        return self.to_columns(list(map(self.convert, items)))


def row_table(table: str, row_type: type[T], key: Sequence[str]) -> TableSpec[T]:
    """The spec of a table whose columns are ``row_type``'s fields (see
    :func:`schemas.rows.columns_of`)."""
    return TableSpec(
        table,
        columns_of(row_type),
        _ColumnValues(row_type),
        tuple(key),
        row_type,
        _ColumnLists(row_type),
    )


def _via(spec: TableSpec[Any], convert: Callable[[T], Any]) -> TableSpec[T]:
    """``spec`` fed with items that ``convert`` turns into its row type."""
    return TableSpec(
        spec.table,
        spec.columns,
        _Converted(spec.to_row, convert),
        spec.key,
        spec.row_type,
        _ConvertedColumns(spec.column_lists, convert),
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


# the envelope fields stored as they are, then the payload (stored as its JSON)
_EVENT_FIELDS = (
    "event_id",
    "event_type",
    "schema_version",
    "tenant_id",
    "occurred_at",
    "source",
    "correlation_id",
    "payload",
)
_LINEAGE = attrgetter("ingested_at", "partition", "offset")


def _event_columns(batch: Sequence[Accepted]) -> ColumnLists:
    """:func:`_event_row` a column at a time (keep the two in step: tests compare them);
    fields read in one C call per event, only the payload's JSON is built per event."""
    if not batch:
        return [[] for _ in range(11)]
    envelope = map(itemgetter(*_EVENT_FIELDS), [vars(a.event) for a in batch])
    event_id, event_type, version, tenant, occurred, source, correlation, payloads = (
        list(c) for c in zip(*envelope, strict=True)
    )
    ingested, partition, offset = (list(c) for c in zip(*map(_LINEAGE, batch), strict=True))
    # what model_dump_json() returns, without its per-call Python wrapper (a third of
    # the cost of a payload's JSON; the test of the row types compares the two)
    payload = [p.__pydantic_serializer__.to_json(p).decode() for p in payloads]
    return [
        event_id,
        event_type,
        version,
        tenant,
        occurred,
        ingested,
        source,
        correlation,
        payload,
        partition,
        offset,
    ]


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
    to_columns=_event_columns,
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
# one row per agent (ReplacingMergeTree(as_of): the latest board state wins)
OPS_AGENT_BOARD = row_table("ops_agent_board", AgentBoardRow, ("tenant_id", "agent_id", "as_of"))
CLIENT_RISK = row_table("client_risk", ClientRisk, ("tenant_id", "client_id", "version"))
DEMAND_HOURLY = row_table("demand_hourly", DemandHourly, (*_SEGMENT_KEY, "hour_start"))
DEMAND_FORECAST = row_table(
    "demand_forecast_snapshots", ForecastSnapshot, (*_SEGMENT_KEY, "generated_at")
)
DEMAND_BACKTEST = row_table(
    "demand_backtest", BacktestRow, (*_SEGMENT_KEY, "generated_at", "model")
)  # a row per candidate model of a refit (issue #16)
KB_SUGGESTIONS = row_table("kb_suggestions", KbSuggestion, ("tenant_id", "suggestion_id"))
KB_FEEDBACK = row_table("kb_feedback", KbFeedback, ("tenant_id", "suggestion_id"))  # by the API
ALERT_RULES = row_table("alert_rules", StoredRule, ("tenant_id", "rule_id"))  # by the API
# by the API (actor api) directly, and by the live-ops flow (actor system: a threshold
# episode that ended) through its result topic and the storage writer
ALERT_ACTIONS = row_table("alert_actions", AlertAction, ("tenant_id", "alert_id", "action_id"))
# by the flows (applied), the API and CLI (requested) through its result topic, and the
# storage writer itself (completed, once it deleted the client's rows; issue #13)
ERASURES = row_table("erasures", Erasure, ("tenant_id", "erasure_id"))
# by the API (every state-changing call) and the CLI, through its result topic and the
# storage writer: never an insert on the API's request path (issue #13)
AUDIT_LOG = row_table("audit_log", AuditEntry, ("tenant_id", "at", "audit_id"))
# routing (issue #15): one recommendation per ticket or complaint; one decision per
# routed ticket (ReplacingMergeTree(version): the latest outcomes win)
ROUTING_RECOMMENDATIONS = row_table(
    "routing_recommendations",
    RoutingRecommendation,
    ("tenant_id", "subject_type", "subject_id"),
)
ROUTING_DECISIONS = row_table("routing_decisions", RoutingDecision, ("tenant_id", "ticket_id"))

# Every table written from a row type (the DDL test checks each against its migrations).
ROW_TABLES: tuple[TableSpec[Any], ...] = (
    DEAD_LETTERS,
    AGENT_PERFORMANCE,
    ALERTS,
    LATE_EVENTS,
    OPS_SNAPSHOTS,
    OPS_QUEUE_SNAPSHOTS,
    OPS_AGENT_BOARD,
    CLIENT_RISK,
    DEMAND_HOURLY,
    DEMAND_FORECAST,
    DEMAND_BACKTEST,
    KB_SUGGESTIONS,
    KB_FEEDBACK,
    ALERT_ACTIONS,
    ALERT_RULES,
    AUDIT_LOG,
    ERASURES,
    ROUTING_RECOMMENDATIONS,
    ROUTING_DECISIONS,
)

# Tables only the API writes, not a flow (alert_actions has both: the flows publish the
# system's resolutions of threshold alerts, issue #12).
_API_WRITTEN = (KB_FEEDBACK, ALERT_RULES)

# Every table the flows publish rows for (each through its result topic; see
# sinks/result_rows.py).
RESULT_TABLES: tuple[TableSpec[Any], ...] = (
    EVENTS,
    *(spec for spec in ROW_TABLES if all(spec is not api for api in _API_WRITTEN)),
)
