"""Requesting an erasure, and the erasure ledger topic (issue #13, README "Privacy").

A request is three messages, each waited for, in this order:

1. the receipt (status ``requested``) on the compacted ledger topic, key
   ``<tenant>/<client>``: every later run of the flows starts from this ledger, so a
   replay of the events topic suppresses the client from its first event on;
2. the same receipt on the ``erasures`` result topic: the storage writer stops storing
   rows of the client at once and the receipt becomes queryable;
3. a ``client.erasure_requested`` event on the tenant's events topic: the running flows
   forget the client, and their ``applied`` receipt makes the storage writer delete the
   client's rows from every table (``completed``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from schemas.events import ClientErasureRequested, event_model
from schemas.kafka_client import client_config
from schemas.privacy import ERASURE_EVENT, Erasure, subject_digest
from schemas.rows import from_columns
from schemas.settings import Settings
from sinks.publisher import SyncPublisher
from sinks.result_rows import RowCodec
from sinks.tables import ERASURES

log = logging.getLogger(__name__)


def ledger_key(tenant: str, client_id: str) -> bytes:
    return f"{tenant}/{client_id}".encode()


def erasure_event(receipt: Erasure) -> tuple[bytes, bytes]:
    """The ``client.erasure_requested`` event of ``receipt`` (key, value), keyed like
    the client's other events (:func:`schemas.events.entity_key`)."""
    event = event_model(ERASURE_EVENT)(
        event_id=receipt.erasure_id,
        event_type=ERASURE_EVENT,
        schema_version=1,
        tenant_id=receipt.tenant_id,
        occurred_at=receipt.requested_at,
        source="cxpulse-erase",
        payload=ClientErasureRequested(erasure_id=receipt.erasure_id, client_id=receipt.client_id),
    )
    return ledger_key(receipt.tenant_id, receipt.client_id), event.model_dump_json().encode()


class ErasureRequester(Protocol):
    def request(self, tenant: str, client_id: str, now: datetime) -> Erasure:
        """Record and send an erasure; its receipt (``PublishError`` if Kafka refused)."""


