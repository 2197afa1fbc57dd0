"""The storage writer: result topics -> ClickHouse, in large column-oriented batches.

The flows only publish result rows (:mod:`sinks.result_rows`); this writer stores them.
It reads every result topic (partitions assigned explicitly: one writer per deployment,
no group rebalance to wait for), decodes a batch per table, inserts it through
:class:`~sinks.clickhouse_sink.ClickHouseWriter` and commits the consumed offsets only
after every insert of the batch returned. A crash therefore replays at most the
uncommitted tail, which the tables absorb (Replacing*MergeTree on deterministic ids).

Nothing stops it: a message that is not a row of its table, or a row the table refuses,
becomes a dead letter (``sink_error``, flow ``sink:store`` / ``sink:<table>``) in
``dead_letters``. An outage of ClickHouse (retries exhausted) rewinds to the committed
offsets and tries again after a pause that grows to ``max_pause_s``; the lag it leaves is
in ``cxpulse_store_lag_messages`` and on the API's ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from schemas import metrics
from schemas.kafka_client import connection_only
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES, DeadLetter, make_dead_letter
from sinks.batch_writer import sink_flow
from sinks.clickhouse_client import ClickHouseUnavailableError
from sinks.clickhouse_sink import ClickHouseWriter, ClientFactory, OnWritten
from sinks.result_rows import MalformedRowError, RowCodec
from sinks.tables import TableSpec

log = logging.getLogger(__name__)
STORE_FLOW = sink_flow("store")
_CHUNK = 10_000  # messages per consume() call


@dataclass(frozen=True)
class StoreTopic:
    """A result topic and the table its rows go to."""

    topic: str
    spec: TableSpec[Any]
    on_written: OnWritten | None = None


@dataclass
class _Pending:
    """Messages of one topic consumed since the last flush."""

    values: list[bytes] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


TP = tuple[str, int]
R = TypeVar("R")
# group-coordinator answers that only mean "ask again in a moment" (e.g. a broker start)
_COORDINATOR_WAITS = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError.NOT_LEADER_FOR_PARTITION,  # a new topic's leaders are being elected
        KafkaError.LEADER_NOT_AVAILABLE,
    }
)


def with_coordinator(call: Callable[[], R], timeout_s: float = 60.0) -> R:
    """``call`` (a group-offsets request), asked again while the group coordinator is
    moving or loading, for up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except KafkaException as exc:
            err = exc.args[0]
            waits = isinstance(err, KafkaError) and (
                err.code() in _COORDINATOR_WAITS or err.retriable()
            )
            if not waits or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class RowGuard(Protocol):
    """What the writer lets through and what it does after a batch is stored, besides
    inserting (:class:`sinks.eraser.ErasureGuard`: rows of erased clients never go in)."""

    first: str  # the table whose batch is stored first in a flush (the guard learns it)

    def setup(self) -> None: ...

    def admit(self, table: str, columns: Mapping[str, Sequence[Any]]) -> list[int] | None:
        """Indexes of the decoded rows to store (None: all)."""

    def settle(self) -> None:
        """After every batch of a flush is stored, before its offsets are committed."""

    def close(self) -> None: ...


