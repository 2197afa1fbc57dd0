"""Threshold rules through the pipeline (issue #12): a rules file, Kafka -> live_ops flow
-> result topics -> storage writer -> ClickHouse -> the API, on the real broker and the
embedded ClickHouse engine. A backlog rule fires exactly once while the billing queue is
over its threshold, and the system resolves it when the queue drains: GET /v1/alerts
shows it resolved, alert_actions holds the system's row, and the alerts topic carries
the alert and its alert_state change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.cluster import run_and_store
from infra.topics import ensure_topics
from schemas.alert_lifecycle import ALERT_STATE_TYPE
from schemas.events import entity_key, parse_event
from schemas.ids import stable_id
from schemas.settings import Settings
from sinks.alert_states import message_type
from sinks.clickhouse_client import open_client
from tests.integration.api_support import api_client
from tests.integration.kafka_io import produce, read_all
from tests.scenario import DAY, encode, event

pytestmark = pytest.mark.integration
FLOWS = frozenset({"ingest", "live_ops"})
ACME = {"Authorization": "Bearer key-acme"}
GLOBEX = {"Authorization": "Bearer key-globex"}
RULE = {
    "rule_id": "billing-backlog",
    "metric": "queue_depth",
    "scope": {"queue": "billing"},
    "op": ">",
    "threshold": 3,
    "for_s": 300,
    "severity": "high",
}
SINCE_MS = 1_772_445_780_000  # 2026-03-02T10:03:00Z: the fourth session queued


def _queued(label: str, sid: str, at: str, tenant: str = "acme") -> dict[str, Any]:
    payload = {"session_id": sid, "channel": "chat", "queue": "billing"}
    return event(label, "session.queued", at, payload, tenant)


def _started(label: str, sid: str, at: str) -> dict[str, Any]:
    payload = {"session_id": sid, "channel": "chat", "queue": "billing", "agent_id": "A1"}
    return event(label, "session.started", at, payload)


def _status(label: str, at: str, status: str = "active", tenant: str = "acme") -> dict[str, Any]:
    payload = {"agent_id": "A1", "status": status, "team": "t"}
    return event(label, "agent.status_changed", at, payload, tenant)


def timeline() -> list[dict[str, Any]]:
    """Billing backlog of 4 from 10:03; held to the 10:08 grid point (fires there),
    briefly 4 again after a dip that never lasts 5 min, drained from 10:10."""
    return [
        _queued("q1", "S1", "10:00:00"),
        _queued("q2", "S2", "10:01:00"),
        _queued("q3", "S3", "10:02:00"),
        _queued("q4", "S4", "10:03:00"),  # depth 4 > 3: the episode starts
        _status("a1", "10:05:00"),
        _status("a2", "10:08:30", "idle"),  # crosses the 10:08 grid point: fires, once
        _status("a3", "10:09:00"),  # still held: no second alert
        _started("s1", "S1", "10:10:00"),  # depth 3: the episode ends, resolved
        _started("s2", "S2", "10:11:00"),
        _queued("q5", "S5", "10:12:00"),
        _queued("q6", "S6", "10:13:00"),  # depth 4 again: a new episode ...
        _started("s3", "S3", "10:14:00"),  # ... that ends before its 5 min
        _status("a4", "10:30:00"),
        # globex has the same backlog but no rule: no alert of its own
        *(_queued(f"g{i}", f"G{i}", f"10:0{i}:00", "globex") for i in range(5)),
        _status("g9", "10:30:00", tenant="globex"),
    ]


@pytest.fixture(scope="module")
def loaded(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One run with the rules file, which the tests only read."""
    rules = tmp_path_factory.mktemp("rules") / "rules.json"
    rules.write_text(json.dumps({"acme": [RULE]}))
    settings = module_settings.model_copy(
        update={
            "topic_prefix": f"thr{module_settings.topic_prefix}",
            "topic_partitions": 1,
            "alert_rules_file": rules,
        }
    )
    ensure_topics(settings, log=lambda _m: None)
    events = sorted(timeline(), key=lambda e: e["occurred_at"])
    msgs = [(entity_key(parse_event(encode(e))).encode(), encode(e)) for e in events]
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)
    run_and_store(settings, FLOWS)
    return settings


def test_backlog_rule_fires_once_and_resolves_when_the_queue_drains(loaded: Settings) -> None:
    alert_id = stable_id("threshold", "acme", "billing-backlog", SINCE_MS)
    ch = open_client(loaded.dsn, loaded.clickhouse_database)
    rows = ch.query(
        "SELECT alert_id, tenant_id, severity, subject_id, details, event_time "
        "FROM alerts FINAL WHERE kind = 'threshold'"
    ).result_rows
    assert len(rows) == 1
    got_id, tenant, severity, subject, details, event_time = rows[0]
    assert (str(got_id), tenant, severity, subject) == (
        str(alert_id),
        "acme",
        "high",
        "billing-backlog",
    )
    # the 10:08 snapshot grid point (before the 10:08:30 event) is exactly 300 s in
    assert event_time.isoformat().startswith(f"{DAY}T10:08:00")
    assert json.loads(details) == {
        "rule_id": "billing-backlog",
        "metric_name": "queue_depth",
        "scope": {"queue": "billing"},
        "op": ">",
        "threshold": 3.0,
        "for_s": 300.0,
        "actual_value": 4.0,
        "since": f"{DAY}T10:03:00+00:00",
    }
    actions = ch.query(
        "SELECT alert_id, action, actor, at FROM alert_actions FINAL WHERE tenant_id = 'acme'"
    ).result_rows
    assert len(actions) == 1
    assert (str(actions[0][0]), actions[0][1], actions[0][2]) == (
        str(alert_id),
        "resolve",
        "system",
    )
    assert actions[0][3].isoformat().startswith(f"{DAY}T10:10:00")
    # the alerts topic carries the alert and then its state change, for the stream
    msgs = read_all(loaded.kafka_bootstrap, loaded.alerts_topic)
    types = [(message_type(m.headers()), json.loads(m.value())["alert_id"]) for m in msgs]
    assert types == [("alert", str(alert_id)), (ALERT_STATE_TYPE, str(alert_id))]
    change = json.loads(msgs[1].value())
    assert (change["state"], change["actor"], change["kind"]) == ("resolved", "system", "threshold")


