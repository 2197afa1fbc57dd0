"""The flows' result outputs: each table's rows to its result topic, at least once.

A batch is encoded a column at a time (:class:`~sinks.result_rows.RowCodec`) and
produced by :class:`~sinks.kafka_sink.TopicWriter`, which flushes before the batch
returns (a snapshot never covers an unpublished row). A row the topic refuses becomes
a dead letter on the ``dead_letters`` result topic, so the compute processes never
open ClickHouse (the embedded engine belongs to the storage writer's process).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from schemas.kafka_client import as_config
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES, DeadLetter
from sinks.kafka_sink import KafkaTopicSink, TopicWriter
from sinks.result_rows import RESULT_MESSAGE_MAX_BYTES, RowCodec
from sinks.tables import DEAD_LETTERS, TableSpec

T = TypeVar("T")


def result_producer(bootstrap: str | Mapping[str, Any]) -> dict[str, Any]:
    """Producer settings of the result topics: large messages allowed (the topics are
    created to take them), compressed batches."""
    return {
        **as_config(bootstrap),
        "message.max.bytes": RESULT_MESSAGE_MAX_BYTES,
        "compression.type": "lz4",
    }


class LettersToTopic:
    """``on_rejected`` of the result sinks: the letters go to the ``dead_letters``
    result topic. Its producer opens in ``setup`` (never at construction); a letter
    this topic refuses too is logged and counted as unstored by the writer."""

    def __init__(
        self, bootstrap: str | Mapping[str, Any], topic: str, *, sink: str, cap: int
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._sink = sink
        self._cap = cap
        self._writer: TopicWriter[DeadLetter] | None = None

    def setup(self) -> None:
        if self._writer is None:
            codec = RowCodec(DEAD_LETTERS)
            self._writer = TopicWriter(
                result_producer(self._bootstrap),
                self._topic,
                codec.encode,
                sink=f"{self._sink}:letters",
                encode_batch=codec.encode_batch,
                dlq_max_raw_bytes=self._cap,
            )
        self._writer.setup()

    def __call__(self, letters: list[DeadLetter]) -> None:
        self.setup()
        assert self._writer is not None
        self._writer.write_batch(letters)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def result_sink(
    bootstrap: str | Mapping[str, Any],
    topic: str,
    spec: TableSpec[T],
    *,
    letters_topic: str,
    dlq_max_raw_bytes: int = DEFAULT_DLQ_MAX_RAW_BYTES,
) -> KafkaTopicSink[T]:
    """The sink of one table's rows: its result topic; refused rows to ``letters_topic``
    (none for the dead letters themselves: their refusals are logged and counted)."""
    codec = RowCodec(spec)
    letters = (
        None
        if topic == letters_topic
        else LettersToTopic(bootstrap, letters_topic, sink=spec.table, cap=dlq_max_raw_bytes)
    )
    return KafkaTopicSink(
        result_producer(bootstrap),
        topic,
        codec.encode,
        sink=spec.table,
        on_rejected=letters,
        encode_batch=codec.encode_batch,
        dlq_max_raw_bytes=dlq_max_raw_bytes,
    )