class ErasureRequests:
    """Sends erasure requests (see the module doc); producers open on first use."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        config = client_config(settings)
        events_topic = settings.events_topic
        self._tenant_topics = settings.tenant_topics
        self._events_topic = events_topic
        self._ledger = SyncPublisher(config, settings.erasures_topic, "erasure", timeout_s)
        self._receipts = SyncPublisher(
            config, settings.results_topic(ERASURES.table), "erasure receipt", timeout_s
        )
        self._config = config
        self._timeout_s = timeout_s
        self._events: dict[str, SyncPublisher] = {}
        self._codec = RowCodec(ERASURES)

    def request(self, tenant: str, client_id: str, now: datetime) -> Erasure:
        """Record and send the erasure of ``client_id`` of ``tenant``; its receipt."""
        receipt = Erasure.requested(tenant, client_id, now)
        row_key, row, _ = self._codec.encode(receipt)
        assert row_key is not None
        assert row is not None
        self._ledger.send(ledger_key(tenant, client_id), row)
        self._receipts.send(row_key, row)
        self._events_publisher(tenant).send(*erasure_event(receipt))
        log.info("erasure %s of a client of %s requested", receipt.erasure_id, tenant)
        return receipt

    def _events_publisher(self, tenant: str) -> SyncPublisher:
        topic = f"{self._events_topic}.{tenant}" if self._tenant_topics else self._events_topic
        publisher = self._events.get(topic)
        if publisher is None:
            publisher = SyncPublisher(self._config, topic, "erasure event", self._timeout_s)
            self._events[topic] = publisher
        return publisher

    def close(self) -> None:
        for p in (self._ledger, self._receipts, *self._events.values()):
            p.close()


def read_ledger(settings: Settings, timeout_s: float = 30.0) -> dict[bytes, UUID]:
    """Every erasure on the ledger topic, by subject digest (the flows' starting ledger).
    A missing topic is an empty ledger; an unreadable message is logged and skipped."""
    config: Mapping[str, Any] = {
        **client_config(settings),
        "group.id": f"cxpulse-ledger-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
    }
    consumer = Consumer(dict(config))
    try:
        deadline = time.monotonic() + timeout_s
        partitions = _partitions(consumer, settings.erasures_topic, deadline)
        ledger: dict[bytes, UUID] = {}
        for p in partitions:
            low, high = _watermarks(consumer, TopicPartition(settings.erasures_topic, p), deadline)
            if high <= low:
                continue
            consumer.assign([TopicPartition(settings.erasures_topic, p, low)])
            position = low
            while position < high:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the erasure ledger {settings.erasures_topic} did not read to its "
                        f"end in {timeout_s:.0f}s: refusing to start without it"
                    )
                for m in consumer.consume(num_messages=1000, timeout=1.0):
                    if m.error() is not None:
                        continue
                    position = (m.offset() or 0) + 1
                    _learn(ledger, m.value())
        return ledger
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str, deadline: float) -> list[int]:
    """The topic's partitions; none when it does not exist (no erasure was ever made).
    Any other error is retried until ``deadline``: a ledger read wrongly as empty would
    let a replay bring erased clients back."""
    while True:
        meta = consumer.list_topics(topic, timeout=5.0).topics.get(topic)
        error = None if meta is None else meta.error
        if meta is None or (error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            return []
        if error is None and meta.partitions:
            return sorted(meta.partitions)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the erasure ledger {topic} is not readable: {error}")
        time.sleep(0.2)


def _watermarks(consumer: Consumer, tp: TopicPartition, deadline: float) -> tuple[int, int]:
    """A partition's low and high offsets; a just-created topic answers "not leader" for
    a moment, so retriable errors are retried until ``deadline``."""
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=5.0)
            return int(low), int(high)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            retriable = isinstance(error, KafkaError) and error.retriable()
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _learn(ledger: dict[bytes, UUID], value: bytes | None) -> None:
    if not value:
        return
    try:
        doc = orjson.loads(value)
        digest = subject_digest(str(doc["tenant_id"]), str(doc["client_id"]))
        ledger.setdefault(digest, UUID(str(doc["erasure_id"])))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("skipping an unreadable message of the erasure ledger")


class ReceiptAnnouncer:
    """Publishes a receipt on the ``erasures`` result topic (the storage writer's
    ``completed`` one, for ``cxpulse erase`` to see; storing it again changes nothing)."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        topic = settings.results_topic(ERASURES.table)
        self._publisher = SyncPublisher(client_config(settings), topic, "receipt", timeout_s)
        self._codec = RowCodec(ERASURES)

    def __call__(self, receipt: Erasure) -> None:
        key, value, _ = self._codec.encode(receipt)
        assert key is not None
        assert value is not None
        self._publisher.send(key, value)


def watch_receipts(
    settings: Settings, erasure_id: UUID, until: str, timeout_s: float
) -> Iterator[Erasure]:
    """The receipts of ``erasure_id`` on the erasures result topic, in order, from its
    start, until one has status ``until`` (or ``timeout_s`` passes)."""
    config = {
        **client_config(settings),
        "group.id": f"cxpulse-erase-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    consumer = Consumer(config)
    topic = settings.results_topic(ERASURES.table)
    deadline = time.monotonic() + timeout_s
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        wanted = str(erasure_id)
        while time.monotonic() < deadline:
            for m in consumer.consume(num_messages=500, timeout=0.5):
                if m.error() is not None or not m.value():
                    continue
                try:
                    doc = orjson.loads(m.value() or b"")
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(doc, dict) or doc.get("erasure_id") != wanted:
                    continue
                receipt = from_columns(Erasure, doc)
                yield receipt
                if receipt.status == until:
                    return
    finally:
        consumer.close()
