"""Instrumentation: what the sinks, the Kafka source and the API middleware count.

Metrics live in the process-wide registry, so every assertion is on the change a test
causes (and tests use their own table / sink / partition labels where they can).
The ClickHouse client, the producer and the consumer are small fakes: this checks the
counting around them, not the systems themselves (tests/integration does that).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

import flows.ingest.kafka_source as kafka_source
from api.metrics import install
from schemas import metrics
from schemas.results import Alert, DeadLetter, LateEvent
from sinks import tables
from sinks.clickhouse_sink import ClickHouseWriter
from sinks.kafka_sink import TopicWriter
from sinks.tables import TableSpec

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


class FakeClient:
    """Records inserts; the first ``failures`` calls raise."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.inserts: list[tuple[str, list[Sequence[Any]]]] = []

    def insert(
        self,
        table: str,
        rows: list[Sequence[Any]],
        column_names: Sequence[str],
        column_oriented: bool = False,
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("refused")
        self.inserts.append((table, rows))

    def close(self) -> None:
        pass


def spec_for(table: str) -> TableSpec[int]:
    return TableSpec(table, ("n",), lambda n: (n,))


def writer(client: FakeClient, spec: TableSpec[Any], **kwargs: Any) -> ClickHouseWriter[Any]:
    return ClickHouseWriter(lambda: cast(Client, client), spec, sleep=lambda _s: None, **kwargs)


def test_clickhouse_writer_counts_rows_and_batches() -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"
    w = writer(FakeClient(failures=1), spec_for(table))  # one retry: still one batch
    w.write_batch([1, 2, 3])
    w.write_batch([4])
    w.write_batch([])  # nothing written, nothing observed

    assert sample("cxpulse_rows_written_total", table=table) == 4
    assert sample("cxpulse_sink_batch_rows_count", sink=table) == 2
    assert sample("cxpulse_sink_batch_rows_sum", sink=table) == 4
    assert sample("cxpulse_sink_batch_rows_bucket", sink=table, le="1.0") == 1
    assert sample("cxpulse_sink_batch_seconds_count", sink=table) == 2
    assert sample("cxpulse_sink_batch_seconds_sum", sink=table) > 0


def test_clickhouse_writer_counts_nothing_when_the_insert_fails() -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"
    seen: list[object] = []
    w = writer(FakeClient(failures=9), spec_for(table), attempts=2, on_written=seen.append)
    with pytest.raises(RuntimeError, match="failed 2 times"):
        w.write_batch([1, 2])
    assert sample("cxpulse_rows_written_total", table=table) == 0
    assert sample("cxpulse_sink_batch_rows_count", sink=table) == 0
    assert seen == []


def test_on_written_sees_each_stored_batch() -> None:
    seen: list[object] = []
    w = writer(FakeClient(), spec_for(f"t_{uuid.uuid4().hex[:8]}"), on_written=seen.append)
    w.write_batch([1, 2])
    w.write_batch([3])
    assert seen == [{"n": [1, 2]}, {"n": [3]}]


def letter(reason: str) -> DeadLetter:
    return DeadLetter.model_validate(
        {
            "letter_id": uuid.uuid4(),
            "received_at": NOW,
            "topic": "events",
            "partition": 0,
            "offset": 1,
            "reason": reason,
            "error": "bad",
            "raw": b"{",
        }
    )


def alert(kind: str, severity: str) -> Alert:
    return Alert.model_validate(
        {
            "alert_id": uuid.uuid4(),
            "tenant_id": "acme",
            "kind": kind,
            "severity": severity,
            "subject_type": "agent",
            "subject_id": "A1",
            "title": "t",
            "details": {},
            "event_time": NOW,
            "fired_at": NOW,
        }
    )


def late(flow: str) -> LateEvent:
    return LateEvent(
        late_id=uuid.uuid4(),
        flow=flow,
        event_id=uuid.uuid4(),
        tenant_id="acme",
        event_type="csat.received",
        occurred_at=NOW,
        watermark=NOW,
        recorded_at=NOW,
    )


def test_dead_letters_alerts_and_late_events_by_label() -> None:
    json_before = sample("cxpulse_dead_letters_total", reason="invalid_json")
    utf8_before = sample("cxpulse_dead_letters_total", reason="invalid_utf8")
    risk_before = sample("cxpulse_alerts_total", kind="client_risk", severity="high")
    coach_before = sample("cxpulse_alerts_total", kind="coaching", severity="medium")
    flow = f"f_{uuid.uuid4().hex[:8]}"

    def columns(rows: list[Any], spec: TableSpec[Any]) -> dict[str, list[Any]]:
        return dict(zip(spec.columns, spec.column_lists(rows), strict=True))

    metrics.dead_letters_written(
        columns([letter("invalid_json"), letter("invalid_json")], tables.DEAD_LETTERS)
    )
    metrics.dead_letters_written(columns([letter("invalid_utf8")], tables.DEAD_LETTERS))
    alerts = [
        alert("client_risk", "high"),
        alert("coaching", "medium"),
        alert("client_risk", "high"),
    ]
    metrics.alerts_written(columns(alerts, tables.ALERTS))
    metrics.late_events_written(columns([late(flow), late(flow), late(flow)], tables.LATE_EVENTS))

    assert sample("cxpulse_dead_letters_total", reason="invalid_json") == json_before + 2
    assert sample("cxpulse_dead_letters_total", reason="invalid_utf8") == utf8_before + 1
    assert sample("cxpulse_alerts_total", kind="client_risk", severity="high") == risk_before + 2
    assert sample("cxpulse_alerts_total", kind="coaching", severity="medium") == coach_before + 1
    assert sample("cxpulse_late_events_total", flow=flow) == 3


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def produce(self, topic: str, value: bytes, key: bytes | None, **_kw: Any) -> None:
        self.sent.append(value)

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0


def test_topic_writer_observes_batches_under_its_sink_label() -> None:
    label = f"s_{uuid.uuid4().hex[:8]}"
    w: TopicWriter[bytes] = TopicWriter({}, "some.topic", lambda b: (None, b, []), sink=label)
    producer = FakeProducer()
    w._producer = producer  # type: ignore[assignment]
    w.write_batch([b"a", b"b", b"c"])
    w.write_batch([])
    assert producer.sent == [b"a", b"b", b"c"]
    assert sample("cxpulse_sink_batch_rows_count", sink=label) == 1
    assert sample("cxpulse_sink_batch_rows_sum", sink=label) == 3
    assert sample("cxpulse_sink_batch_seconds_count", sink=label) == 1


class FakeMessage:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v"


class FakeConsumer:
    """Serves offsets 0..high-1, ``batch`` at a time; the high watermark is ``high``."""

    high = 10

    def __init__(self, _config: dict[str, Any]) -> None:
        self.position = 0
        self.watermark_calls = 0

    def assign(self, _parts: list[Any]) -> None:
        pass

    def consume(self, n: int, _timeout: float) -> list[FakeMessage]:
        msgs = [FakeMessage(o) for o in range(self.position, min(self.position + n, self.high))]
        self.position += len(msgs)
        return msgs

    def get_watermark_offsets(self, _tp: Any, cached: bool = False) -> tuple[int, int]:
        assert cached  # never a broker round trip from the hot path
        self.watermark_calls += 1
        return 0, self.high

    def close(self) -> None:
        pass


def test_source_counts_events_in_and_lag_per_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_source, "Consumer", FakeConsumer)
    monkeypatch.setattr(kafka_source, "_LAG_EVERY_S", 3600.0)
    partition = 9000 + uuid.uuid4().int % 1000  # a label no other test uses
    before = sample("cxpulse_events_in_total", partition=str(partition))
    part = kafka_source._Partition({}, "events", partition, None, False, batch_size=4)
    consumer: FakeConsumer = part._consumer  # type: ignore[assignment]

    assert len(part.next_batch()) == 4
    assert sample("cxpulse_events_in_total", partition=str(partition)) == before + 4
    assert sample("cxpulse_consumer_lag_messages", partition=str(partition)) == 6

    assert len(part.next_batch()) == 4  # within the refresh interval: lag not refreshed
    assert consumer.watermark_calls == 1
    assert sample("cxpulse_consumer_lag_messages", partition=str(partition)) == 6

    monkeypatch.setattr(kafka_source, "_LAG_EVERY_S", 0.0)
    assert len(part.next_batch()) == 2
    assert sample("cxpulse_events_in_total", partition=str(partition)) == before + 10
    assert sample("cxpulse_consumer_lag_messages", partition=str(partition)) == 0
    assert consumer.watermark_calls == 2


