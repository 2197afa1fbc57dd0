"""Row types and their columns (schemas.rows): written and read back by name, unchanged."""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pytest

from schemas.demand import ForecastSnapshot
from schemas.ops import (
    AgentBoardRow,
    AgentBoardState,
    OpsSnapshot,
    OpsSnapshotRow,
    PeakHour,
    QueueRow,
    QueueState,
)
from schemas.results import AgentWindow, Alert, make_dead_letter
from schemas.risk import ClientRisk, RiskFactor
from schemas.rows import JsonText, column_lists, column_values, columns_of, from_columns, row_fields
from schemas.transport import Accepted
from sinks import tables
from sinks.tables import TableSpec, transpose
from tests.unit.helpers import csat, ticket_assigned, ticket_created, ticket_resolved

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def stored(item: Any) -> dict[str, Any]:
    """``item`` as a driver returns it: by column name, instants naive."""
    values = column_values(row_fields(type(item)), item)
    out = dict(zip(columns_of(type(item)), values, strict=True))
    return {k: v.replace(tzinfo=None) if isinstance(v, datetime) else v for k, v in out.items()}


def test_alert_details_are_json_text() -> None:
    alert = Alert(
        alert_id=uuid.uuid4(),
        tenant_id="acme",
        kind="coaching",
        severity="high",
        subject_type="agent",
        subject_id="a1",
        title="t",
        details={"b": 1, "a": [1, 2]},
        event_time=T0,
        fired_at=T0,
    )
    row = stored(alert)
    assert row["details"] == '{"a": [1, 2], "b": 1}'
    assert from_columns(Alert, row) == alert
    assert from_columns(Alert, {**row, "details": "[1]"}).details == {"value": [1]}
    assert from_columns(Alert, {**row, "details": "{oops"}).details == {"raw": "{oops"}


def test_client_risk_factors_are_parallel_arrays() -> None:
    risk = ClientRisk(
        risk_id=uuid.uuid4(),
        tenant_id="acme",
        client_id="c1",
        version=2,
        scored_at=T0,
        churn_probability=0.5,
        risk_level="high",
        factors=[RiskFactor(name="escalations", contribution=1.2)],
        trigger_event_id=uuid.uuid4(),
    )
    row = stored(risk)
    assert (row["factor_names"], row["factor_contributions"]) == (["escalations"], [1.2])
    assert "factors" not in row
    assert from_columns(ClientRisk, row) == risk


def test_queue_row_state_is_flattened() -> None:
    q = QueueRow("acme", T0, QueueState(queue="q", depth=2, oldest_wait_s=3.0, avg_wait_s=1.5))
    row = stored(q)
    assert columns_of(QueueRow) == (
        "tenant_id", "as_of", "queue", "depth", "oldest_wait_s", "avg_wait_s", "active_sessions"
    )  # fmt: skip
    assert from_columns(QueueRow, row) == q


def test_ops_snapshot_row_round_trip() -> None:
    snap = OpsSnapshot(
        tenant_id="acme",
        as_of=T0,
        queues=[],
        agents_by_status={"active": 1, "idle": 2, "in_call": 3, "offline": 4},
        csat_distribution={"1": 0, "2": 1, "3": 0, "4": 2, "5": 5},
        messages_last_hour={"text": 9, "image": 1, "file": 0, "audio": 0, "video": 2},
    )
    row = OpsSnapshotRow.of(snap)
    assert (row.agents_in_call, row.csat_5, row.messages_video) == (3, 5, 2)
    assert from_columns(OpsSnapshotRow, stored(row)).snapshot([], []) == snap
    assert (row.open_complaints_critical, row.messages_peak_hour) == (0, None)
    board = AgentBoardState(
        agent_id="a1",
        status=None,
        since=None,
        last_event_at=T0,
        active_sessions=1,
        sessions_today=2,
        open_tickets=3,
    )
    full = snap.model_copy(
        update={
            "open_complaints": {"low": 1, "medium": 0, "high": 2, "critical": 3},
            "messages_peak_hour": PeakHour(hour=T0, count=7),
            "agents": [board],
        }
    )
    row = OpsSnapshotRow.of(full)
    assert (row.open_complaints_high, row.messages_peak_hour_count) == (2, 7)
    assert from_columns(OpsSnapshotRow, stored(row)).snapshot([], [board]) == full


def test_agent_board_row_is_flattened() -> None:
    state = AgentBoardState(
        agent_id="a1",
        status="in_call",
        since=T0,
        last_event_at=T0 + timedelta(seconds=5),
        active_sessions=1,
        sessions_today=4,
        open_tickets=2,
    )
    b = AgentBoardRow("acme", T0, state)
    assert columns_of(AgentBoardRow) == (
        "tenant_id", "as_of", "agent_id", "status", "since", "last_event_at",
        "active_sessions", "sessions_today", "open_tickets",
    )  # fmt: skip
    assert from_columns(AgentBoardRow, stored(b)) == b


def test_dataclass_rows_are_validated_too() -> None:
    snap = ForecastSnapshot(
        "acme", "queue", "billing", T0, T0, "m", (1.5,), (1.0,), (2.0,), (0.5,), (2.5,)
    )
    back = from_columns(ForecastSnapshot, {**stored(snap), "predicted": [1.5]})
    assert back == snap
    assert back.generated_at.tzinfo is UTC
    (hour,) = back.hours()
    assert (hour.target_start, hour.predicted, hour.upper_95) == (T0, 1.5, 2.5)


