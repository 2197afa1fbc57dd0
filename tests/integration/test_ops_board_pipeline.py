"""Issue #12 through the pipeline: Kafka -> flows (ingest, client_risk, live_ops) ->
result topics -> storage writer -> ClickHouse -> the API, on the real broker and the
embedded ClickHouse engine: complaint_escalation alerts with their exact severities and
details, the exact ``/v1/ops/live`` of the scripted morning, and tenant isolation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra.cluster import run_and_store
from infra.topics import ensure_topics
from schemas.events import entity_key, parse_event
from schemas.ids import stable_id
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from tests import scenario_risk as sr
from tests.integration.api_support import api_client
from tests.integration.kafka_io import produce, read_all
from tests.scenario import DAY, encode

pytestmark = pytest.mark.integration
FLOWS = frozenset({"ingest", "client_risk", "live_ops"})
ACME = {"Authorization": "Bearer key-acme"}
GLOBEX = {"Authorization": "Bearer key-globex"}


@pytest.fixture(scope="module")
def loaded(module_settings: Settings) -> Settings:
    """Both scripted timelines, keyed as ``cxpulse emit`` keys them, run to the end once
    (one partition, so the few events move every watermark); the tests only read it."""
    settings = module_settings.model_copy(
        update={"topic_prefix": f"one{module_settings.topic_prefix}", "topic_partitions": 1}
    )
    ensure_topics(settings, log=lambda _m: None)
    # in event-time order, as producers send them (a creation sent after events an hour
    # newer would be late: never used for an escalation's category)
    events = sorted([*sr.timeline(), *sr.board_timeline()], key=itemgetter("occurred_at"))
    msgs = [(entity_key(parse_event(encode(e))).encode(), encode(e)) for e in events]
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)
    run_and_store(settings, FLOWS)
    return settings


@pytest.fixture
def client(loaded: Settings) -> Iterator[TestClient]:
    yield from api_client(loaded)


def _alerts(settings: Settings) -> list[dict[str, Any]]:
    ch = open_client(settings.dsn, settings.clickhouse_database)
    result = ch.query(
        "SELECT alert_id, tenant_id, severity, subject_type, subject_id, details, event_time "
        "FROM alerts FINAL WHERE kind = 'complaint_escalation' ORDER BY tenant_id, event_time"
    )
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def test_complaint_escalation_alerts_with_exact_severities(loaded: Settings) -> None:
    rows = _alerts(loaded)
    acme = [r for r in rows if r["tenant_id"] == "acme"]
    got = []
    for r in acme:
        d = json.loads(r["details"])
        assert r["subject_type"] == "complaint"
        assert d["client_id"] == ("C2" if r["subject_id"] == "K1" else "C9")
        got.append(
            (r["subject_id"], r["severity"], d["cause"], d["category"], d.get("created_severity"))
        )
    assert got == sr.ESCALATIONS
    # ids derive from the causing event: a replay rewrites them
    k1_escalated = sr.event("c2e", "complaint.escalated", "09:40:00", {})["event_id"]
    assert str(acme[1]["alert_id"]) == str(stable_id("complaint_escalation", "acme", k1_escalated))
    assert acme[1]["event_time"].isoformat().startswith(f"{DAY}T09:40:00")
    # globex's critical complaint is globex's alone
    globex = [(r["subject_id"], r["severity"]) for r in rows if r["tenant_id"] == "globex"]
    assert globex == [("GK1", "critical")]
    # the same alerts went out on the alerts topic, for SSE and webhooks
    published = [
        json.loads(m.value()) for m in read_all(loaded.kafka_bootstrap, loaded.alerts_topic)
    ]
    kinds = sorted(
        (p["tenant_id"], p["subject_id"], p["severity"])
        for p in published
        if p["kind"] == "complaint_escalation"
    )
    assert kinds == sorted(
        [("acme", s, sev) for s, sev, *_ in sr.ESCALATIONS] + [("globex", "GK1", "critical")]
    )


def test_ops_live_exact_json(client: TestClient) -> None:
    r = client.get("/v1/ops/live", headers=ACME)
    assert r.status_code == 200
    assert r.json() == sr.BOARD_OPS


def test_ops_live_tenant_isolation(client: TestClient) -> None:
    body = client.get("/v1/ops/live", headers=GLOBEX).json()
    assert body["as_of"] == f"{DAY}T10:05:00+00:00"
    assert body["open_complaints"] == {"low": 0, "medium": 0, "high": 0, "critical": 1}
    assert [a["agent_id"] for a in body["agents"]] == ["G-A1"]
    assert body["queues"] == []
    assert body["messages_peak_hour"] is None