def test_middleware_labels_templates_statuses_and_failures() -> None:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        if thing_id == 0:
            raise HTTPException(404, "no such thing")
        if thing_id < 0:
            raise ValueError("boom")
        return {"id": thing_id}

    install(app)
    route = "/things/{thing_id}"

    def count(method: str, route: str, status: str) -> float:
        return sample(
            "cxpulse_api_request_seconds_count", method=method, route=route, status=status
        )

    before = {
        (r, s): count("GET", r, s)
        for r, s in [(route, "200"), (route, "404"), (route, "500"), ("<unmatched>", "404")]
    }
    with TestClient(app, raise_server_exceptions=False) as tc:
        assert tc.get("/things/1").status_code == 200
        assert tc.get("/things/2").status_code == 200
        assert tc.get("/things/0").status_code == 404
        assert tc.get("/things/-1").status_code == 500
        assert tc.get("/nowhere/at/all").status_code == 404
        r = tc.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert count("GET", route, "200") == before[(route, "200")] + 2
    assert count("GET", route, "404") == before[(route, "404")] + 1
    assert count("GET", route, "500") == before[(route, "500")] + 1
    assert count("GET", "<unmatched>", "404") == before[("<unmatched>", "404")] + 1
    assert count("GET", "/metrics", "200") == 0  # scrapes are not observed
    assert 'cxpulse_api_request_seconds_count{method="GET",route="/things/{thing_id}"' in r.text
    assert "/things/1" not in r.text  # never the raw path
