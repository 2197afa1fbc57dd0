"""Issue 9, all at once through the ``cxpulse`` CLI: every poison pill and every hostile
tenant on the events topic together with valid traffic. Two ``run --until-end`` both
exit 0; each pill is a dead letter with its reason; every valid event is stored and
counted; no tenant skews another."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from tests import scenario
from tests.e2e.cli import cli_env, cxpulse, sql_rows

pytestmark = pytest.mark.e2e

BIG = b'{"event_type": "ticket.created", "payload": "' + b"x" * 999_955  # ~1 MB, invalid


def _shifted(e: dict[str, Any], hours: float, tenant: str) -> dict[str, Any]:
    at = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) + timedelta(hours=hours)
    return {**e, "tenant_id": tenant, "occurred_at": at.isoformat().replace("+00:00", "Z")}


def _pill(label: str, occurred_at: str) -> bytes:
    e = scenario.event(label, "ticket.reopened", "09:00:00", {"ticket_id": "T-pill"})
    return json.dumps({**e, "occurred_at": occurred_at}).encode()


PILLS: list[tuple[bytes, bytes, str]] = [  # key, value, expected reason
    (b"acme/big", BIG, "invalid_json"),
    (b"k" * 200_000, b"{", "invalid_json"),
    (b"acme/year1", _pill("year1", "0001-01-01T00:00:00+14:00"), "validation_error"),
    (b"acme/utf8", b"\xff\xfe\xfa", "invalid_utf8"),
    (b"acme/unknown", json.dumps({**scenario.late_event(), "event_type": "x.y"}).encode(), ""),
    (b"acme/empty", b"", "invalid_json"),
]


def test_pills_and_hostile_tenants_next_to_valid_traffic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = cli_env(kafka_bootstrap, tmp_path / "data")
    cxpulse(env, "topics")
    acme = [e for e in scenario.timeline() if e["tenant_id"] == "acme"]
    # globex: 22 h ahead (inside MAX_FUTURE_S) and reusing acme's event ids
    globex = [_shifted(e, 22, "globex") for e in acme]
    valid = [*globex, *acme]
    producer = Producer(
        {"bootstrap.servers": env["CXPULSE_KAFKA_BOOTSTRAP"], "message.max.bytes": 1_048_576}
    )
    topic = f"{env['CXPULSE_TOPIC_PREFIX']}events"
    half = len(valid) // 2
    for e in valid[:half]:
        producer.produce(topic, scenario.encode(e), f"{e['tenant_id']}/x".encode())
    for key, value, _ in PILLS:
        producer.produce(topic, value, key)
    for e in valid[half:]:
        producer.produce(topic, scenario.encode(e), f"{e['tenant_id']}/x".encode())
    assert producer.flush(30) == 0

    for _ in range(2):  # a pill must not fail the run, nor the next one
        cxpulse(env, "run", "ingest", "agent_performance", "client_risk", "--until-end")

    letters = sql_rows(env, "SELECT reason, raw_size, length(raw) AS kept FROM dead_letters FINAL")
    assert len(letters) == len(PILLS)
    assert sorted(r["reason"] for r in letters) == sorted(
        reason or "unknown_event_type" for _, _, reason in PILLS
    )
    assert max(int(r["kept"]) for r in letters) <= 65_536
    assert max(int(r["raw_size"]) for r in letters) == len(BIG)

    stored = sql_rows(env, "SELECT tenant_id, count() AS n FROM events FINAL GROUP BY tenant_id")
    assert {r["tenant_id"]: int(r["n"]) for r in stored} == {"acme": len(acme), "globex": len(acme)}
    assert [int(r["n"]) for r in sql_rows(env, "SELECT count() AS n FROM late_events")] == [0]
    day = sql_rows(
        env,
        "SELECT tenant_id, tickets_assigned, tickets_resolved, csat_count "
        "FROM agent_performance_final WHERE window = '1d' AND agent_id = 'A1' "
        "ORDER BY tenant_id",
    )
    assert [
        (r["tenant_id"], int(r["tickets_assigned"]), int(r["tickets_resolved"])) for r in day
    ] == [("acme", 3, 2), ("globex", 3, 2)]
    clients = sql_rows(env, "SELECT tenant_id, client_id FROM client_risk_latest ORDER BY ALL")
    assert [(r["tenant_id"], r["client_id"]) for r in clients] == [
        ("acme", "C1"),
        ("globex", "C1"),
    ]