class StorageWriter:
    """Consumes the result topics and stores them; see the module doc.

    ``run`` loops until ``stop`` is set, then drains to the end offsets of that moment
    (what ``cxpulse run --until-end`` needs); ``drain`` alone is ``store --until-end``.
    """

    def __init__(
        self,
        consumer_config: Mapping[str, Any],
        topics: Sequence[StoreTopic],
        open_client: ClientFactory,
        *,
        batch_rows: int = 100_000,
        flush_interval_s: float = 0.25,
        lag_every_s: float = 5.0,
        max_pause_s: float = 30.0,
        dlq_max_raw_bytes: int = DEFAULT_DLQ_MAX_RAW_BYTES,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        guard: RowGuard | None = None,
    ) -> None:
        if "group.id" not in consumer_config:
            raise ValueError("the storage writer commits offsets: consumer_config needs group.id")
        self._config = {
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 64 * 1024 * 1024,
            **consumer_config,
        }
        self._topics = {t.topic: t for t in topics}
        self._codecs = {t.topic: RowCodec(t.spec) for t in topics}
        self._writers = {
            t.topic: ClickHouseWriter(
                open_client, t.spec, on_written=t.on_written, dlq_max_raw_bytes=dlq_max_raw_bytes
            )
            for t in topics
        }
        self._batch_rows = batch_rows
        self._flush_interval_s = flush_interval_s
        self._lag_every_s = lag_every_s
        self._max_pause_s = max_pause_s
        self._cap = dlq_max_raw_bytes
        self._now = now
        self._guard = guard
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        self._start: dict[TP, int] = {}
        self._next: dict[TP, int] = {}  # next offset to read, per partition
        self._committed: dict[TP, int] = {}
        self._pending: dict[str, _Pending] = {}
        self._buffered = 0
        self._first_at = 0.0
        self._lag_at = 0.0
        self.rows_stored = 0
        self.messages_dead_lettered = 0

    # ---- lifecycle --------------------------------------------------------------------

    def setup(self) -> None:
        """Assign every partition of the result topics at its committed offset."""
        if self._consumer is not None:
            return
        consumer = Consumer(self._config)
        metadata = consumer.list_topics(timeout=30)
        parts: list[TopicPartition] = []
        for topic in self._topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                raise RuntimeError(f"result topic {topic} is missing: run `cxpulse topics`")
            parts += [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        committed = with_coordinator(lambda: consumer.committed(parts, timeout=30))
        start: list[TopicPartition] = []
        for tp in committed:
            if tp.offset >= 0:
                start.append(TopicPartition(tp.topic, tp.partition, tp.offset))
                self._next[(tp.topic, tp.partition)] = tp.offset
                self._committed[(tp.topic, tp.partition)] = tp.offset
            else:
                start.append(TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING))
                self._next[(tp.topic, tp.partition)] = -1  # the low watermark, below
        if any(o < 0 for o in self._next.values()):
            if self._admin is None:
                self._admin = AdminClient(connection_only(self._config))
            lows = offsets(self._admin, list(self._next), OffsetSpec.earliest())  # type: ignore[no-untyped-call]
            self._next = {tp: lows[tp] if o < 0 else o for tp, o in self._next.items()}
        self._start = dict(self._next)
        consumer.assign(start)
        for writer in self._writers.values():
            writer.setup()
        if self._guard is not None:
            self._guard.setup()
        self._consumer = consumer

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._admin = None
        for writer in self._writers.values():
            writer.close()
        if self._guard is not None:
            self._guard.close()

    # ---- running ----------------------------------------------------------------------

    def run(self, stop: threading.Event, *, drain: bool = True) -> None:
        """Store until ``stop`` is set; then, with ``drain``, up to the end offsets of
        that moment. A ClickHouse outage pauses and retries; it never ends the loop."""
        self.setup()
        pause = 1.0
        while not stop.is_set():
            try:
                self.poll(self._flush_interval_s)
                pause = 1.0
            except ClickHouseUnavailableError as exc:
                log.error("storage writer: %s; retrying in %.0fs", exc, pause)
                self._rewind()
                stop.wait(pause)
                pause = min(pause * 2, self._max_pause_s)
        if drain:
            self.drain()

    def drain(self, progress_every_s: float = 10.0) -> int:
        """Store every message up to the end offsets seen now; returns rows stored."""
        self.setup()
        assert self._consumer is not None
        ends = self._ends()
        before = self.rows_stored
        reported = time.monotonic()
        while any(self._next[tp] < end for tp, end in ends.items()):
            self.poll(self._flush_interval_s)
            if time.monotonic() - reported >= progress_every_s:
                left = sum(max(0, end - self._next[tp]) for tp, end in ends.items())
                log.info("storage writer: %d rows stored, %d to go", self.rows_stored, left)
                reported = time.monotonic()
        self.flush()
        self._update_lag(force=True)
        return self.rows_stored - before

    def poll(self, timeout_s: float) -> int:
        """Consume what is there (waiting up to ``timeout_s``) and store it when the
        batch is full, old enough, or the topics are caught up; returns messages read."""
        self.setup()
        assert self._consumer is not None
        want = max(1, min(_CHUNK, self._batch_rows - self._buffered))
        messages = self._consumer.consume(num_messages=want, timeout=timeout_s)
        for m in messages:
            err = m.error()
            if err is not None:
                log.warning("storage writer: consume error %s", err)
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            assert topic is not None
            assert partition is not None
            assert offset is not None
            if not self._buffered:
                self._first_at = time.monotonic()
            pending = self._pending.setdefault(topic, _Pending())
            pending.values.append(m.value() or b"")
            pending.messages.append(m)
            self._buffered += 1
            self._next[(topic, partition)] = offset + 1
        caught_up = len(messages) < want
        old = self._buffered and time.monotonic() - self._first_at >= self._flush_interval_s
        if self._buffered and (caught_up or old or self._buffered >= self._batch_rows):
            self.flush()
        self._update_lag()
        return len(messages)

    def flush(self) -> None:
        """Insert every pending batch, then commit the offsets read (only then)."""
        if not self._buffered:
            return
        guard = self._guard
        for topic in self._flush_order():
            pending = self._pending[topic]
            if pending.values:
                self._store(topic, pending)
        if guard is not None:
            guard.settle()
        self._pending.clear()
        self._buffered = 0
        self._commit()

    def _flush_order(self) -> list[str]:
        """The pending topics, the guard's table first (it learns from it)."""
        if self._guard is None:
            return list(self._pending)
        first = self._guard.first
        return sorted(self._pending, key=lambda t: self._topics[t].spec.table != first)

    def _store(self, topic: str, pending: _Pending) -> None:
        columns, bad = self._codecs[topic].decode_batch(pending.values)
        if self._guard is not None:
            spec = self._topics[topic].spec
            keep = self._guard.admit(spec.table, dict(zip(spec.columns, columns, strict=True)))
            if keep is not None:
                columns = [[column[i] for i in keep] for column in columns]
        letters = [self._malformed(topic, pending.messages[i]) for i in bad]
        self.messages_dead_lettered += len(letters)
        self.rows_stored += self._writers[topic].write_columns(columns, letters)

    def _malformed(self, topic: str, m: Message) -> DeadLetter:
        raw = m.value() or b""
        try:
            self._codecs[topic].decode(raw)
            error = "not a row of its table"
        except MalformedRowError as exc:
            error = f"MalformedRowError: {exc}"
        where = f"{topic}/{m.partition()}/{m.offset()}"
        log.warning("storage writer: %s is not a row: %s", where, error)
        return make_dead_letter(
            topic=topic,
            partition=m.partition() or 0,
            offset=m.offset() or 0,
            key=m.key(),
            raw=raw,
            reason="sink_error",
            error=error,
            received_at=self._now(),
            flow=STORE_FLOW,
            cap=self._cap,
        )

    def _commit(self) -> None:
        assert self._consumer is not None
        moved = [
            TopicPartition(t, p, o)
            for (t, p), o in self._next.items()
            if o != self._committed.get((t, p))
        ]
        if not moved:
            return
        consumer = self._consumer
        with_coordinator(lambda: consumer.commit(offsets=moved, asynchronous=False))
        for tp in moved:
            self._committed[(tp.topic, tp.partition)] = tp.offset
        metrics.STORE_COMMITTED_AT.set(time.time())

    def _rewind(self) -> None:
        """Forget the uncommitted batch and read it again from the committed offsets."""
        assert self._consumer is not None
        self._pending.clear()
        self._buffered = 0
        for topic, partition in list(self._next):
            back = self._committed.get((topic, partition), OFFSET_BEGINNING)
            self._consumer.seek(TopicPartition(topic, partition, back))
            self._next[(topic, partition)] = back if back >= 0 else self._start[(topic, partition)]

    # ---- lag --------------------------------------------------------------------------

    def _ends(self) -> dict[TP, int]:
        """End offset of every partition, in one request (on a client of its own: the
        consumer's connection is busy with its long-poll fetches)."""
        if self._admin is None:
            self._admin = AdminClient(connection_only(self._config))
        return offsets(self._admin, list(self._next), OffsetSpec.latest())  # type: ignore[no-untyped-call]

    def lag(self) -> dict[str, int]:
        """Messages per topic not yet stored (end offset minus next to read)."""
        out = dict.fromkeys(self._topics, 0)
        for tp, end in self._ends().items():
            out[tp[0]] += max(0, end - self._next[tp])
        return out

    def _update_lag(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._lag_at < self._lag_every_s:
            return
        self._lag_at = now
        for topic, n in self.lag().items():
            metrics.STORE_LAG.labels(topic).set(n)


def offsets(
    admin: AdminClient, parts: Sequence[TP], spec: OffsetSpec, timeout_s: float = 60.0
) -> dict[TP, int]:
    """``spec`` (earliest, latest) offset of every partition, in one request."""
    if not parts:
        return {}

    def ask() -> dict[TP, int]:
        request = {TopicPartition(t, p): spec for t, p in parts}
        futures = admin.list_offsets(request, request_timeout=30)
        return {(tp.topic, tp.partition): int(f.result().offset) for tp, f in futures.items()}

    return with_coordinator(ask, timeout_s)


def committed_lag(
    consumer_config: Mapping[str, Any], topics: Sequence[str], timeout_s: float = 5.0
) -> dict[str, int]:
    """The storage writer's lag per topic as Kafka sees it (end offsets minus the
    group's committed offsets), from any process: what ``/readyz`` reports."""
    admin = AdminClient(connection_only(consumer_config))
    metadata = admin.list_topics(timeout=timeout_s)
    parts = [
        (t, p)
        for t in topics
        if (meta := metadata.topics.get(t)) is not None and meta.error is None
        for p in meta.partitions
    ]
    ends = offsets(admin, parts, OffsetSpec.latest(), timeout_s)  # type: ignore[no-untyped-call]
    starts = offsets(admin, parts, OffsetSpec.earliest(), timeout_s)  # type: ignore[no-untyped-call]
    consumer = Consumer({"enable.auto.commit": False, **consumer_config})
    try:
        request = [TopicPartition(t, p) for t, p in parts]
        done = with_coordinator(lambda: consumer.committed(request, timeout=timeout_s), timeout_s)
    finally:
        consumer.close()
    out = dict.fromkeys(topics, 0)
    for tp in done:
        key = (tp.topic, tp.partition)
        stored = tp.offset if tp.offset >= 0 else starts[key]
        out[tp.topic] += max(0, ends[key] - stored)
    return out
