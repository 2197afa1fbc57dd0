"""Retention on the real embedded engine and broker: every table has its TTL, configured
days are applied on migrate (once: re-running alters nothing), expired rows really go
while fresh ones stay, and the dead-letter topic keeps raw bytes no longer than the table.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    ResourceType,
)

from infra.migrate import MIGRATIONS_DIR, migrate
from infra.retention import installed_ttls, ttl_expression
from infra.topics import ensure_topics
from schemas.retention import RETENTION, effective_retention
from schemas.settings import Settings
from sinks.clickhouse_client import open_client

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
MIGRATION_009 = (MIGRATIONS_DIR / "009_retention.sql").read_text()


@pytest.fixture
def fresh(chdb_path: Path) -> Iterator[tuple[str, Client, list[str]]]:
    """A database migrated with the default retention, a client on it, the migrate log."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    log: list[str] = []
    migrate(f"chdb://{chdb_path}", name, log=log.append)
    client = open_client(f"chdb://{chdb_path}", name)
    yield name, client, log
    client.command(f"DROP DATABASE IF EXISTS {name}")


def storage_tables(client: Client, database: str) -> set[str]:
    rows = client.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String}",
        parameters={"db": database},
    ).named_results()
    return {r["name"] for r in rows if str(r["engine"]).endswith("MergeTree")}


def retention_log(log: list[str]) -> list[str]:
    return [line for line in log if line.startswith("retention of ")]


def test_every_table_has_its_default_ttl(fresh: tuple[str, Client, list[str]]) -> None:
    name, client, log = fresh
    # every table that stores rows has a policy (a new table without one fails here),
    # and every policy has its table
    assert storage_tables(client, name) - {"schema_migrations"} == set(RETENTION)
    ttls = installed_ttls(client, name)
    for table, policy in RETENTION.items():
        assert ttls[table] == ttl_expression(table, policy.days), table
    assert ttls["schema_migrations"] == ""  # the ledger is kept
    # 009 and the defaults agree: after it, migrating with no configuration altered only
    # tables created by later migrations (they take their TTL from the policy)
    in_009 = set(re.findall(r"^ALTER TABLE (\w+) MODIFY TTL", MIGRATION_009, re.MULTILINE))
    assert len(in_009) == 19
    altered = {line.split()[2].rstrip(":") for line in retention_log(log)}
    assert altered == set(RETENTION) - in_009


def test_configured_days_applied_on_migrate_and_reapplied_idempotently(
    fresh: tuple[str, Client, list[str]], chdb_path: Path
) -> None:
    name, client, _ = fresh
    dsn = f"chdb://{chdb_path}"
    overrides = {"events": 10, "dead_letters": 3, "webhook_subscriptions": 5}
    log: list[str] = []
    migrate(dsn, name, log=log.append, retention_days=overrides)
    assert sorted(retention_log(log)) == [
        "retention of dead_letters: 3 days (TTL received_at + toIntervalDay(3))",
        "retention of events: 10 days (TTL occurred_at + toIntervalDay(10))",
        "retention of webhook_subscriptions: 5 days"
        " (TTL updated_at + toIntervalDay(5) WHERE deleted)",
    ]
    ttls = installed_ttls(client, name)
    for table, days in effective_retention(overrides).items():
        assert ttls[table] == ttl_expression(table, days), table

    again: list[str] = []
    assert migrate(dsn, name, log=again.append, retention_days=overrides) == []
    assert retention_log(again) == []  # nothing differs, nothing altered
    assert installed_ttls(client, name) == ttls

    # dropping the override goes back to the default
    back: list[str] = []
    migrate(dsn, name, log=back.append)
    assert len(retention_log(back)) == 3
    assert installed_ttls(client, name)["events"] == "occurred_at + toIntervalDay(400)"


