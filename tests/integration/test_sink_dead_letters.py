"""Sinks never stop on one item: rows the table refuses and messages the topic refuses
become dead letters; the rest of the batch is stored. Real embedded ClickHouse engine,
real broker, no mocks: the failures are values the column or topic genuinely refuses."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import REGISTRY

from schemas.demand import DemandHourly
from schemas.results import (
    DEFAULT_DLQ_MAX_RAW_BYTES,
    AgentWindow,
    DeadLetter,
    LateEvent,
    make_dead_letter,
)
from sinks import tables
from sinks.clickhouse_client import open_client
from sinks.clickhouse_sink import ClickHouseWriter
from sinks.kafka_sink import (
    Encoded,
    TopicWriter,
    dlq_message_max_bytes,
    encode_dead_letter,
)
from sinks.tables import TableSpec
from tests.integration.kafka_io import read_all

pytestmark = pytest.mark.integration
T = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def opener(chdb_path: Path, database: str) -> Callable[[], Client]:
    return partial(open_client, f"chdb://{chdb_path}", database)


def _rows(opener: Callable[[], Client], sql: str) -> list[dict[str, Any]]:
    result = opener().query(sql)
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def _letters(opener: Callable[[], Client]) -> list[dict[str, Any]]:
    return _rows(
        opener,
        "SELECT letter_id, topic, partition, offset, reason, flow, error, raw, key, "
        "raw_size, raw_sha256 FROM dead_letters FINAL ORDER BY flow, offset",
    )


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _window(agent: str, **changes: Any) -> AgentWindow:
    fields: dict[str, Any] = {
        "row_id": uuid.uuid5(uuid.NAMESPACE_URL, agent),
        "version": 1,
        "is_final": True,
        "tenant_id": "acme",
        "agent_id": agent,
        "window": "5m",
        "window_start": T,
        "window_end": T + timedelta(minutes=5),
        "tickets_assigned": 2,
    }
    return AgentWindow(**{**fields, **changes})


def _sha(raw: bytes | str) -> str:
    return hashlib.sha256(raw.encode() if isinstance(raw, str) else raw).hexdigest()


# ---- ClickHouse ---------------------------------------------------------------------------


def test_row_the_column_refuses_is_dead_lettered_and_the_rest_stored(
    opener: Callable[[], Client],
) -> None:
    stored: list[str] = []
    writer = ClickHouseWriter(
        opener, tables.AGENT_PERFORMANCE, on_written=lambda cols: stored.extend(cols["agent_id"])
    )
    good = [_window(f"a{i}") for i in range(9)]
    bad = _window("bad", tickets_assigned=-1)  # UInt32 column: refused
    batch = [*good[:4], bad, *good[4:]]
    letters_before = _sample("cxpulse_dead_letters_total", reason="sink_error")

    writer.write_batch(batch)

    assert writer.rows_written == 9
    assert sorted(stored) == sorted(w.agent_id for w in good)
    agents = _rows(opener, "SELECT agent_id FROM agent_performance FINAL ORDER BY agent_id")
    assert [r["agent_id"] for r in agents] == [f"a{i}" for i in range(9)]
    [letter] = _letters(opener)
    assert (letter["reason"], letter["flow"]) == ("sink_error", "sink:agent_performance")
    assert (letter["topic"], letter["partition"]) == ("agent_performance", -1)
    assert 0 <= letter["offset"] < 2**63
    assert letter["error"].startswith("DataError: ")
    assert "tickets_assigned" in letter["error"]
    row = json.loads(letter["raw"])
    assert (row["agent_id"], row["tickets_assigned"]) == ("bad", -1)
    assert letter["raw_size"] == len(letter["raw"].encode())
    assert letter["raw_sha256"] == _sha(letter["raw"])
    assert letter["key"] is None
    assert _sample("cxpulse_dead_letters_total", reason="sink_error") == letters_before + 1

    # a replay of the same batch rewrites the same letter
    writer.write_batch(batch)
    [again] = _letters(opener)
    assert (again["letter_id"], again["offset"]) == (letter["letter_id"], letter["offset"])
    writer.close()


def test_batch_refused_as_a_whole_is_split_and_stored_without_letters(
    opener: Callable[[], Client],
) -> None:
    """150 months in one insert: more partitions than ClickHouse takes per insert block
    (max_partitions_per_insert_block = 100). Smaller inserts store every row."""
    hours = [
        DemandHourly(
            "acme",
            "queue",
            "billing",
            datetime(2010, 1, 1, tzinfo=UTC) + i * 31 * timedelta(days=1),
            1 + i,
        )
        for i in range(150)
    ]
    writer = ClickHouseWriter(opener, tables.DEMAND_HOURLY)
    writer.write_batch(hours)
    assert writer.rows_written == 150
    assert writer.rows_dead_lettered == 0
    assert _rows(opener, "SELECT count() AS n FROM demand_hourly FINAL") == [{"n": 150}]
    assert _letters(opener) == []


def test_item_that_cannot_become_a_row_is_dead_lettered(opener: Callable[[], Client]) -> None:
    def to_row(e: LateEvent) -> Sequence[Any]:
        if e.tenant_id == "broken":
            raise KeyError("no such queue")
        return tables.LATE_EVENTS.to_row(e)

    spec: TableSpec[LateEvent] = TableSpec(
        "late_events", tables.LATE_EVENTS.columns, to_row, key=tables.LATE_EVENTS.key
    )

    def late(tenant: str) -> LateEvent:
        return LateEvent(
            late_id=uuid.uuid4(),
            flow="agent_performance",
            event_id=uuid.uuid4(),
            tenant_id=tenant,
            event_type="ticket.assigned",
            occurred_at=T,
            watermark=T,
            recorded_at=T,
        )

    writer = ClickHouseWriter(opener, spec)
    writer.write_batch([late("acme"), late("broken"), late("globex")])
    tenants = _rows(opener, "SELECT tenant_id FROM late_events FINAL ORDER BY tenant_id")
    assert [r["tenant_id"] for r in tenants] == ["acme", "globex"]
    [letter] = _letters(opener)
    assert letter["flow"] == "sink:late_events"
    assert letter["error"] == "KeyError: 'no such queue'"
    assert "broken" in letter["raw"]


def test_letter_that_cannot_be_stored_either_is_logged_and_counted(
    opener: Callable[[], Client], caplog: pytest.LogCaptureFixture
) -> None:
    opener().command("DROP TABLE dead_letters")
    unstored_before = _sample("cxpulse_dead_letters_unstored_total", sink="agent_performance")
    writer = ClickHouseWriter(opener, tables.AGENT_PERFORMANCE)
    with caplog.at_level(logging.ERROR, logger="sinks.clickhouse_sink"):
        writer.write_batch([_window("a1"), _window("bad", csat_count=-3), _window("a2")])
    assert writer.rows_written == 2
    assert (
        _sample("cxpulse_dead_letters_unstored_total", sink="agent_performance")
        == unstored_before + 1
    )
    [record] = [r for r in caplog.records if r.name == "sinks.clickhouse_sink"]
    assert "could not be stored either" in record.getMessage()


def test_dead_letters_of_two_flows_for_one_offset_are_both_kept(
    opener: Callable[[], Client],
) -> None:
    raw = bytes(range(256)) * 4000  # 1,024,000 bytes
    common: dict[str, Any] = {
        "topic": "cx.events",
        "partition": 1,
        "offset": 7,
        "key": b"acme/tk-1",
        "raw": raw,
        "received_at": T,
    }
    letters = [
        make_dead_letter(**common, reason="validation_error", error="x"),
        make_dead_letter(**common, reason="processing_error", error="E: a", flow="kb"),
        make_dead_letter(**common, reason="processing_error", error="E: b", flow="demand"),
    ]
    writer = ClickHouseWriter(opener, tables.DEAD_LETTERS)
    writer.write_batch(letters)
    writer.write_batch(letters)  # replayed: rewritten, not duplicated
    stored = _rows(
        opener,
        "SELECT flow, length(raw) AS kept, raw_size, raw_sha256 FROM dead_letters FINAL "
        "ORDER BY flow",
    )
    assert [r["flow"] for r in stored] == ["", "demand", "kb"]
    for r in stored:
        assert (r["kept"], r["raw_size"]) == (DEFAULT_DLQ_MAX_RAW_BYTES, len(raw))
        assert r["raw_sha256"] == _sha(raw)


def test_letters_stored_before_migration_005_describe_their_raw(
    opener: Callable[[], Client],
) -> None:
    """Rows written with the old column list get size and hash from their (whole) raw."""
    opener().insert(
        "dead_letters",
        [[uuid.uuid4(), T, "cx.events", 0, 3, "invalid_json", "bad", b"{oops", None]],
        column_names=[
            c for c in tables.DEAD_LETTERS.columns if c in tables.DEAD_LETTERS.columns[:9]
        ],
    )
    [row] = _letters(opener)
    assert (row["flow"], row["raw_size"], row["raw_sha256"]) == ("", 5, _sha(b"{oops"))


# ---- Kafka --------------------------------------------------------------------------------


def _topic(bootstrap: str, **config: str) -> str:
    name = f"t{uuid.uuid4().hex[:10]}.sink"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(name, num_partitions=1, replication_factor=-1, config=config)
    admin.create_topics([new])[name].result(timeout=30)
    return name


def _letters_table(opener: Callable[[], Client]) -> Callable[[list[DeadLetter]], None]:
    """An ``on_rejected`` that stores the letters in ``dead_letters`` at once."""
    return ClickHouseWriter(opener, tables.DEAD_LETTERS).write_batch


def _raw(value: bytes) -> Encoded:
    return None, value, [("h", b"1")]


def test_message_too_large_for_the_producer_is_dead_lettered(
    kafka_bootstrap: str, opener: Callable[[], Client]
) -> None:
    topic = _topic(kafka_bootstrap)
    writer: TopicWriter[bytes] = TopicWriter(
        {"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 4096},
        topic,
        _raw,
        sink="test_topic",
        on_rejected=_letters_table(opener),
        ident=lambda v: v[:1],
    )
    writer.setup()
    big = b"x" * 10_000
    writer.write_batch([b"a" * 100, big, b"b" * 100])
    writer.write_batch([b"c" * 100])  # the producer carries on
    assert [m.value() for m in read_all(kafka_bootstrap, topic)] == [
        b"a" * 100,
        b"b" * 100,
        b"c" * 100,
    ]
    [letter] = _letters(opener)
    assert (letter["reason"], letter["flow"], letter["topic"]) == (
        "sink_error",
        "sink:test_topic",
        topic,
    )
    assert "MSG_SIZE_TOO_LARGE" in letter["error"]
    assert (letter["raw"], letter["raw_size"]) == (big.decode(), len(big))
    writer.close()


def test_message_the_broker_refuses_is_dead_lettered(
    kafka_bootstrap: str, opener: Callable[[], Client]
) -> None:
    topic = _topic(kafka_bootstrap, **{"max.message.bytes": "2048"})
    writer: TopicWriter[bytes] = TopicWriter(
        {"bootstrap.servers": kafka_bootstrap},
        topic,
        _raw,
        sink="small_topic",
        on_rejected=_letters_table(opener),
    )
    writer.setup()
    writer.write_batch([b"a" * 100, b"y" * 8000, b"b" * 100])
    writer.write_batch([b"c" * 100])
    values = [m.value() for m in read_all(kafka_bootstrap, topic)]
    assert values == [b"a" * 100, b"b" * 100, b"c" * 100]
    [letter] = _letters(opener)
    assert letter["flow"] == "sink:small_topic"
    assert "MSG_SIZE_TOO_LARGE" in letter["error"]
    assert letter["raw_size"] == 8000
    writer.close()


def test_items_that_fail_to_encode_or_to_be_stored_never_stop_the_writer(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = _topic(kafka_bootstrap)

    def encode(v: bytes) -> Encoded:
        if v == b"poison":
            raise ValueError("cannot encode")
        return _raw(v)

    def store(_letters: list[DeadLetter]) -> None:
        raise RuntimeError("dead_letters unavailable")

    writer: TopicWriter[bytes] = TopicWriter(
        {"bootstrap.servers": kafka_bootstrap}, topic, encode, sink="fragile", on_rejected=store
    )
    before = _sample("cxpulse_dead_letters_unstored_total", sink="fragile")
    with caplog.at_level(logging.ERROR, logger="sinks.kafka_sink"):
        writer.write_batch([b"ok1", b"poison", b"ok2"])
    assert [m.value() for m in read_all(kafka_bootstrap, topic)] == [b"ok1", b"ok2"]
    assert _sample("cxpulse_dead_letters_unstored_total", sink="fragile") == before + 1
    assert any("could not be stored" in r.getMessage() for r in caplog.records)
    writer.close()


def test_largest_dead_letter_fits_the_dead_letter_producer(
    kafka_bootstrap: str, opener: Callable[[], Client]
) -> None:
    """A letter of a 1 MB message with a 1 MB key and a long non-ASCII error is within
    ``dlq_message_max_bytes``, and the broker takes it."""
    topic = _topic(kafka_bootstrap)
    raw = b"\xff" * 1_000_000
    letter = make_dead_letter(
        topic="cx.events",
        partition=0,
        offset=1,
        key=b"k" * 1_000_000,
        raw=raw,
        reason="invalid_utf8",
        error="é" * 50_000,
        received_at=T,
        flow="x" * 10_000,
    )
    config = {
        "bootstrap.servers": kafka_bootstrap,
        "message.max.bytes": dlq_message_max_bytes(DEFAULT_DLQ_MAX_RAW_BYTES),
    }
    writer: TopicWriter[DeadLetter] = TopicWriter(
        config, topic, encode_dead_letter, on_rejected=_letters_table(opener)
    )
    writer.write_batch([letter])
    [msg] = read_all(kafka_bootstrap, topic)
    headers = dict(msg.headers())
    assert msg.value() == raw[:DEFAULT_DLQ_MAX_RAW_BYTES]
    assert headers["cxpulse.raw_size"] == b"1000000"
    assert headers["cxpulse.raw_sha256"] == _sha(raw).encode()
    assert headers["cxpulse.truncated"] == b"true"
    assert _letters(opener) == []  # nothing refused
    writer.close()