def test_api_shows_the_threshold_alert_resolved(loaded: Settings) -> None:
    for client in api_client(loaded):
        items = client.get("/v1/alerts?kind=threshold", headers=ACME).json()["items"]
        assert len(items) == 1
        assert items[0]["state"] == "resolved"
        assert items[0]["details"]["rule_id"] == "billing-backlog"
        assert items[0]["state_at"].startswith(f"{DAY}T10:10:00")
        resolved = client.get("/v1/alerts?state=resolved", headers=ACME).json()["items"]
        assert [a["alert_id"] for a in resolved] == [items[0]["alert_id"]]
        assert client.get("/v1/alerts?kind=threshold", headers=GLOBEX).json()["items"] == []


def test_a_rule_posted_to_the_api_reaches_the_flow(settings: Settings) -> None:
    """POST /v1/rules stores the rule and publishes it to the rules topic; the live-ops
    flow reads it there (never ClickHouse) and the backlog fires and resolves as above."""
    settings = settings.model_copy(
        update={"topic_prefix": f"api{settings.topic_prefix}", "topic_partitions": 1}
    )
    ensure_topics(settings, log=lambda _m: None)
    for client in api_client(settings):
        r = client.post("/v1/rules", json=RULE, headers=ACME)
        assert r.status_code == 201, r.text
        assert [i["source"] for i in client.get("/v1/rules", headers=ACME).json()["items"]] == [
            "api"
        ]
    events = sorted(timeline(), key=lambda e: e["occurred_at"])
    msgs = [(entity_key(parse_event(encode(e))).encode(), encode(e)) for e in events]
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)
    run_and_store(settings, FLOWS)
    for client in api_client(settings):
        items = client.get("/v1/alerts?kind=threshold", headers=ACME).json()["items"]
        assert [(i["subject_id"], i["state"]) for i in items] == [("billing-backlog", "resolved")]
        assert client.get("/v1/alerts?kind=threshold", headers=GLOBEX).json()["items"] == []


def test_an_sla_breach_rule_counts_the_client_risk_flows_breaches(
    settings: Settings, tmp_path: Path
) -> None:
    """sla_breaches_1h: an urgent ticket breaches at 11:00 (client risk); the pipeline
    hands the breach to live ops, whose rule fires at the next point and is resolved by
    the system once the breach is an hour old."""
    rules = tmp_path / "rules.json"
    rule = {
        "rule_id": "urgent-breaches",
        "metric": "sla_breaches_1h",
        "scope": {"priority": "urgent"},
        "op": ">",
        "threshold": 0,
        "for_s": 0,
        "severity": "critical",
    }
    rules.write_text(json.dumps({"acme": [rule]}))
    settings = settings.model_copy(
        update={
            "topic_prefix": f"sla{settings.topic_prefix}",
            "topic_partitions": 1,
            "alert_rules_file": rules,
        }
    )
    ensure_topics(settings, log=lambda _m: None)
    ticket = {
        "ticket_id": "T-SLA",
        "client_id": "C1",
        "channel": "email",
        "queue": "billing",
        "priority": "urgent",  # SLA 1 h: breaches at 11:00
        "category": "billing",
        "subject": "Invoice wrong",
        "description": "Charged twice",
        "region": "north",
    }
    created = event("sla-c1", "ticket.created", "10:00:00", ticket)
    events = [created, _status("sla-a1", "11:10:00"), _status("sla-a2", "12:05:00")]
    msgs = [(entity_key(parse_event(encode(e))).encode(), encode(e)) for e in events]
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)
    run_and_store(settings, frozenset({"ingest", "client_risk", "live_ops"}))
    ch = open_client(settings.dsn, settings.clickhouse_database)
    rows = ch.query(
        "SELECT alert_id, details, event_time FROM alerts FINAL WHERE kind = 'threshold'"
    ).result_rows
    assert len(rows) == 1
    alert_id, details, event_time = rows[0]
    assert json.loads(details)["actual_value"] == 1.0
    assert event_time.isoformat().startswith(f"{DAY}T11:10:00")
    actions = ch.query(
        "SELECT alert_id, action, actor, at FROM alert_actions FINAL WHERE tenant_id = 'acme'"
    ).result_rows
    assert [(str(a), b, c) for a, b, c, _ in actions] == [(str(alert_id), "resolve", "system")]
    assert actions[0][3].isoformat().startswith(f"{DAY}T12:05:00")
