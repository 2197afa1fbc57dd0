"""Kafka producer sinks for the dead-letter and alert topics.

Each batch is flushed and every delivery checked before ``write_batch`` returns, so a
snapshot never covers a message the broker did not take.

Each delivered batch is observed in ``cxpulse_sink_batch_rows`` / ``_seconds`` under the
writer's ``sink`` label (the flow's sink name, e.g. ``alerts_topic``; the topic by default).
Alerts are counted by kind where they are stored (the ``alerts`` table), not here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError, Message, Producer

from schemas.results import Alert, DeadLetter
from sinks.metrics import SINK_BATCH_ROWS, SINK_BATCH_SECONDS

T = TypeVar("T")
Encoded = tuple[bytes | None, bytes, Sequence[tuple[str, bytes]]]  # key, value, headers


def encode_dead_letter(d: DeadLetter) -> Encoded:
    """The original bytes untouched (so they can be replayed) with the why in headers."""
    headers = [
        ("cxpulse.reason", d.reason.encode()),
        ("cxpulse.error", d.error.encode()),
        ("cxpulse.source", f"{d.topic}/{d.partition}/{d.offset}".encode()),
        ("cxpulse.letter_id", str(d.letter_id).encode()),
    ]
    return d.key, d.raw, headers


def encode_alert(a: Alert) -> Encoded:
    return (
        f"{a.tenant_id}/{a.subject_id}".encode(),
        a.model_dump_json().encode(),
        [
            ("cxpulse.alert_id", str(a.alert_id).encode()),
            ("cxpulse.kind", a.kind.encode()),
        ],
    )


class TopicWriter(Generic[T]):
    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        encode: Callable[[T], Encoded],
        flush_timeout_s: float = 30.0,
        *,
        sink: str | None = None,
    ) -> None:
        self._config = {"enable.idempotence": True, "linger.ms": 5, **config}
        self._topic = topic
        label = sink if sink is not None else topic
        self._batch_rows = SINK_BATCH_ROWS.labels(label)
        self._batch_seconds = SINK_BATCH_SECONDS.labels(label)
        self._encode = encode
        self._flush_timeout_s = flush_timeout_s
        self._producer: Producer | None = None
        self._errors: list[str] = []

    def setup(self) -> None:
        if self._producer is None:
            self._producer = Producer(self._config)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._errors.append(str(err))

    def write_batch(self, items: list[T]) -> None:
        if not items:
            return
        started = time.perf_counter()
        self.setup()
        assert self._producer is not None
        for item in items:
            key, value, headers = self._encode(item)
            while True:
                try:
                    self._producer.produce(
                        self._topic,
                        value,
                        key,
                        headers=list(headers),
                        on_delivery=self._on_delivery,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
        remaining = self._producer.flush(self._flush_timeout_s)
        if remaining or self._errors:
            errors, self._errors = self._errors, []
            raise RuntimeError(
                f"{remaining} message(s) to {self._topic} undelivered; errors: {errors[:3]}"
            )
        self._batch_seconds.observe(time.perf_counter() - started)
        self._batch_rows.observe(len(items))

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self._flush_timeout_s)
            self._producer = None


class _Partition(StatelessSinkPartition[Any]):
    def __init__(self, writer: TopicWriter[Any]) -> None:
        self._writer = writer

    def write_batch(self, items: list[Any]) -> None:
        self._writer.write_batch(items)

    def close(self) -> None:
        self._writer.close()


class KafkaTopicSink(DynamicSink[T]):
    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        encode: Callable[[T], Encoded],
        *,
        sink: str | None = None,
    ) -> None:
        self._config = config
        self._topic = topic
        self._encode = encode
        self._sink = sink

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        writer: TopicWriter[T] = TopicWriter(
            self._config, self._topic, self._encode, sink=self._sink
        )
        writer.setup()
        return _Partition(writer)
