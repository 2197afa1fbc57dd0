"""Reading back alerts older than the live feed's buffer, for a resuming client.

A client away longer than the buffer holds (or an API that restarted) resumes with an
id the buffer no longer has; a short-lived consumer of its own (no group joined,
nothing committed) reads that partition from the id up to where the buffer begins.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from api.alert_events import AlertFilter, FeedEvent, decode_message

log = logging.getLogger(__name__)


class GapReadError(RuntimeError):
    """Alerts older than the buffer could not be read back from Kafka in time."""


@dataclass(frozen=True)
class Gap:
    partition: int
    start: int  # first offset to read
    end: int  # first offset not to read (the buffer or the live feed has it)


class GapReader:
    """Reads ``[start, end)`` of one partition with its own consumer (blocking calls)."""

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        gap: Gap,
        flt: AlertFilter,
        batch: int = 500,
        stall_timeout_s: float = 15.0,
    ) -> None:
        self._config = {
            **config,
            "group.id": f"cxpulse-alert-gap-{uuid.uuid4().hex}",  # never joined, never committed
            "auto.offset.reset": "earliest",  # offsets already deleted: start at the oldest
        }
        self._topic = topic
        self._gap = gap
        self._filter = flt
        self._batch = batch
        self._stall_timeout_s = stall_timeout_s
        self._consumer: Consumer | None = None
        self._next = gap.start

    def open(self) -> None:
        g = self._gap
        consumer = Consumer(self._config)
        self._consumer = consumer
        low, _high = consumer.get_watermark_offsets(
            TopicPartition(self._topic, g.partition), timeout=10
        )
        if low > g.start:
            log.warning(
                "alerts %s/%d offsets %d..%d are gone (retention): a resuming client misses them",
                self._topic,
                g.partition,
                g.start,
                min(low, g.end) - 1,
            )
            self._next = low
        if self._next < g.end:
            consumer.assign([TopicPartition(self._topic, g.partition, self._next)])

    def next_batch(self) -> list[FeedEvent] | None:
        """The next matching events of the gap (maybe none), or None when it is read."""
        assert self._consumer is not None
        end = self._gap.end
        deadline = time.monotonic() + self._stall_timeout_s
        while self._next < end:
            msgs = self._consumer.consume(min(self._batch, end - self._next), 0.5)
            out: list[FeedEvent] = []
            progressed = False
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.fatal():
                        raise GapReadError(f"reading {self._topic}: {err}")
                    continue
                offset = m.offset()
                if offset is None or offset < self._next or offset >= end:
                    continue
                self._next = offset + 1
                progressed = True
                try:
                    event = decode_message(self._gap.partition, offset, m.value(), m.headers())
                except ValueError:
                    continue  # the live feed logged it when it first read it
                if event is not None and self._filter.matches(event):
                    out.append(event)
            if progressed:
                return out
            # Nothing came: skipped offsets (e.g. transaction markers) may end the gap early.
            position = self._consumer.position([TopicPartition(self._topic, self._gap.partition)])
            if position and position[0].offset >= end:
                self._next = position[0].offset
            elif time.monotonic() > deadline:
                raise GapReadError(
                    f"no alert from {self._topic}/{self._gap.partition} at offset {self._next} "
                    f"within {self._stall_timeout_s}s"
                )
        return None

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
