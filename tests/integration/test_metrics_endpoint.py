"""``GET /metrics`` of the real app on the embedded ClickHouse engine, and the flows'
metrics after a run on the real broker.

Rows go in through the real ``ClickHouseWriter`` (so the write is counted), the API is
called through TestClient, and the scrape is parsed with prometheus_client's own parser.
Metrics are process-wide, so counts are compared with a scrape taken before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.metrics import install
from infra.cluster import run_and_store
from infra.topics import ensure_topics
from schemas.metrics import CONSUMER_LAG
from schemas.results import AgentWindow
from schemas.settings import Settings
from sinks import tables
from sinks.clickhouse_client import open_client
from sinks.clickhouse_sink import ClickHouseWriter
from tests import scenario
from tests.integration.kafka_io import produce

pytestmark = pytest.mark.integration

ACME = {"Authorization": "Bearer k1"}
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
PERF = "/v1/agents/{agent_id}/performance"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(tc: TestClient) -> Samples:
    r = tc.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def window(agent: str, hour: int) -> AgentWindow:
    start = START + timedelta(hours=hour)
    return AgentWindow(
        row_id=uuid.uuid4(),
        version=1,
        is_final=True,
        tenant_id="acme",
        agent_id=agent,
        window="1h",
        window_start=start,
        window_end=start + timedelta(hours=1),
        tickets_assigned=2,
        tickets_resolved=1,
    )


@pytest.fixture
def client(chdb_path: Path, database: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        api_keys="acme:k1,globex:k2",
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        kafka_bootstrap="127.0.0.1:1",
        data_dir=tmp_path / "data",
    )
    app = create_app(settings, kafka_check=lambda: None)
    install(app)
    with TestClient(app) as tc:
        yield tc


def test_metrics_after_writes_and_requests(
    client: TestClient, chdb_path: Path, database: str
) -> None:
    before = scrape(client)

    writer: ClickHouseWriter[AgentWindow] = ClickHouseWriter(
        partial(open_client, f"chdb://{chdb_path}", database), tables.AGENT_PERFORMANCE
    )
    writer.write_batch([window("A1", 0), window("A1", 1), window("A2", 0)])
    writer.close()

    params = {"window": "1h", "start": START.isoformat(), "end": "2026-03-03T00:00:00Z"}
    r = client.get("/v1/agents/A1/performance", params=params, headers=ACME)
    assert r.status_code == 200
    assert len(r.json()["items"]) == 2
    assert client.get("/v1/agents/A2/performance", params=params, headers=ACME).status_code == 200
    assert client.get("/v1/agents/nobody/performance", headers=ACME).status_code == 404
    assert client.get("/v1/agents", headers=ACME).status_code == 200
    assert client.get("/v1/agents").status_code == 401
    assert client.get("/healthz").status_code == 200

    after = scrape(client)

    def requests(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        name = "cxpulse_api_request_seconds_count"
        return value(after, name, **labels) - value(before, name, **labels)

    assert requests(PERF, "200") == 2
    assert requests(PERF, "404") == 1
    assert requests("/v1/agents", "200") == 1
    assert requests("/v1/agents", "401") == 1
    assert requests("/healthz", "200") == 1
    assert requests("/metrics", "200") == 0  # scrapes are not observed
    routes = {dict(labels)["route"] for name, labels in after if "api_request" in name}
    assert not any("/A1/" in r or "nobody" in r for r in routes)  # templates, not paths
    seconds = value(
        after, "cxpulse_api_request_seconds_sum", method="GET", route=PERF, status="200"
    )
    assert seconds > 0

    rows = "cxpulse_rows_written_total"
    assert (
        value(after, rows, table="agent_performance")
        - value(before, rows, table="agent_performance")
        == 3
    )
    batches = "cxpulse_sink_batch_rows_count"
    assert (
        value(after, batches, sink="agent_performance")
        - value(before, batches, sink="agent_performance")
        == 1
    )


def test_flow_metrics_on_the_real_broker(settings: Settings) -> None:
    """The scenario's events, a duplicate and two bad messages through two flows."""
    settings = settings.model_copy(
        update={"topic_prefix": f"m{settings.topic_prefix}", "topic_partitions": 1}
    )
    ensure_topics(settings, log=lambda _m: None)
    events = [*scenario.timeline(), scenario.duplicate()]
    msgs = [(b"acme/x", scenario.encode(e)) for e in events]
    msgs += [(b"acme/bad", raw) for raw in scenario.invalid_lines()]
    counted = {
        "events in": ("cxpulse_events_in_total", {"partition": "0"}),
        "invalid json": ("cxpulse_dead_letters_total", {"reason": "invalid_json"}),
        "invalid event": ("cxpulse_dead_letters_total", {"reason": "validation_error"}),
        "coaching alerts": ("cxpulse_alerts_total", {"kind": "coaching", "severity": "medium"}),
        "events rows": ("cxpulse_rows_written_total", {"table": "events"}),
        "dead letter rows": ("cxpulse_rows_written_total", {"table": "dead_letters"}),
        "dlq messages": ("cxpulse_sink_batch_rows_sum", {"sink": "dlq_topic"}),
        "alert messages": ("cxpulse_sink_batch_rows_sum", {"sink": "alerts_topic"}),
        "window batches": ("cxpulse_sink_batch_seconds_count", {"sink": "agent_performance"}),
    }

    def now() -> dict[str, float]:
        return {k: REGISTRY.get_sample_value(n, ls) or 0.0 for k, (n, ls) in counted.items()}

    before = now()
    CONSUMER_LAG.labels("0").set(-1)  # earlier runs in this process set it too
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)
    run_and_store(settings, frozenset({"ingest", "agent_performance"}))
    after = now()
    delta = {k: after[k] - before[k] for k in counted}

    assert delta["window batches"] >= 1
    del delta["window batches"]
    assert delta == {
        "events in": len(msgs),
        "invalid json": 1,
        "invalid event": 1,
        "coaching alerts": 1,
        "events rows": len(scenario.timeline()),  # the duplicate is dropped
        "dead letter rows": 2,
        "dlq messages": 2,
        "alert messages": 1,
    }
    lag = REGISTRY.get_sample_value("cxpulse_consumer_lag_messages", {"partition": "0"})
    assert lag is not None
    assert 0 <= lag <= len(msgs)
