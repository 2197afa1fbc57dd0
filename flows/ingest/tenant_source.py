"""The events input with per-tenant topics (``CXPULSE_TENANT_TOPICS``): every topic
``<events topic>.<tenant>``, found by pattern, including topics created while it runs.

Bytewax fixes a source's partitions at start, and tenants come and go, so the source has
a fixed number of *slots* (``CXPULSE_TOPIC_PARTITIONS``): slot ``i`` reads partition
``p`` of every tenant topic with ``p % slots == i``, assigned by hand (no consumer-group
rebalances) and re-discovered every ``discover_every_s``. A slot's snapshot is the next
offset of each of its Kafka partitions, so recovery resumes every tenant topic where it
stopped, and a topic that appears later is read from its start.

Event time stays correct: the input clock is kept per partition number and per tenant,
and a tenant's events only come from its own topic (a message claiming another tenant is
dead-lettered at decode), so each tenant's watermark is the minimum over its own
topic's partitions, held back by those not heard from yet, exactly as with one topic.
``until_end`` reads the tenant topics that exist at start up to their end offsets then.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from flows.core.timeutil import system_utc
from flows.ingest.kafka_source import consumer_config
from schemas.kafka_client import as_config
from schemas.metrics import CONSUMER_LAG, EVENTS_IN
from schemas.tenant_topics import tenant_topic_pattern
from schemas.transport import RawMessage

log = logging.getLogger(__name__)
_IDLE_WAKE = timedelta(milliseconds=50)  # back off when idle: no spinning core
_LAG_EVERY_S = 1.0
_METADATA_TIMEOUT_S = 5.0

TP = tuple[str, int]


def _key(tp: TP) -> str:
    return f"{tp[0]}:{tp[1]}"  # ':' never occurs in a topic name


def _tp(key: str) -> TP:
    topic, _, part = key.rpartition(":")
    return topic, int(part)


@dataclass
class SlotOffsets:
    """What one slot reads: its Kafka partitions, the next offset of each (what a
    snapshot keeps) and, in a bounded run, where each ends. Pure bookkeeping."""

    slot: int
    slots: int
    next: dict[TP, int] = field(default_factory=dict)
    ends: dict[TP, int] | None = None  # None: live (no end)
    assigned: set[TP] = field(default_factory=set)

    def owns(self, partition: int) -> bool:
        return partition % self.slots == self.slot

    def new_partitions(self, found: Mapping[str, list[int]]) -> list[TP]:
        """Partitions of ``found`` (topic -> partitions) this slot reads and has not yet
        assigned, sorted; a bounded run never takes partitions that appeared after start."""
        fresh = [
            (t, p)
            for t, parts in found.items()
            for p in parts
            if self.owns(p) and (t, p) not in self.assigned
        ]
        if self.ends is not None:
            fresh = [tp for tp in fresh if tp in self.ends]
        return sorted(fresh)

    def start(self, tp: TP) -> int:
        """Where to start reading ``tp``: its resume offset, else its beginning."""
        return self.next.get(tp, OFFSET_BEGINNING)

    def done(self, tp: TP) -> bool:
        """Bounded run: everything up to ``tp``'s end offset at start has been read."""
        if self.ends is None:
            return False
        end = self.ends.get(tp, 0)
        return self.next.get(tp, 0) >= end

    def all_done(self) -> bool:
        return self.ends is not None and all(self.done(tp) for tp in self.ends)

    def snapshot(self) -> dict[str, int]:
        return {_key(tp): off for tp, off in sorted(self.next.items())}

    @classmethod
    def resume(cls, slot: int, slots: int, state: Mapping[str, int] | None) -> SlotOffsets:
        return cls(slot, slots, {_tp(k): v for k, v in (state or {}).items()})


def matching_topics(topics: Mapping[str, Any], pattern: re.Pattern[str]) -> dict[str, list[int]]:
    """Tenant topics of a metadata answer (topic -> TopicMetadata) with their partitions."""
    return {
        name: sorted(md.partitions)
        for name, md in topics.items()
        if pattern.match(name) and md.error is None
    }


