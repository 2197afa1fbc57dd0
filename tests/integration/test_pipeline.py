"""Kafka -> flows -> ClickHouse on the real broker and the embedded ClickHouse engine."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from infra.cluster import run_and_store
from infra.topics import ensure_topics
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from tests import scenario
from tests.integration.kafka_io import produce, read_all

pytestmark = pytest.mark.integration
ALL = frozenset({"ingest", "agent_performance"})


def _key(e: dict[str, Any]) -> bytes:
    return f"{e['tenant_id']}/{e['payload']['ticket_id']}".encode()


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    client = open_client(settings.dsn, settings.clickhouse_database)
    result = client.query(sql)
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def _window_metrics(settings: Settings) -> dict[tuple[str, str, str], dict[str, Any]]:
    rows = _rows(
        settings,
        """
        SELECT tenant_id, agent_id, window, window_start, is_final, tickets_assigned,
               tickets_resolved, avg_handle_time_s, avg_first_response_s, csat_avg,
               csat_count, low_csat_count
        FROM agent_performance FINAL""",
    )
    out = {}
    for r in rows:
        start: datetime = r.pop("window_start")
        tenant = r.pop("tenant_id")
        out[(tenant, r.pop("agent_id"), r.pop("window"), start.isoformat())] = r
    return out


@pytest.fixture(scope="module")
def loaded(module_settings: Settings) -> Settings:
    """The run that the tests only reading its output share."""
    return _load(module_settings)


@pytest.fixture
def loaded_alone(settings: Settings) -> Settings:
    """A run of its own, for a test that adds input and runs again."""
    return _load(settings)


def _load(settings: Settings) -> Settings:
    """The scenario plus a duplicate and two bad messages, run to the end once.

    One input partition: the watermark is the minimum over partitions a shard has
    heard from, so with a handful of events and several partitions it would (rightly)
    never pass anything, and the lateness check below needs it to move.
    """
    settings = settings.model_copy(
        update={"topic_prefix": f"one{settings.topic_prefix}", "topic_partitions": 1}
    )
    ensure_topics(settings, log=lambda _m: None)
    events = [*scenario.timeline(), scenario.duplicate()]
    msgs = [(_key(e), scenario.encode(e)) for e in events]
    msgs += [(b"acme/bad", raw) for raw in scenario.invalid_lines()]
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)
    run_and_store(settings, ALL)
    return settings


def test_exact_agent_metrics(loaded: Settings) -> None:
    metrics = _window_metrics(loaded)
    by_tenant = {t: sum(1 for k in metrics if k[0] == t) for t in ("acme", "globex")}
    assert by_tenant == scenario.EXPECTED_ROWS
    for (agent, window, start), expected in scenario.EXPECTED.items():
        got = metrics[("acme", agent, window, start)]
        assert got["is_final"] is True
        assert {k: got[k] for k in expected} == expected, (agent, window, start)


def test_events_stored_once_and_dead_letters_explained(loaded: Settings) -> None:
    n_valid = len(scenario.timeline())
    assert _rows(loaded, "SELECT count() AS n FROM events FINAL") == [{"n": n_valid}]
    letters = _rows(loaded, "SELECT reason, error, raw FROM dead_letters FINAL ORDER BY offset")
    assert [r["reason"] for r in letters] == ["invalid_json", "validation_error"]
    assert "rating" in letters[1]["error"]
    assert {r["raw"].encode() for r in letters} == set(scenario.invalid_lines())

    dlq = read_all(loaded.kafka_bootstrap, loaded.dlq_topic)
    assert sorted(m.value() for m in dlq) == sorted(scenario.invalid_lines())
    reasons = sorted(dict(m.headers())["cxpulse.reason"] for m in dlq)
    assert reasons == [b"invalid_json", b"validation_error"]


def test_coaching_alert_in_table_and_topic(loaded: Settings) -> None:
    alerts = _rows(
        loaded, "SELECT kind, severity, subject_type, subject_id, details FROM alerts FINAL"
    )
    assert len(alerts) == 1
    a = alerts[0]
    assert (a["kind"], a["severity"], a["subject_type"], a["subject_id"]) == (
        "coaching",
        "medium",
        "agent",
        "A1",
    )
    assert json.loads(a["details"])["rating"] == 2
    published = [
        json.loads(m.value()) for m in read_all(loaded.kafka_bootstrap, loaded.alerts_topic)
    ]
    assert [p["subject_id"] for p in published] == ["A1"]


def test_resume_counts_new_events_records_late_and_never_duplicates(
    loaded_alone: Settings,
) -> None:
    loaded = loaded_alone
    before = _window_metrics(loaded)
    # Second run: a duplicate again, a late event, and one new in-order CSAT for A1.
    new_csat = scenario.event(
        "t3q",
        "csat.received",
        "10:40:00",
        {"survey_id": "S-T3", "ticket_id": "T3", "agent_id": "A1", "client_id": "C1", "rating": 4},
    )
    msgs = [scenario.duplicate(), scenario.late_event(), new_csat]
    produce(
        loaded.kafka_bootstrap, loaded.events_topic, [(_key(e), scenario.encode(e)) for e in msgs]
    )
    run_and_store(loaded, ALL)

    after = _window_metrics(loaded)
    assert len(after) == len(before) + 1  # only A1's 10:40 5m window is new
    day = after[("acme", "A1", "1d", f"{scenario.DAY}T00:00:00")]
    assert day["tickets_assigned"] == 3  # neither the duplicate nor the late one counted
    assert day["csat_count"] == 2
    assert day["csat_avg"] == 3.0
    # The late event is recorded as late. The duplicate is not counted either way: its
    # dedup shard may still remember the id (each tenant's horizon moves with the events
    # the shard sees), or, once forgotten, it is hours behind its partition: late.
    late = {str(r["event_id"]) for r in _rows(loaded, "SELECT event_id FROM late_events FINAL")}
    assert scenario.late_event()["event_id"] in late
    assert late <= {scenario.late_event()["event_id"], scenario.duplicate()["event_id"]}
    assert _rows(loaded, "SELECT count() AS n FROM events FINAL") == [
        {"n": len(scenario.timeline()) + 2}
    ]  # + late + new csat; duplicate stored once
    # raw, unmerged rows may hold older versions, but FINAL shows one row per window
    dupes = _rows(
        loaded,
        "SELECT row_id, count() AS n FROM agent_performance FINAL GROUP BY row_id HAVING n > 1",
    )
    assert dupes == []