def test_table_specs_pickle() -> None:
    """Sinks holding a spec may be pickled (Bytewax); a spec's row builder is no closure."""
    for spec in tables.ROW_TABLES:
        assert pickle.loads(pickle.dumps(spec)).columns == spec.columns


def _samples() -> list[tuple[TableSpec[Any], list[Any]]]:
    """A few items per table, with every stored-as form (JSON text, parallel arrays,
    flattened, converted, hand-written) and empty and None values among them."""
    window = AgentWindow(
        row_id=uuid.uuid4(),
        version=3,
        is_final=True,
        tenant_id="acme",
        agent_id="a1",
        window="1h",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        csat_sum=9,
        csat_count=2,
    )
    alert = Alert(
        alert_id=uuid.uuid4(),
        tenant_id="acme",
        kind="coaching",
        severity="high",
        subject_type="agent",
        subject_id="a1",
        title="t",
        details={"b": 1, "a": [1, 2], "at": T0},
        event_time=T0,
        fired_at=T0,
    )
    factors = [
        RiskFactor(name="escalations", contribution=1.2),
        RiskFactor(name="x", contribution=0),
    ]
    risks = [
        ClientRisk(
            risk_id=uuid.uuid4(),
            tenant_id="acme",
            client_id=f"c{i}",
            version=1 + i,
            scored_at=T0,
            churn_probability=0.5,
            risk_level="high",
            factors=factors[:i],
            trigger_event_id=uuid.uuid4(),
        )
        for i in range(3)
    ]
    snap = OpsSnapshot(
        tenant_id="acme",
        as_of=T0,
        queues=[],
        agents_by_status={"active": 1, "idle": 2, "in_call": 3, "offline": 4},
        csat_distribution={"1": 0, "2": 1, "3": 0, "4": 2, "5": 5},
        messages_last_hour={"text": 9, "image": 1, "file": 0, "audio": 0, "video": 2},
    )
    queue = QueueRow("acme", T0, QueueState(queue="q", depth=2, oldest_wait_s=3.0, avg_wait_s=1.5))
    board = AgentBoardRow(
        "acme",
        T0,
        AgentBoardState(
            agent_id="a1",
            status="idle",
            since=T0,
            last_event_at=T0,
            active_sessions=0,
            sessions_today=1,
            open_tickets=0,
        ),
    )
    forecast = ForecastSnapshot(
        "acme", "queue", "billing", T0, T0, "m", (1.5,), (1.0,), (2.0,), (0.5,), (2.5,)
    )
    letter = make_dead_letter(
        topic="cx.events",
        partition=0,
        offset=1,
        key=None,
        raw=b"{",
        reason="invalid_json",
        error="bad",
        received_at=T0,
    )
    events = [
        Accepted(ticket_created("tk-1", T0), 0, 7, T0),
        Accepted(csat("tk-1", "a1", 2, T0, comment="slow"), 2, 9, T0, late_bound_ms=5),
        Accepted(ticket_assigned("tk-1", "a1", T0), 1, 3, T0),
        Accepted(ticket_resolved("tk-1", "a1", T0), 1, 4, T0),
    ]
    return [
        (tables.AGENT_PERFORMANCE, [window, window.model_copy(update={"agent_id": "a2"})]),
        (tables.ALERTS, [alert, alert.model_copy(update={"details": {}})]),
        (tables.CLIENT_RISK, risks),
        (tables.OPS_SNAPSHOTS, [snap, snap]),
        (tables.OPS_QUEUE_SNAPSHOTS, [queue]),
        (tables.OPS_AGENT_BOARD, [board, board]),
        (tables.DEMAND_FORECAST, [forecast]),
        (tables.DEAD_LETTERS, [letter]),
        (tables.EVENTS, events),
    ]


@pytest.mark.parametrize(("spec", "items"), _samples(), ids=lambda v: getattr(v, "table", ""))
def test_columns_of_a_batch_are_its_rows_by_column(spec: TableSpec[Any], items: list[Any]) -> None:
    """The column-oriented insert stores exactly what the rows (dead letters, reads) say."""
    expected = transpose([spec.to_row(item) for item in items], len(spec.columns))
    assert spec.column_lists(items) == expected
    assert spec.column_lists([]) == [[] for _ in spec.columns]
    assert pickle.loads(pickle.dumps(spec)).column_lists(items) == expected


def test_transpose_refuses_rows_of_another_width() -> None:
    assert transpose([(1, "a"), (2, "b")], 2) == [[1, 2], ["a", "b"]]
    with pytest.raises(ValueError):
        transpose([(1, "a"), (2,)], 2)
    with pytest.raises(ValueError, match="3 columns"):
        transpose([(1, "a")], 3)


@dataclass(frozen=True, slots=True)
class _Slotted:
    name: str
    doc: Annotated[dict[str, Any], JsonText()]


@dataclass(frozen=True)
class _One:
    n: int


def test_column_lists_of_slotted_and_single_field_rows() -> None:
    """Rows without an instance dict are read by attribute; one field is still a column."""
    slotted = [_Slotted("a", {"y": 1, "x": None}), _Slotted("b", {})]
    assert column_lists(row_fields(_Slotted), slotted) == [
        ["a", "b"],
        ['{"x": null, "y": 1}', "{}"],
    ]
    assert column_lists(row_fields(_One), [_One(1), _One(2)]) == [[1, 2]]
    assert column_lists(row_fields(_One), []) == [[]]
