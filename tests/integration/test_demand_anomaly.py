"""A spiked demand hour through the pipeline (real broker, embedded ClickHouse): exactly
one ``anomaly`` alert, with the evidence the pure logic computes for the same events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows.demand.forecast import MIN_WEEKLY_H
from flows.demand.tenant import DemandConfig, DemandTenant
from infra.cluster import run_and_store
from infra.topics import ensure_topics
from schemas.events import parse_event
from schemas.results import Alert
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from tests.integration.kafka_io import produce
from tests.unit.helpers import envelope

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday
SPIKE = MIN_WEEKLY_H + 10  # 10:00 on day 9; the weekly model forecasts from hour 192 on
# one hour after the spike: its events move the watermark past the spike hour's end (the
# run closes hours up to the newest event minus the lateness), so the spike is the last
# hour judged and the hours after it, forecast by a model that has just seen it, are not
HOURS = SPIKE + 2
SPIKE_EVENTS = 40


def _per_hour(h: int) -> int:
    """A regular day: 2 queued sessions an hour at night, 6 in office hours."""
    return SPIKE_EVENTS if h == SPIKE else 6 if 8 <= h % 24 < 18 else 2


def _events() -> list[dict[str, Any]]:
    out = []
    for h in range(HOURS):
        n = _per_hour(h)
        for k in range(n):
            at = T0 + timedelta(hours=h, seconds=k * 3600 // n)
            payload = {"session_id": f"s-{h}-{k}", "channel": "chat", "queue": "billing"}
            out.append(envelope("session.queued", payload, occurred_at=at, tenant="acme"))
    return out


def _expected(events: list[dict[str, Any]], settings: Settings) -> list[Alert]:
    """The pure logic on the same events, hours closed at the end as the run closes them
    (the watermark of a bounded run ends at the newest event minus the lateness)."""
    tenant = DemandTenant("acme", DemandConfig())
    last = 0
    for doc in events:
        ev = parse_event(json.dumps(doc))
        ts = int(ev.occurred_at.timestamp() * 1000)
        tenant.on_event(ev, ts)
        last = max(last, ts)
    fired = datetime.now(UTC)
    out = tenant.close(last - int(settings.allowed_lateness_s * 1000), fired)
    return [a for a in out if isinstance(a, Alert) and a.kind == "anomaly"]


def test_a_spiked_hour_raises_exactly_one_anomaly_alert(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"topic_prefix": f"one{settings.topic_prefix}", "topic_partitions": 1}
    )
    ensure_topics(settings, log=lambda _m: None)
    events = _events()
    produce(
        settings.kafka_bootstrap,
        settings.events_topic,
        [(b"acme/billing", json.dumps(e).encode()) for e in events],
    )
    run_and_store(settings, frozenset({"ingest", "demand"}))

    client = open_client(settings.dsn, settings.clickhouse_database)
    result = client.query(
        "SELECT alert_id, severity, subject_type, subject_id, details, event_time "
        "FROM alerts FINAL WHERE kind = 'anomaly'"
    )
    rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    assert len(rows) == 1, rows
    got = rows[0]
    details = json.loads(got["details"])
    spike_start = T0 + timedelta(hours=SPIKE)
    assert (got["subject_type"], got["subject_id"]) == ("segment", "queue:billing")
    assert details["metric_name"] == "demand_1h"
    assert (details["segment_type"], details["segment"]) == ("queue", "billing")
    assert details["actual_value"] == SPIKE_EVENTS
    assert details["hour"] == spike_start.isoformat()
    assert details["direction"] == "above"
    assert details["forecast_generated_at"] == (spike_start - timedelta(hours=1)).isoformat()
    lower, upper = details["expected_range"]
    # a regular series: the forecast expects the ordinary office hour
    assert lower <= 6 <= upper < SPIKE_EVENTS
    assert 5 < details["expected"] < 8
    assert got["event_time"].replace(tzinfo=UTC) == spike_start + timedelta(hours=1)
    # exactly what the pure logic says for the same events, id included
    (want,) = _expected(events, settings)
    assert str(got["alert_id"]) == str(want.alert_id)
    assert details == want.details
    assert got["severity"] == want.severity
