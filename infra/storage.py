"""The storage writer of the settings: every result topic into its ClickHouse table."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from schemas import metrics
from schemas.kafka_client import client_config
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.clickhouse_sink import OnWritten
from sinks.eraser import ErasureGuard
from sinks.erasure_requests import ReceiptAnnouncer
from sinks.store import StorageWriter, StoreTopic, committed_lag
from sinks.tables import RESULT_TABLES


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Rows counted by kind when they are stored (once, whatever the replays upstream).
ON_WRITTEN: dict[str, OnWritten] = {
    "dead_letters": metrics.dead_letters_written,
    "late_events": metrics.late_events_written,
    "alerts": metrics.alerts_written,
}


def store_topics(settings: Settings) -> list[StoreTopic]:
    return [
        StoreTopic(settings.results_topic(spec.table), spec, ON_WRITTEN.get(spec.table))
        for spec in RESULT_TABLES
    ]


def storage_writer(settings: Settings) -> StorageWriter:
    """Nothing opens here: the consumer and the client open in ``setup``."""
    connect = partial(open_client, settings.dsn, settings.clickhouse_database)
    return StorageWriter(
        {**client_config(settings), "group.id": settings.store_group},
        store_topics(settings),
        connect,
        batch_rows=settings.store_batch_rows,
        flush_interval_s=settings.store_flush_interval_s,
        dlq_max_raw_bytes=settings.dlq_max_raw_bytes,
        guard=ErasureGuard(connect, _utc_now, ReceiptAnnouncer(settings)),
    )


def store_lag(settings: Settings, timeout_s: float = 5.0) -> dict[str, int]:
    """What the storage writer has yet to store, per result topic (from Kafka)."""
    return committed_lag(
        {**client_config(settings), "group.id": settings.store_group},
        [t.topic for t in store_topics(settings)],
        timeout_s,
    )


def drain(settings: Settings) -> int:
    """Store everything published so far, then return the rows stored (``store
    --until-end``, and in-process runs that must be queryable when they return)."""
    writer = storage_writer(settings)
    try:
        return writer.drain()
    finally:
        writer.close()
