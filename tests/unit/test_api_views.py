"""API response models are the row types as published (api.models.View)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.demand_models import BacktestOut
from api.models import AlertItem, PerformanceItem, View
from schemas.demand import BacktestRow
from schemas.results import AgentWindow, Alert
from schemas.rows import row_fields

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_backtest_out_publishes_fields_of_the_row() -> None:
    """BacktestRow is a dataclass (no subclassing): its published part must not drift."""
    row = {f.field: f.annotation for f in row_fields(BacktestRow)}
    for name, field in BacktestOut.model_fields.items():
        assert name in row, name
        assert field.annotation == row[name], name


def test_hidden_must_name_fields() -> None:
    with pytest.raises(TypeError, match="names no field"):

        class _Bad(Alert, View):
            hidden = ("nope",)


def test_an_alert_is_served_as_it_is() -> None:
    alert = Alert(
        alert_id=uuid.uuid4(),
        tenant_id="acme",
        kind="coaching",
        severity="high",
        subject_type="agent",
        subject_id="a1",
        title="t",
        details={"rating": 1},
        event_time=T0,
        fired_at=T0.replace(tzinfo=None) + timedelta(seconds=3),  # naive: UTC
    )
    served = AlertItem.model_validate(alert).model_dump(mode="json")
    # a row read from the alerts table alone is open (the reader derives the state)
    assert served == {**alert.model_dump(mode="json"), "state": "open", "state_at": None}
    assert served["event_time"] == "2026-03-02T10:00:00+00:00"
    assert served["fired_at"] == "2026-03-02T10:00:03+00:00"


def test_performance_item_hides_the_row_internals() -> None:
    window = AgentWindow(
        row_id=uuid.uuid4(),
        version=3,
        is_final=True,
        tenant_id="acme",
        agent_id="a1",
        window="1h",
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        handle_time_sum_s=90.0,
        handle_time_count=2,
        csat_sum=9,
        csat_count=2,
    )
    served = PerformanceItem.model_validate(window).model_dump(mode="json")
    assert served == {
        "window_start": "2026-03-02T10:00:00+00:00",
        "window_end": "2026-03-02T11:00:00+00:00",
        "tickets_assigned": 0,
        "tickets_resolved": 0,
        "avg_handle_time_s": 45.0,
        "avg_first_response_s": None,
        "csat_avg": 4.5,
        "csat_count": 2,
        "low_csat_count": 0,
        "is_final": True,
    }
    schema = PerformanceItem.model_json_schema(mode="serialization")
    assert set(schema["properties"]) == set(served) == set(schema["required"])
