"""Poison pills on the real broker and ClickHouse engine: a ~1 MB invalid message (which
used to make the dead-letter producer fail with MSG_SIZE_TOO_LARGE, so every run exited
1), a 200 KB key, an event time ClickHouse cannot store and Python cannot convert to
UTC, an event older than MAX_PAST_S. Each ends as one dead letter with its reason,
every valid event is stored and counted, and runs over the same input keep
succeeding."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer

from infra.cluster import run_and_store
from infra.runner import flow_config
from infra.topics import ensure_topics
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES, MAX_DLQ_KEY_BYTES
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from tests import scenario
from tests.integration.kafka_io import read_all

pytestmark = pytest.mark.integration
FLOWS = frozenset({"ingest", "agent_performance"})

# ~1 MB of invalid JSON: within the broker's message limit (1048588 bytes)
BIG = b'{"event_type": "ticket.created", "payload": "' + b"x" * 999_955
BIG_KEY = b"k" * 200_000


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    result = open_client(settings.dsn, settings.clickhouse_database).query(sql)
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def _at(label: str, occurred_at: str) -> bytes:
    e = scenario.event(label, "ticket.reopened", "09:00:00", {"ticket_id": "T-pill"})
    return scenario.encode({**e, "occurred_at": occurred_at})


@pytest.fixture(scope="module")
def poisoned(module_settings: Settings) -> Settings:
    """One run over the pills, shared: the tests only read what it stored (the one that
    runs again over the same input must, and does, leave the same tables)."""
    # MAX_PAST_S reaching back to 2000: the scenario's fixed day stays inside it whatever
    # the date the test runs on; 1950 is outside.
    reach = (datetime.now(UTC) - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds()
    settings = module_settings.model_copy(
        update={
            "topic_prefix": f"pill{module_settings.topic_prefix}",
            "topic_partitions": 1,
            "max_past_s": reach,
        }
    )
    ensure_topics(settings, log=lambda _m: None)
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "message.max.bytes": 1_048_576,
            "enable.idempotence": True,
        }
    )
    good = [(b"acme/scenario", scenario.encode(e)) for e in scenario.timeline()]
    pills = [
        (b"acme/big", BIG),
        (BIG_KEY, b"{"),
        (b"acme/year1", _at("year1", "0001-01-01T00:00:00+14:00")),
        (b"acme/ancient", _at("ancient", "1950-01-01T00:00:00Z")),
    ]
    for key, value in [*good[:3], *pills, *good[3:]]:
        producer.produce(settings.events_topic, value, key)
    assert producer.flush(30) == 0
    assert len(BIG) == 1_000_000
    run_and_store(settings, FLOWS)
    return settings


def _letters(settings: Settings) -> dict[str, dict[str, Any]]:
    rows = _rows(
        settings,
        "SELECT letter_id, offset, reason, error, length(raw) AS kept, raw_size, raw_sha256, "
        "length(key) AS key_len, flow FROM dead_letters FINAL",
    )
    return {str(r["letter_id"]): r for r in rows}


def test_every_pill_is_one_dead_letter_with_its_reason(poisoned: Settings) -> None:
    letters = sorted(_letters(poisoned).values(), key=lambda r: (r["raw_size"], r["error"]))
    assert [(r["reason"], r["flow"]) for r in letters] == [
        ("invalid_json", ""),
        ("validation_error", ""),
        ("validation_error", ""),
        ("invalid_json", ""),
    ]
    key_pill, big = letters[0], letters[-1]
    ancient, year1 = sorted(letters[1:3], key=lambda r: "before the time" not in r["error"])
    assert (big["kept"], big["raw_size"]) == (DEFAULT_DLQ_MAX_RAW_BYTES, len(BIG))
    assert big["raw_sha256"] == hashlib.sha256(BIG).hexdigest()
    assert (key_pill["key_len"], key_pill["raw_size"]) == (MAX_DLQ_KEY_BYTES, 1)
    assert year1["error"].startswith("occurred_at: ")
    assert "outside the range ClickHouse stores" in year1["error"]
    assert ancient["error"].startswith("occurred_at: 1950-01-01")
    assert "before the time it was received" in ancient["error"]


def test_valid_events_are_stored_and_counted(poisoned: Settings) -> None:
    n_valid = len(scenario.timeline())
    assert _rows(poisoned, "SELECT count() AS n FROM events FINAL") == [{"n": n_valid}]
    counted = _rows(
        poisoned,
        "SELECT sum(tickets_assigned) AS n FROM agent_performance FINAL WHERE window = '1d'",
    )
    assigned = sum(1 for e in scenario.timeline() if e["event_type"] == "ticket.assigned")
    assert counted == [{"n": assigned}]


def test_dead_letter_topic_holds_the_capped_copies(poisoned: Settings) -> None:
    letters = _letters(poisoned)
    dlq = read_all(poisoned.kafka_bootstrap, poisoned.dlq_topic)
    assert {dict(m.headers())["cxpulse.letter_id"].decode() for m in dlq} == set(letters)
    # one letter, though the shared run may have been replayed (at least once: consumers
    # dedupe on letter_id)
    bigs = [m for m in dlq if dict(m.headers())["cxpulse.raw_size"] == b"1000000"]
    assert len({dict(m.headers())["cxpulse.letter_id"] for m in bigs}) == 1
    big = bigs[0]
    headers = dict(big.headers())
    assert big.value() == BIG[:DEFAULT_DLQ_MAX_RAW_BYTES]
    assert headers["cxpulse.truncated"] == b"true"
    assert headers["cxpulse.raw_sha256"] == hashlib.sha256(BIG).hexdigest().encode()
    assert headers["cxpulse.reason"] == b"invalid_json"


def test_runs_over_the_same_input_keep_succeeding(poisoned: Settings) -> None:
    before = _letters(poisoned)
    run_and_store(poisoned, FLOWS)  # resumes; would raise if a sink failed
    fresh = poisoned.model_copy(update={"data_dir": poisoned.data_dir.parent / "again"})
    run_and_store(fresh, FLOWS)  # a full replay from the first offset
    assert _letters(poisoned).keys() == before.keys()
    n_valid = len(scenario.timeline())
    assert _rows(poisoned, "SELECT count() AS n FROM events FINAL") == [{"n": n_valid}]


def test_settings_reach_the_flows(poisoned: Settings) -> None:
    cfg = flow_config(poisoned, FLOWS, until_end=True)
    assert cfg.max_past_s == poisoned.max_past_s
    assert cfg.dlq_max_raw_bytes == poisoned.dlq_max_raw_bytes
    off = flow_config(poisoned.model_copy(update={"max_past_s": 0}), FLOWS, until_end=True)
    assert off.max_past_s is None


def test_configured_cap_applies_to_table_and_topic(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"topic_prefix": f"cap{settings.topic_prefix}", "dlq_max_raw_bytes": 4096}
    )
    ensure_topics(settings, log=lambda _m: None)
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "message.max.bytes": 1_048_576}
    )
    producer.produce(settings.events_topic, BIG, b"acme/big")
    assert producer.flush(30) == 0
    run_and_store(settings, frozenset({"ingest"}))
    [letter] = _letters(settings).values()
    assert (letter["kept"], letter["raw_size"]) == (4096, len(BIG))
    [msg] = read_all(settings.kafka_bootstrap, settings.dlq_topic)
    assert msg.value() == BIG[:4096]
    assert dict(msg.headers())["cxpulse.raw_sha256"] == hashlib.sha256(BIG).hexdigest().encode()