def test_expired_rows_are_removed_fresh_ones_stay(
    fresh: tuple[str, Client, list[str]], chdb_path: Path
) -> None:
    name, client, _ = fresh
    migrate(f"chdb://{chdb_path}", name, log=lambda _m: None, retention_days={"events": 10})

    def event(label: str, age: timedelta) -> list[object]:
        return [uuid.uuid5(uuid.NAMESPACE_URL, label), "acme", NOW - age, NOW, label]

    events = ["event_id", "tenant_id", "occurred_at", "ingested_at", "source"]
    # event time decides, not when the row was written: a replay of an 11-day-old event
    # stored now is gone at the next merge; a 9-day-old one stays
    client.insert("events", [event("old", 11 * DAY), event("fresh", 9 * DAY)], column_names=events)

    letters = ["letter_id", "received_at", "topic", "partition", "offset", "reason", "raw"]
    client.insert(
        "dead_letters",
        [
            [uuid.uuid4(), NOW - 31 * DAY, "cx.events", 0, 1, "invalid_json", "card 4111"],
            [uuid.uuid4(), NOW - 29 * DAY, "cx.events", 0, 2, "invalid_json", "fresh"],
        ],
        column_names=letters,
    )

    subs = ["subscription_id", "tenant_id", "url", "secret", "created_at", "updated_at", "deleted"]
    old = NOW - 91 * DAY
    live, gone = uuid.uuid4(), uuid.uuid4()
    client.insert(
        "webhook_subscriptions",
        [
            [live, "acme", "https://a.example/hook", "s1", old, old, False],  # live, untouched
            [gone, "acme", "https://b.example/hook", "", old, old, True],  # deleted long ago
        ],
        column_names=subs,
    )

    for table in ("events", "dead_letters", "webhook_subscriptions"):
        client.command(f"OPTIMIZE TABLE {table} FINAL")

    assert [r["source"] for r in client.query("SELECT source FROM events").named_results()] == [
        "fresh"
    ]
    assert [r["raw"] for r in client.query("SELECT raw FROM dead_letters").named_results()] == [
        "fresh"
    ]
    left = client.query("SELECT subscription_id FROM webhook_subscriptions").named_results()
    assert [r["subscription_id"] for r in left] == [live]

    # the replay of the old event again: stored, then dropped by the next merge
    client.insert("events", [event("old", 11 * DAY)], column_names=events)
    client.command("OPTIMIZE TABLE events FINAL")
    assert client.query("SELECT count() FROM events WHERE source = 'old'").result_rows == [(0,)]


def test_dead_letter_topic_keeps_raw_bytes_as_long_as_the_table(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})

    def retention_ms(expected: int) -> str:
        """The topic's retention.ms once it reads ``expected`` (a broker applies a
        config change to its metadata asynchronously), or what it reads after 15 s."""
        resource = ConfigResource(ResourceType.TOPIC, settings.dlq_topic)
        deadline = time.monotonic() + 15
        while True:
            (described,) = admin.describe_configs([resource]).values()
            value = str(described.result()["retention.ms"].value)
            if value == str(expected) or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    # created by the settings fixture with the tests' retention
    days = settings.retention_days["dead_letters"]
    assert retention_ms(days * 86_400_000) == str(days * 86_400_000)
    # a changed configuration is applied to the existing topic at the next start
    week = settings.model_copy(update={"retention_days": {"dead_letters": 7}})
    log: list[str] = []
    assert ensure_topics(week, log=log.append, results=False) == []
    assert retention_ms(7 * 86_400_000) == str(7 * 86_400_000)
    assert log == [f"retention.ms of {settings.dlq_topic} set to {7 * 86_400_000}"]
    # and once it matches, nothing is changed
    log.clear()
    ensure_topics(week, log=log.append, results=False)
    assert log == []
    # the events topic keeps the broker's retention (documented, not set by cxpulse)
    events = ConfigResource(ResourceType.TOPIC, settings.events_topic)
    (described,) = admin.describe_configs([events]).values()
    assert described.result()["retention.ms"].is_default
