"""The storage writer against real Kafka and the real embedded ClickHouse: every
result message becomes a stored row or a dead letter, offsets are committed only after
the insert, and a replay of what was stored changes nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from infra.storage import drain, storage_writer, store_lag
from infra.topics import ensure_topics
from schemas.results import AgentWindow
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.result_rows import RowCodec
from sinks.tables import AGENT_PERFORMANCE
from tests.integration.kafka_io import produce

START = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def result_topics(settings: Settings) -> None:
    ensure_topics(settings, log=lambda _m: None)


def _window(agent: str, **changes: Any) -> AgentWindow:
    fields: dict[str, Any] = {
        "row_id": uuid.uuid5(uuid.NAMESPACE_URL, agent),
        "tenant_id": "acme",
        "agent_id": agent,
        "window": "1h",
        "window_start": START,
        "window_end": START.replace(hour=10),
        "version": 1,
        "is_final": True,
        "tickets_assigned": 2,
        "tickets_resolved": 1,
        "handle_time_sum_s": 60.0,
        "handle_time_count": 1,
        "first_response_sum_s": 5.0,
        "first_response_count": 1,
        "csat_sum": 4,
        "csat_count": 1,
    }
    fields.update(changes)
    return AgentWindow.model_validate(fields)


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    client = open_client(settings.dsn, settings.clickhouse_database)
    try:
        return list(client.query(sql).named_results())
    finally:
        client.close()


def _committed(settings: Settings, topic: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.store_group}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        done = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return sum(max(0, tp.offset) for tp in done)
    finally:
        consumer.close()


def test_good_rows_are_stored_and_every_other_message_is_a_dead_letter(
    settings: Settings,
) -> None:
    topic = settings.results_topic("agent_performance")
    codec = RowCodec(AGENT_PERFORMANCE)
    good = [_window(f"a{i}") for i in range(5)]
    encoded = [codec.encode(w) for w in good]
    refused = orjson.loads(codec.encode(_window("neg"))[1])
    refused["tickets_assigned"] = -1  # UInt32: the table refuses this row
    hostile = [
        b"\xff\xfe not json",
        b"[1, 2, 3]",
        b"{}",
        b"",
        b"{" * 50_000,
        json.dumps({"row_id": "x" * 2_000_000}).encode(),  # 2 MB and not a row
        orjson.dumps(refused),
    ]
    # one key: one partition, so the offsets below are known
    messages = [v for _, v, _ in encoded[:3]] + hostile + [v for _, v, _ in encoded[3:]]
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "message.max.bytes": 8_000_000}
    )
    for value in messages:
        producer.produce(topic, value, b"k")
    assert producer.flush(30) == 0
    assert store_lag(settings)[topic] == len(messages)

    assert drain(settings) == len(good)

    stored = _rows(settings, "SELECT agent_id FROM agent_performance FINAL ORDER BY agent_id")
    assert [r["agent_id"] for r in stored] == [f"a{i}" for i in range(5)]
    letters = _rows(settings, "SELECT topic, offset, flow, error, raw_size FROM dead_letters FINAL")
    malformed = sorted((r for r in letters if r["flow"] == "sink:store"), key=lambda r: r["offset"])
    assert [r["topic"] for r in malformed] == [topic] * 6
    assert [r["offset"] for r in malformed] == list(range(3, 9))  # where they were read
    assert all(r["error"].startswith("MalformedRowError: ") for r in malformed)
    assert max(r["raw_size"] for r in malformed) > 2_000_000  # sized from the whole message
    [row_refused] = [r for r in letters if r["flow"] == "sink:agent_performance"]
    assert row_refused["error"].startswith("DataError")
    assert _committed(settings, topic) == len(messages)
    assert store_lag(settings)[topic] == 0


def test_a_replay_of_stored_offsets_changes_nothing(settings: Settings) -> None:
    topic = settings.results_topic("agent_performance")
    codec = RowCodec(AGENT_PERFORMANCE)
    first = [_window(f"a{i}") for i in range(3)]
    newer = [_window("a1", version=3, tickets_resolved=2)]
    produce(settings.kafka_bootstrap, topic, [codec.encode(w)[:2] for w in [*first, *newer]])
    assert drain(settings) == 4
    before = _rows(settings, "SELECT * FROM agent_performance FINAL ORDER BY agent_id")
    assert [(r["agent_id"], r["version"]) for r in before] == [("a0", 1), ("a1", 3), ("a2", 1)]

    # a crash before the commit: the writer reads the same messages again
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.store_group}
    )
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.commit(offsets=[TopicPartition(topic, p, 0) for p in parts], asynchronous=False)
    consumer.close()
    assert drain(settings) == 4
    assert _rows(settings, "SELECT * FROM agent_performance FINAL ORDER BY agent_id") == before


def test_writer_stops_and_resumes_from_its_committed_offsets(settings: Settings) -> None:
    topic = settings.results_topic("agent_performance")
    codec = RowCodec(AGENT_PERFORMANCE)
    produce(settings.kafka_bootstrap, topic, [codec.encode(_window(f"b{i}"))[:2] for i in range(4)])
    writer = storage_writer(settings)
    try:
        assert writer.drain() == 4
    finally:
        writer.close()
    produce(settings.kafka_bootstrap, topic, [codec.encode(_window("b9"))[:2]])
    assert drain(settings) == 1  # only what came after the commit
    rows = _rows(settings, "SELECT count() AS n FROM agent_performance FINAL")
    assert rows[0]["n"] == 5
