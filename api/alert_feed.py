"""The live alert feed behind ``GET /v1/alerts/stream``: the alerts topic, fanned out.

One background thread per API process reads ``<prefix>alerts`` (all partitions, from the
end offsets seen at start, assigned directly: no consumer group, nothing committed) and
decodes every message: an :class:`~schemas.results.Alert`, or (header ``cxpulse.type:
alert_state``) an alert's :class:`~schemas.alert_lifecycle.AlertStateChange`. Each becomes
a :class:`~api.alert_events.FeedEvent` whose id is ``"<partition>-<offset>"``: stable
across API restarts (it names the message on the topic) and, within a partition, ordered.
State changes reach only their tenant's subscribers, through the same filters as alerts.

The feed keeps the last ``buffer_size`` events in a ring buffer and hands new ones to
every subscriber whose filters match (tenant, kinds, minimum severity). Subscribers live
on an asyncio loop: the thread only calls ``loop.call_soon_threadsafe``, so Kafka never
blocks the event loop and one subscriber never blocks another. A subscriber whose queue
holds more than ``queue_size`` undelivered events is a slow client: its stream ends (with
a warning in the log) and it may reconnect with ``Last-Event-ID``.

Resuming after ``Last-Event-ID`` gives exactly the matching alerts after that id, then
the live ones, without gaps or repeats:

* the id is in the buffer: the buffered events after it;
* the id is older than the buffer (a client that was away long, or an API that
  restarted): a short-lived consumer (``api.alert_replay``) reads the partition from
  ``offset + 1`` up to the first offset the buffer holds (or the feed started at), then
  the whole buffer follows.

Registration, the buffer snapshot and the "next offset" per partition are taken under
one lock with the thread's appends, so an event is either in the replay or in the live
queue, never both, never neither. The alerts topic has one partition (``cxpulse
topics``); with more, live delivery and buffer replay stay exact, but a resume older
than the buffer only recovers the partition the id names (logged).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Collection, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from api.alert_events import AlertFilter, FeedEvent, decode_message, parse_event_id
from api.alert_replay import Gap, GapReader
from schemas.kafka_client import as_config, client_config
from schemas.metrics import SSE_CLIENTS
from schemas.results import SEVERITY_RANK
from schemas.settings import Settings

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")


class FeedNotRunningError(RuntimeError):
    """The feed is not connected to the alerts topic (not started, stopped or failed)."""


class _End:
    """Queue sentinel: the stream ends (feed stopped, or the subscriber fell behind)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(eq=False)
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    filter: AlertFilter
    limit: int
    queue: asyncio.Queue[FeedEvent | _End] = field(default_factory=asyncio.Queue)
    ended: bool = False

    # -- called in the subscriber's loop (via call_soon_threadsafe) ---------------------
    def offer(self, events: list[FeedEvent]) -> None:
        for event in events:
            if self.ended:
                return
            if self.queue.qsize() >= self.limit:
                log.warning(
                    "alert stream client of tenant %s fell %d alerts behind: disconnecting "
                    "it (it may resume with Last-Event-ID)",
                    self.filter.tenant,
                    self.limit,
                )
                self.end("slow client")
                return
            self.queue.put_nowait(event)

    def end(self, reason: str) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(_End(reason))

    # -- called from any thread ---------------------------------------------------------
    def post(self, fn: Any, *args: Any) -> None:
        with suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self.loop.call_soon_threadsafe(fn, *args)


