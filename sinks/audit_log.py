"""Where audit rows go: the ``audit_log`` result topic, stored by the storage writer.

Why Kafka and not an insert: an audited call must not wait for ClickHouse (one insert
per request would be both slow and, on ClickHouse, a part per insert), and the API
process may not own the embedded engine. A row is handed to librdkafka's queue
(``record`` returns at once; the idempotent producer retries until the broker has it)
and the storage writer, or ClickHouse's Kafka engine, stores it like any result row.
Nothing is dropped silently: a row the broker never took is logged at ERROR, in full
(it holds no secret), and counted in ``cxpulse_audit_unrecorded_total``; ``flush``
raises when rows are still undelivered, which is what the CLI relies on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from schemas import metrics
from schemas.audit import AuditEntry
from schemas.kafka_client import client_config
from schemas.settings import Settings
from sinks.publisher import PublishError
from sinks.result_rows import RowCodec
from sinks.tables import AUDIT_LOG

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")
_CODEC = RowCodec(AUDIT_LOG)


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None:
        """Hands ``entry`` over for storing; must not block on the network."""


class KafkaAuditLog:
    """Publishes audit rows to ``<results prefix>audit_log`` without waiting for them.

    Thread-safe (the API records from its event loop, the CLI from its thread); the
    producer opens on the first row, never at construction.
    """

    def __init__(
        self, connection: Mapping[str, Any], topic: str, *, flush_timeout_s: float = 5.0
    ) -> None:
        self.topic = topic
        self._flush_timeout_s = flush_timeout_s
        self._config: dict[str, Any] = {
            **connection,
            "enable.idempotence": True,
            "linger.ms": 20,  # a few rows per request to the broker under load
            "compression.type": "lz4",
            "logger": kafka_log,
        }
        self._lock = threading.Lock()
        self._producer: Producer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaAuditLog:
        return cls(client_config(settings), settings.results_topic(AUDIT_LOG.table))

    def _get(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            return self._producer

    def record(self, entry: AuditEntry) -> None:
        key, value, _ = _CODEC.encode(entry)
        producer = self._get()

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                _unrecorded(entry, str(err))

        try:
            producer.produce(self.topic, value, key, on_delivery=report)
        except BufferError:  # the local queue is full: serve reports, then try once more
            producer.poll(0.1)
            try:
                producer.produce(self.topic, value, key, on_delivery=report)
            except BufferError:
                _unrecorded(entry, "the producer's queue is full")
        producer.poll(0)  # serve delivery reports of earlier rows

    def _flush(self, timeout_s: float | None) -> int:
        with self._lock:
            producer = self._producer
        if producer is None:
            return 0
        return int(producer.flush(self._flush_timeout_s if timeout_s is None else timeout_s))

    def flush(self, timeout_s: float | None = None) -> None:
        """Waits until every recorded row is on the broker; ``PublishError`` if some
        are not after ``timeout_s`` (default: the constructor's)."""
        remaining = self._flush(timeout_s)
        if remaining:
            raise PublishError(f"{remaining} audit row(s) not delivered to {self.topic}")

    def close(self) -> None:
        """Flushes, logging (not raising) what could not be delivered."""
        remaining = self._flush(None)
        if remaining:
            metrics.AUDIT_UNRECORDED.inc(remaining)
            log.error("%d audit row(s) not delivered to %s at shutdown", remaining, self.topic)
        with self._lock:
            self._producer = None

    def __enter__(self) -> KafkaAuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Flushes and raises ``PublishError`` if a row was not delivered (the CLI then
        fails rather than pretend its action was audited)."""
        try:
            self.flush()
        finally:
            with self._lock:
                self._producer = None


def _unrecorded(entry: AuditEntry, reason: str) -> None:
    metrics.AUDIT_UNRECORDED.inc()
    log.error("audit row not recorded (%s): %s", reason, entry.model_dump_json())
