"""How each result type maps onto its ClickHouse table (column order = insert order)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from schemas.demand import BacktestRow, DemandHourly, ForecastSnapshot
from schemas.kb import KbSuggestion
from schemas.ops import OpsSnapshot, QueueRow, snapshot_id
from schemas.results import AgentWindow, Alert, DeadLetter, LateEvent
from schemas.risk import ClientRisk
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

    def row_key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self.key:
            return tuple(row)
        values = dict(zip(self.columns, row, strict=False))  # never raises: used on bad rows
        return tuple(values.get(c) for c in self.key)


def _fields(columns: Sequence[str]) -> Callable[[Any], Sequence[Any]]:
    """Row builder for items whose attributes are the columns, in order."""

    def row(item: Any) -> Sequence[Any]:
        return tuple(getattr(item, c) for c in columns)

    return row


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


def _dead_letter_row(d: DeadLetter) -> Sequence[Any]:
    return (
        d.letter_id,
        d.received_at,
        d.topic,
        d.partition,
        d.offset,
        d.reason,
        d.error,
        d.raw,
        d.key,
        d.flow,
        d.raw_size,
        d.raw_sha256,
    )


DEAD_LETTERS: TableSpec[DeadLetter] = TableSpec(
    "dead_letters",
    (
        "letter_id",
        "received_at",
        "topic",
        "partition",
        "offset",
        "reason",
        "error",
        "raw",
        "key",
        "flow",
        "raw_size",
        "raw_sha256",
    ),
    _dead_letter_row,
    key=("topic", "partition", "offset", "flow"),
)

_WINDOW_COLUMNS = (
    "row_id",
    "version",
    "is_final",
    "tenant_id",
    "agent_id",
    "window",
    "window_start",
    "window_end",
    "tickets_assigned",
    "tickets_resolved",
    "handle_time_sum_s",
    "handle_time_count",
    "first_response_sum_s",
    "first_response_count",
    "csat_sum",
    "csat_count",
    "low_csat_count",
)


AGENT_PERFORMANCE: TableSpec[AgentWindow] = TableSpec(
    "agent_performance",
    _WINDOW_COLUMNS,
    _fields(_WINDOW_COLUMNS),
    key=("tenant_id", "window", "agent_id", "window_start"),
)


def _alert_row(a: Alert) -> Sequence[Any]:
    return (
        a.alert_id,
        a.tenant_id,
        a.kind,
        a.severity,
        a.subject_type,
        a.subject_id,
        a.title,
        json.dumps(a.details, sort_keys=True, default=str),
        a.event_time,
        a.fired_at,
    )


ALERTS: TableSpec[Alert] = TableSpec(
    "alerts",
    (
        "alert_id",
        "tenant_id",
        "kind",
        "severity",
        "subject_type",
        "subject_id",
        "title",
        "details",
        "event_time",
        "fired_at",
    ),
    _alert_row,
    key=("tenant_id", "event_time", "alert_id"),
)


def _late_row(e: LateEvent) -> Sequence[Any]:
    return (
        e.late_id,
        e.flow,
        e.event_id,
        e.tenant_id,
        e.event_type,
        e.occurred_at,
        e.watermark,
        e.recorded_at,
    )


LATE_EVENTS: TableSpec[LateEvent] = TableSpec(
    "late_events",
    (
        "late_id",
        "flow",
        "event_id",
        "tenant_id",
        "event_type",
        "occurred_at",
        "watermark",
        "recorded_at",
    ),
    _late_row,
    key=("flow", "tenant_id", "late_id"),
)


def _ops_row(s: OpsSnapshot) -> Sequence[Any]:
    a, c, m = s.agents_by_status, s.csat_distribution, s.messages_last_hour
    return (
        snapshot_id(s.tenant_id, s.as_of),
        s.tenant_id,
        s.as_of,
        a["active"],
        a["idle"],
        a["in_call"],
        a["offline"],
        c["1"],
        c["2"],
        c["3"],
        c["4"],
        c["5"],
        m["text"],
        m["image"],
        m["file"],
        m["audio"],
        m["video"],
    )


OPS_SNAPSHOTS: TableSpec[OpsSnapshot] = TableSpec(
    "ops_snapshots",
    (
        "snapshot_id",
        "tenant_id",
        "as_of",
        "agents_active",
        "agents_idle",
        "agents_in_call",
        "agents_offline",
        "csat_1",
        "csat_2",
        "csat_3",
        "csat_4",
        "csat_5",
        "messages_text",
        "messages_image",
        "messages_file",
        "messages_audio",
        "messages_video",
    ),
    _ops_row,
    key=("tenant_id", "as_of"),
)


def _queue_row(r: QueueRow) -> Sequence[Any]:
    q = r.state
    return (r.tenant_id, r.as_of, q.queue, q.depth, q.oldest_wait_s, q.avg_wait_s)


OPS_QUEUE_SNAPSHOTS: TableSpec[QueueRow] = TableSpec(
    "ops_queue_snapshots",
    ("tenant_id", "as_of", "queue", "depth", "oldest_wait_s", "avg_wait_s"),
    _queue_row,
    key=("tenant_id", "as_of", "queue"),
)


def _risk_row(r: ClientRisk) -> Sequence[Any]:
    return (
        r.risk_id,
        r.tenant_id,
        r.client_id,
        r.version,
        r.scored_at,
        r.churn_probability,
        r.risk_level,
        [f.name for f in r.factors],
        [f.contribution for f in r.factors],
        r.trigger_event_id,
    )


CLIENT_RISK: TableSpec[ClientRisk] = TableSpec(
    "client_risk",
    (
        "risk_id",
        "tenant_id",
        "client_id",
        "version",
        "scored_at",
        "churn_probability",
        "risk_level",
        "factor_names",
        "factor_contributions",
        "trigger_event_id",
    ),
    _risk_row,
    key=("tenant_id", "client_id", "version"),
)


_HOURLY_COLUMNS = ("tenant_id", "segment_type", "segment", "hour_start", "events")
_FORECAST_COLUMNS = (
    "tenant_id",
    "segment_type",
    "segment",
    "generated_at",
    "first_target",
    "model",
    "predicted",
    "lower_80",
    "upper_80",
    "lower_95",
    "upper_95",
)
_BACKTEST_COLUMNS = (
    "tenant_id",
    "segment_type",
    "segment",
    "generated_at",
    "model",
    "baseline",
    "origins",
    "horizon_h",
    "points",
    "mae",
    "baseline_mae",
    "wape",
    "mase",
    "coverage_80",
    "coverage_95",
)


_SEGMENT_KEY = ("tenant_id", "segment_type", "segment")
DEMAND_HOURLY: TableSpec[DemandHourly] = TableSpec(
    "demand_hourly",
    _HOURLY_COLUMNS,
    _fields(_HOURLY_COLUMNS),
    key=(*_SEGMENT_KEY, "hour_start"),
)
DEMAND_FORECAST: TableSpec[ForecastSnapshot] = TableSpec(
    "demand_forecast_snapshots",
    _FORECAST_COLUMNS,
    _fields(_FORECAST_COLUMNS),
    key=(*_SEGMENT_KEY, "generated_at"),
)
DEMAND_BACKTEST: TableSpec[BacktestRow] = TableSpec(
    "demand_backtest",
    _BACKTEST_COLUMNS,
    _fields(_BACKTEST_COLUMNS),
    key=(*_SEGMENT_KEY, "generated_at"),
)


_KB_COLUMNS = (
    "suggestion_id",
    "version",
    "tenant_id",
    "status",
    "title",
    "category",
    "ticket_ids",
    "size",
    "confidence",
    "covered_by",
    "first_seen",
    "updated_at",
)
KB_SUGGESTIONS: TableSpec[KbSuggestion] = TableSpec(
    "kb_suggestions", _KB_COLUMNS, _fields(_KB_COLUMNS), key=("tenant_id", "suggestion_id")
)