class _Slot(StatefulSourcePartition[RawMessage, dict[str, int]]):
    def __init__(
        self,
        config: dict[str, Any],
        pattern: re.Pattern[str],
        offsets: SlotOffsets,
        *,
        until_end: bool,
        batch_size: int,
        discover_every_s: float,
    ) -> None:
        self._consumer = Consumer(config)
        self._pattern = pattern
        self._offsets = offsets
        self._batch_size = batch_size
        self._discover_every_s = discover_every_s
        self._discovered_at = float("-inf")
        self._idle = False
        label = str(offsets.slot)
        self._events_in = EVENTS_IN.labels(label)
        self._lag = CONSUMER_LAG.labels(label)
        self._lag_at = float("-inf")
        if until_end:
            self._bound()
        self._discover()

    def _found(self) -> dict[str, list[int]]:
        md = self._consumer.list_topics(timeout=_METADATA_TIMEOUT_S)
        return matching_topics(md.topics, self._pattern)

    def _bound(self) -> None:
        """Bounded run: the end offset of every partition of this slot that exists now."""
        o = self._offsets
        ends: dict[TP, int] = {}
        for topic, parts in self._found().items():
            for p in parts:
                if o.owns(p):
                    low, high = self._consumer.get_watermark_offsets(
                        TopicPartition(topic, p), timeout=30
                    )
                    ends[(topic, p)] = high
                    o.next.setdefault((topic, p), low)
        o.ends = ends

    def _discover(self) -> None:
        self._discovered_at = time.monotonic()
        try:
            fresh = self._offsets.new_partitions(self._found())
        except KafkaException as exc:
            log.warning("listing tenant topics failed (retrying): %s", exc)
            return
        if not fresh:
            return
        for tp in fresh:
            log.info("slot %d reads %s/%d", self._offsets.slot, *tp)
        self._consumer.incremental_assign(
            [TopicPartition(t, p, self._offsets.start((t, p))) for t, p in fresh]
        )
        self._offsets.assigned.update(fresh)

    def next_batch(self) -> list[RawMessage]:
        o = self._offsets
        if o.all_done():
            raise StopIteration
        if o.ends is None and time.monotonic() - self._discovered_at >= self._discover_every_s:
            self._discover()
        out: list[RawMessage] = []
        for m in self._consumer.consume(self._batch_size, 0.01) if o.assigned else []:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise RuntimeError(f"Kafka error on the tenant topics: {err}")
                log.warning("transient Kafka error on the tenant topics: %s", err)
                continue
            topic, part, offset = m.topic(), m.partition(), m.offset()
            if topic is None or part is None or offset is None:
                continue
            tp = (topic, part)
            if o.done(tp):
                self._consumer.pause([TopicPartition(topic, part)])
                continue
            out.append(RawMessage(topic, part, offset, m.key(), m.value()))
            o.next[tp] = offset + 1
        self._idle = not out
        if out:
            self._events_in.inc(len(out))
        self._update_lag()
        return out

    def _update_lag(self) -> None:
        """Sum over the slot's partitions of high watermark minus next offset (cached)."""
        now = time.monotonic()
        if now - self._lag_at < _LAG_EVERY_S:
            return
        self._lag_at = now
        lag = 0
        for t, p in self._offsets.assigned:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)
            nxt = self._offsets.next.get((t, p), low)
            if high >= 0 and nxt >= 0:
                lag += max(0, high - nxt)
        self._lag.set(lag)

    def next_awake(self) -> datetime | None:
        if self._idle:
            return system_utc() + _IDLE_WAKE
        return None

    def snapshot(self) -> dict[str, int]:
        return self._offsets.snapshot()

    def close(self) -> None:
        self._consumer.close()


class TenantTopicsSource(FixedPartitionedSource[RawMessage, dict[str, int]]):
    """Every ``<events_topic>.<tenant>`` topic, in ``slots`` source partitions."""

    def __init__(
        self,
        connection: str | Mapping[str, Any],
        events_topic: str,
        *,
        slots: int,
        until_end: bool = False,
        batch_size: int = 5000,
        discover_every_s: float = 1.0,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self._connection = as_config(connection)
        self._pattern = tenant_topic_pattern(events_topic)
        self._slots = slots
        self._until_end = until_end
        self._batch_size = batch_size
        self._discover_every_s = discover_every_s

    def list_parts(self) -> list[str]:
        return [str(i) for i in range(self._slots)]

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, int] | None) -> _Slot:
        return _Slot(
            consumer_config(self._connection, {}),
            self._pattern,
            SlotOffsets.resume(int(for_part), self._slots, resume_state),
            until_end=self._until_end,
            batch_size=self._batch_size,
            discover_every_s=self._discover_every_s,
        )
