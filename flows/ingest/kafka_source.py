"""Kafka as a Bytewax source: one partition per Kafka partition, offsets in snapshots.

Differs from bytewax's own KafkaSource in what ``until_end`` means: it stops at the end
offsets seen when the run starts (not at whatever end is current when a partition
runs dry), so ``cxpulse run --until-end`` is a well-defined bounded replay even while
producers keep writing.

Metrics per partition: ``cxpulse_events_in_total`` (messages read, counted per batch)
and ``cxpulse_consumer_lag_messages`` (high watermark minus next offset, from the
consumer's cached watermarks, refreshed at most every ``_LAG_EVERY_S``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from flows.core.timeutil import system_utc
from schemas.kafka_client import as_config
from schemas.metrics import CONSUMER_LAG, EVENTS_IN
from schemas.transport import RawMessage

log = logging.getLogger(__name__)
_IDLE_WAKE = timedelta(milliseconds=50)
_LAG_EVERY_S = 1.0


class _Partition(StatefulSourcePartition[RawMessage, int]):
    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        partition: int,
        resume_offset: int | None,
        until_end: bool,
        batch_size: int,
    ) -> None:
        self._consumer = Consumer(config)
        self._topic = topic
        self._partition = partition
        self._batch_size = batch_size
        start = OFFSET_BEGINNING if resume_offset is None else resume_offset
        self._next = start
        self._end: int | None = None
        if until_end:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=30
            )
            self._end = high
            if resume_offset is None:
                self._next = low
        self._consumer.assign([TopicPartition(topic, partition, start)])
        self._idle = False
        self._tp = TopicPartition(topic, partition)
        self._events_in = EVENTS_IN.labels(str(partition))
        self._lag = CONSUMER_LAG.labels(str(partition))
        self._lag_at = float("-inf")

    def next_batch(self) -> list[RawMessage]:
        if self._end is not None and self._next >= self._end:
            raise StopIteration
        msgs = self._consumer.consume(self._batch_size, 0.01)
        out: list[RawMessage] = []
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise RuntimeError(f"Kafka error on {self._topic}/{self._partition}: {err}")
                log.warning("transient Kafka error on %s/%d: %s", self._topic, self._partition, err)
                continue
            offset = m.offset()
            if offset is None:
                continue
            if self._end is not None and offset >= self._end:
                break
            out.append(RawMessage(self._topic, self._partition, offset, m.key(), m.value()))
            self._next = offset + 1
        self._idle = not out
        if out:
            self._events_in.inc(len(out))
        self._update_lag()
        return out

    def _update_lag(self) -> None:
        """High watermark minus next offset; cached watermarks, no broker round trip."""
        now = time.monotonic()
        if now - self._lag_at < _LAG_EVERY_S:
            return
        low, high = self._consumer.get_watermark_offsets(self._tp, cached=True)
        # negative: not known yet (no fetch response so far, or start at a logical
        # offset); then ask again next batch, it is a local lookup
        next_offset = self._next if self._next >= 0 else low
        if high >= 0 and next_offset >= 0:
            self._lag.set(max(0, high - next_offset))
            self._lag_at = now

    def next_awake(self) -> datetime | None:
        # Back off a little when idle so an empty topic does not spin a core.
        if self._idle:
            return system_utc() + _IDLE_WAKE
        return None

    def snapshot(self) -> int:
        return self._next

    def close(self) -> None:
        self._consumer.close()


class KafkaEventSource(FixedPartitionedSource[RawMessage, int]):
    """All partitions of one topic; resume offsets come from Bytewax's recovery store.

    ``connection``: a bootstrap address or :func:`schemas.kafka_client.client_config`'s
    result (SASL and all)."""

    def __init__(
        self,
        connection: str | Mapping[str, Any],
        topic: str,
        *,
        until_end: bool = False,
        batch_size: int = 5000,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self._connection = as_config(connection)
        self._topic = topic
        self._until_end = until_end
        self._batch_size = batch_size
        self._extra = extra_config or {}

    def list_parts(self) -> list[str]:
        admin = AdminClient({**self._connection, **self._extra})
        md = admin.list_topics(self._topic, timeout=30).topics.get(self._topic)
        if md is None or md.error is not None:
            raise RuntimeError(
                f"topic {self._topic!r} not found on {self._connection['bootstrap.servers']}: "
                f"{md.error if md else 'missing'} (run `cxpulse topics` or `cxpulse up`)"
            )
        return [str(p) for p in sorted(md.partitions)]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Partition:
        config = consumer_config(self._connection, self._extra)
        return _Partition(
            config, self._topic, int(for_part), resume_state, self._until_end, self._batch_size
        )


def consumer_config(connection: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A source consumer: assigned partitions, offsets kept by the recovery store."""
    return {
        **connection,
        "group.id": "cxpulse-bytewax",  # offsets live in the recovery store, not here
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 50,
        **extra,
    }
