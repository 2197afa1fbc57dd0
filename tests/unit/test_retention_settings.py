"""CXPULSE_RETENTION_DAYS: checked at start, rendered into TTLs without user text."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from infra.retention import ttl_expression
from infra.topics import dlq_retention_ms
from schemas.retention import MAX_RETENTION_DAYS, RETENTION, effective_retention
from schemas.settings import Settings


def test_defaults_cover_every_table_with_a_reason() -> None:
    assert Settings().retention_days == {}
    days = effective_retention({})
    assert (days["events"], days["dead_letters"]) == (400, 30)
    assert all(p.why and 1 <= p.days <= MAX_RETENTION_DAYS for p in RETENTION.values())
    # aggregates without text or client ids outlive the raw events they come from
    for aggregate in ("agent_performance", "demand_hourly", "demand_backtest"):
        assert days[aggregate] > days["events"]
    # every accepted event is within retention when it arrives (MAX_PAST_S is 400 days)
    assert Settings().max_past_s == days["events"] * 86_400


def test_overrides_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CXPULSE_RETENTION_DAYS",
        json.dumps({"events": 400, "dead_letters": 7, "webhook_deliveries": 90}),
    )
    s = Settings()
    assert s.retention_days == {"events": 400, "dead_letters": 7, "webhook_deliveries": 90}
    assert effective_retention(s.retention_days)["dead_letters"] == 7
    assert effective_retention(s.retention_days)["alerts"] == RETENTION["alerts"].days
    assert dlq_retention_ms(s) == 7 * 86_400_000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"evnts": 30}', "unknown table(s) ['evnts']"),
        ('{"schema_migrations": 30}', "unknown table(s)"),  # the ledger is not data
        ('{"events": 0}', "days must be 1..36500"),
        ('{"dead_letters": -1}', "days must be 1..36500"),
        ('{"events": 36501}', "days must be 1..36500"),
        ('{"events": "30"}', "valid integer"),
        ('{"events": 30.5}', "valid integer"),
        ('{"events": true}', "valid integer"),
        ('{"events": "30 DAY) DELETE; DROP TABLE events; --"}', "valid integer"),
        ('{"events; DROP TABLE events": 30}', "unknown table(s)"),
        ("[30]", "valid dictionary"),
    ],
)
def test_bad_values_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("CXPULSE_RETENTION_DAYS", raw)
    with pytest.raises(ValidationError, match="retention_days") as err:
        Settings()
    assert message in str(err.value)


def test_ttl_expressions_hold_only_fixed_names_and_ints() -> None:
    assert ttl_expression("events", 400) == "occurred_at + toIntervalDay(400)"
    assert ttl_expression("dead_letters", 30) == "received_at + toIntervalDay(30)"
    # configuration tables expire their deletion records only
    assert ttl_expression("webhook_subscriptions", 90).endswith(" WHERE deleted")
    assert ttl_expression("alert_rules", 90).endswith(" WHERE deleted = 1")
    with pytest.raises(KeyError):
        ttl_expression("events`; DROP TABLE events; --", 1)
    with pytest.raises(TypeError):
        ttl_expression("events", "1) DELETE WHERE 1; --")  # type: ignore[arg-type]