class AlertFeed:
    """Tails the alerts topic in a thread and fans alerts out to asyncio subscribers.

    A :class:`~api.services.BackgroundService`: ``start()`` / ``stop()`` run in the app's
    lifespan. ``heartbeat_s`` is how often an idle stream gets a keep-alive (the SSE route
    reads it from the feed). If the consumer fails, the thread reconnects at the next
    offset it has not delivered: open streams miss nothing, new ones get 503 meanwhile.
    """

    def __init__(
        self,
        bootstrap: str | Mapping[str, Any],
        topic: str,
        *,
        buffer_size: int = 10_000,
        queue_size: int = 1_000,
        heartbeat_s: float = 15.0,
        poll_timeout_s: float = 0.2,
        start_timeout_s: float = 10.0,
        consumer_config: dict[str, Any] | None = None,
    ) -> None:
        if buffer_size < 1 or queue_size < 1 or heartbeat_s <= 0:
            raise ValueError("buffer_size and queue_size must be >= 1, heartbeat_s > 0")
        self.topic = topic
        self.buffer_size = buffer_size
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self._poll_timeout_s = poll_timeout_s
        self._start_timeout_s = start_timeout_s
        self._config: dict[str, Any] = {
            **as_config(bootstrap),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 100,
            "logger": kafka_log,
            **(consumer_config or {}),
        }
        self._lock = threading.Lock()
        self._buffer: deque[FeedEvent] = deque(maxlen=buffer_size)
        self._next: dict[int, int] = {}  # partition -> next offset the thread will read
        self._subs: set[_Subscriber] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._warned_partitions = False

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> AlertFeed:
        """The feed of ``settings.alerts_topic`` on ``settings.kafka_bootstrap``.

        Alerts are trusted because only the pipeline principal may write the topic
        (Kafka ACLs, README "Security: Kafka"); without SASL nothing enforces that."""
        if settings.kafka_security_protocol == "PLAINTEXT":
            log.warning(
                "Kafka without authentication: any client reaching the broker can write "
                "%s; run the broker with SASL and ACLs (README: Security: Kafka)",
                settings.alerts_topic,
            )
        return cls(client_config(settings), settings.alerts_topic, **kwargs)

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Connected and delivering (streams answer 503 otherwise)."""
        t = self._thread
        return t is not None and t.is_alive() and self._ready.is_set() and not self._stop.is_set()

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    async def start(self) -> None:
        """Starts the reader thread and waits (up to ``start_timeout_s``) until it is
        assigned; an unreachable broker does not stop the app: streams answer 503 and the
        thread keeps trying."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._ready.clear()
        with self._lock:
            self._buffer.clear()
            self._next.clear()
        self._thread = threading.Thread(target=self._run, name="alert-feed", daemon=True)
        self._thread.start()
        if not await asyncio.to_thread(self._ready.wait, self._start_timeout_s):
            log.warning(
                "alert feed not connected to %s after %.0fs; /v1/alerts/stream answers 503 "
                "until it is",
                self.topic,
                self._start_timeout_s,
            )

    async def stop(self) -> None:
        """Stops the thread and ends every open stream; never raises."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 10.0)
            if thread.is_alive():
                log.warning("alert feed thread did not stop within 10s")
        self._end_all("feed stopped")

    def _end_all(self, reason: str) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.post(sub.end, reason)

    # -- the reader thread ----------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            consumer = self._connect()
            if consumer is None:
                break  # stopped before it could connect
            try:
                self._ready.set()
                log.info("alert feed reading %s from offsets %s", self.topic, self._next)
                while not self._stop.is_set():
                    first = consumer.poll(self._poll_timeout_s)
                    if first is None:
                        continue
                    # Whatever else is already fetched, without waiting (low latency, batched).
                    self._handle([first, *consumer.consume(500, 0)])
                    delay = 0.5
            except Exception:
                # Open streams stay open: the feed resumes at the next offset it has not
                # delivered, so they miss nothing; new ones get 503 meanwhile.
                self._ready.clear()
                log.exception("alert feed failed; reconnecting in %.1fs", delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with suppress(Exception):
                    consumer.close()
        self._ready.clear()
        self._end_all("feed stopped")

    def _connect(self) -> Consumer | None:
        """Assigns every partition at the next offset not yet delivered (at start: its end
        offset); retries until stopped."""
        delay = 0.5
        while not self._stop.is_set():
            consumer = Consumer({**self._config, "group.id": f"cxpulse-alert-feed-{uuid.uuid4()}"})
            try:
                md = consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
                if md is None or md.error is not None or not md.partitions:
                    raise RuntimeError(f"topic {self.topic!r}: {md.error if md else 'missing'}")
                with self._lock:
                    delivered = dict(self._next)
                starts: dict[int, int] = {}
                for p in sorted(md.partitions):
                    if p in delivered:
                        starts[p] = delivered[p]
                        continue
                    _low, high = consumer.get_watermark_offsets(
                        TopicPartition(self.topic, p), timeout=5
                    )
                    starts[p] = high
                consumer.assign([TopicPartition(self.topic, p, o) for p, o in starts.items()])
            except Exception as exc:
                with suppress(Exception):
                    consumer.close()
                log.warning("alert feed cannot read %s yet (%s); retrying", self.topic, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            with self._lock:
                self._next = starts
            return consumer
        return None

    def _handle(self, msgs: list[Message]) -> None:
        events: list[FeedEvent] = []
        consumed: dict[int, int] = {}
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise RuntimeError(f"Kafka error on {self.topic}: {err}")
                log.warning("transient Kafka error on %s: %s", self.topic, err)
                continue
            partition, offset = m.partition(), m.offset()
            if partition is None or offset is None:
                continue
            consumed[partition] = offset + 1
            try:
                event = decode_message(partition, offset, m.value(), m.headers())
            except Exception as exc:  # whatever it is, one bad message must not stall the feed
                log.warning(
                    "skipping undecodable alert %s/%d@%d: %s", self.topic, partition, offset, exc
                )
                continue
            if event is not None:  # None: a message type this feed does not serve
                events.append(event)
        with self._lock:
            self._buffer.extend(events)
            self._next.update(consumed)
            for sub in self._subs:  # one wake-up of the subscriber's loop per batch
                wanted = [e for e in events if sub.filter.matches(e)]
                if wanted:
                    sub.post(sub.offer, wanted)

    # -- subscribing ----------------------------------------------------------------------

    def subscribe(
        self,
        tenant: str,
        kinds: Collection[str] | None = None,
        min_severity: str | None = None,
        last_event_id: str | None = None,
        *,
        heartbeat_s: float | None = None,
    ) -> AsyncGenerator[FeedEvent | None, None]:
        """The tenant's matching alerts after ``last_event_id`` (none: from now on), then
        live ones, as an async generator to use in the event loop (``aclosing`` it ends the
        subscription). With ``heartbeat_s`` it yields ``None`` after that long without an
        alert. It ends when the feed stops or the subscriber falls ``queue_size`` behind.

        Raises ``FeedNotRunningError`` if the feed is not running, and ``ValueError`` for a
        malformed ``last_event_id``, an unknown ``min_severity`` or a partition the topic
        does not have.
        """
        if not self.running:
            raise FeedNotRunningError(f"the alert feed on {self.topic} is not running")
        if min_severity is not None and min_severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {min_severity!r}")
        resume = parse_event_id(last_event_id) if last_event_id else None
        if resume is not None:
            with self._lock:
                known = set(self._next)
            if resume[0] not in known:
                raise ValueError(f"event id {last_event_id!r}: {self.topic} has no such partition")
        flt = AlertFilter(
            tenant=tenant,
            kinds=frozenset(kinds) if kinds else None,
            min_rank=SEVERITY_RANK[min_severity] if min_severity else 0,
        )
        return self._stream(flt, resume, heartbeat_s)

    async def _stream(
        self, flt: AlertFilter, resume: tuple[int, int] | None, heartbeat_s: float | None
    ) -> AsyncGenerator[FeedEvent | None, None]:
        sub = _Subscriber(asyncio.get_running_loop(), flt, self.queue_size)
        with self._lock:  # from here on every new alert reaches sub.queue
            snapshot = list(self._buffer)
            positions = dict(self._next)
            self._subs.add(sub)
        if not self.running:  # stopped between subscribe() and now: nothing would end us
            sub.end("feed stopped")
        SSE_CLIENTS.inc()
        try:
            replay, gap = self._plan(snapshot, positions, resume)
            if gap is not None:
                async with aclosing(self._read_gap(gap, flt)) as gap_events:
                    async for event in gap_events:
                        yield event
            for event in replay:
                if flt.matches(event):
                    yield event
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), heartbeat_s)
                except TimeoutError:
                    yield None
                    continue
                if isinstance(item, _End):
                    log.debug("alert stream of tenant %s ends: %s", flt.tenant, item.reason)
                    return
                yield item
        finally:
            with self._lock:
                self._subs.discard(sub)
            SSE_CLIENTS.dec()

    def _plan(
        self,
        snapshot: list[FeedEvent],
        positions: dict[int, int],
        resume: tuple[int, int] | None,
    ) -> tuple[list[FeedEvent], Gap | None]:
        """What to replay from the buffer snapshot and what to read back from Kafka."""
        if resume is None:
            return [], None
        partition, offset = resume
        for i in range(len(snapshot) - 1, -1, -1):  # newest first: resumes are mostly recent
            e = snapshot[i]
            if e.partition == partition and e.offset == offset:
                return snapshot[i + 1 :], None
        first = next(
            (e.offset for e in snapshot if e.partition == partition), positions.get(partition)
        )
        if first is None:  # the feed restarted since subscribe(): nothing to resume from
            return snapshot, None
        if offset + 1 < first:
            if len(positions) > 1 and not self._warned_partitions:
                self._warned_partitions = True
                log.warning(
                    "%s has %d partitions: a resume older than the buffer recovers only the "
                    "partition its id names",
                    self.topic,
                    len(positions),
                )
            return snapshot, Gap(partition, offset + 1, first)
        # Not buffered but not older than the buffer: an undecodable message, or an id the
        # feed has not reached yet. Everything after it in its partition follows.
        return [e for e in snapshot if e.partition != partition or e.offset > offset], None

    async def _read_gap(self, gap: Gap, flt: AlertFilter) -> AsyncGenerator[FeedEvent, None]:
        reader = GapReader(self._config, self.topic, gap, flt)
        try:
            await asyncio.to_thread(reader.open)
            while (batch := await asyncio.to_thread(reader.next_batch)) is not None:
                for event in batch:
                    yield event
        finally:
            await asyncio.shield(asyncio.to_thread(reader.close))
