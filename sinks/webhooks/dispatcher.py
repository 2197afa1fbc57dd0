"""The webhook dispatcher: alerts topic -> stored deliveries -> signed HTTP POSTs.

An API background service with two threads. The consumer reads ``<prefix>alerts`` in
the group ``cxpulse-webhooks-<prefix>`` and stores one delivery per (matching
subscription, alert) *before* committing the offsets, so an alert is never lost: after
a crash it is read again and, since the delivery id is the uuid5 of (subscription,
alert), finds its delivery already stored. Messages of the topic that are no alerts (header
``cxpulse.type``, e.g. ``alert_state``) are skipped. The delivery loop loads every pending
delivery at start (a restart resumes them), sends the due ones from a small thread
pool, records each attempt and reschedules (backoff) or ends it (delivered/dead).

Receivers get the same ``X-Cxpulse-Delivery`` and the same body on every attempt and
should deduplicate on it: delivery is at least once (a crash between a 2xx answer and
recording it means one more attempt).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message
from pydantic import ValidationError

from schemas.kafka_client import client_config
from schemas.metrics import WEBHOOK_DELIVERIES
from schemas.results import Alert
from schemas.settings import Settings
from sinks.alert_states import is_alert
from sinks.webhooks.deliveries import (
    AttemptResult,
    Clock,
    Delivery,
    Subscription,
    after_attempt,
    matches,
    new_delivery,
    utc_now,
)
from sinks.webhooks.signing import sign
from sinks.webhooks.store import WebhookStore

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")

USER_AGENT = "cxpulse-webhooks/1"
_ERROR_SNIPPET = 200


def consumer_group(settings: Settings) -> str:
    return f"cxpulse-webhooks-{settings.topic_prefix}"


class WebhookDispatcher:
    """Background service: alerts topic -> stored deliveries -> signed HTTP POSTs.

    ``clock`` stamps attempts and schedules retries; ``rng`` draws the backoff jitter;
    ``http`` replaces the HTTP client (its timeout then is the caller's). Waits are on
    an internal event, so :meth:`stop` interrupts them at once; attempts in flight when
    it is called finish (at most ``webhook_timeout_s`` per phase) and are recorded,
    queued ones stay pending for the next start.

    Run one dispatcher per deployment: each loads every pending delivery at start.
    """

    def __init__(
        self,
        settings: Settings,
        store: WebhookStore,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        http: httpx.Client | None = None,
        max_in_flight: int = 8,
        poll_s: float = 0.2,
        idle_s: float = 1.0,
        retry_s: float = 2.0,
        batch_size: int = 500,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._settings = settings
        self._store = store
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._given_http = http
        self._max_in_flight = max_in_flight
        self._poll_s = poll_s
        self._idle_s = idle_s
        self._retry_s = retry_s
        self._batch_size = batch_size
        self._rng_lock = threading.Lock()
        self._lock = threading.Lock()  # guards _pending and _inflight
        self._pending: dict[uuid.UUID, Delivery] = {}
        self._inflight: set[uuid.UUID] = set()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._loaded = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None

    # -- lifecycle

    async def start(self) -> None:
        """Start the consumer and delivery threads (they retry ClickHouse/Kafka errors)."""
        if self._threads:
            raise RuntimeError("the webhook dispatcher is already running")
        self._stop.clear()
        self._loaded.clear()
        with self._lock:
            self._pending.clear()
            self._inflight.clear()
        self._http = self._given_http or httpx.Client(
            timeout=self._settings.webhook_timeout_s,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._pool = ThreadPoolExecutor(self._max_in_flight, thread_name_prefix="cxpulse-webhook")
        consumer = Consumer(
            {
                **client_config(self._settings),
                "group.id": consumer_group(self._settings),
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "logger": kafka_log,
            }
        )
        consumer.subscribe([self._settings.alerts_topic])
        self._threads = [
            threading.Thread(target=self._delivery_loop, name="cxpulse-webhook-loop", daemon=True),
            threading.Thread(
                target=self._consume_loop,
                args=(consumer,),
                name="cxpulse-webhook-consumer",
                daemon=True,
            ),
        ]
        for t in self._threads:
            t.start()

    async def stop(self) -> None:
        """Stop consuming and sending; never raises."""
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.to_thread(self._shutdown)
        except Exception:
            log.exception("stopping the webhook dispatcher")

    def _shutdown(self) -> None:
        for t in self._threads:
            t.join(timeout=30)
        self._threads = []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._http is not None and self._given_http is None:
            self._http.close()
        self._http = None

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- consuming: alerts -> stored deliveries -> commit

    def _consume_loop(self, consumer: Any) -> None:
        try:
            while not self._loaded.is_set():  # pending deliveries first, see _delivery_loop
                if self._stop.wait(0.05):
                    return
            while not self._stop.is_set():
                try:
                    msgs = consumer.consume(num_messages=self._batch_size, timeout=self._poll_s)
                except KafkaException as exc:
                    log.warning("webhooks: consuming alerts failed: %s", exc)
                    self._stop.wait(self._retry_s)
                    continue
                if not msgs:
                    continue
                alerts = [a for a in map(self._decode, msgs) if a is not None]
                if alerts and not self._store_deliveries(alerts):
                    return  # stopping before they were stored: offsets stay uncommitted
                try:
                    consumer.commit(asynchronous=False)
                except KafkaException as exc:  # the messages come again: deduplicated
                    log.warning("webhooks: committing alert offsets failed: %s", exc)
        except Exception:
            log.exception("webhooks: the alert consumer stopped")
        finally:
            try:
                consumer.close()
            except Exception:
                log.exception("webhooks: closing the alert consumer")

    def _decode(self, msg: Message) -> tuple[Alert, datetime | None] | None:
        err = msg.error()
        if err is not None:
            log.warning("webhooks: alerts topic error: %s", err)
            return None
        value = msg.value()
        if value is None or not is_alert(msg.headers()):  # e.g. an alert's state change
            return None
        try:
            alert = Alert.model_validate_json(value)
        except ValidationError as exc:
            log.warning(
                "webhooks: skipping undecodable alert at %s/%s/%s: %s",
                msg.topic(),
                msg.partition(),
                msg.offset(),
                exc.errors()[:1],
            )
            return None
        ts_type, ts_ms = msg.timestamp()
        published = (
            None
            if ts_type == TIMESTAMP_NOT_AVAILABLE
            else datetime.fromtimestamp(ts_ms / 1000, UTC)
        )
        return alert, published

    def _store_deliveries(self, alerts: list[tuple[Alert, datetime | None]]) -> bool:
        """Store the deliveries of ``alerts``, retrying until done; ``False`` if stopped."""
        while True:
            try:
                subs = self._store.active_subscriptions()
                now = self._clock()
                wanted = [
                    new_delivery(sub, alert, now)
                    for alert, published in alerts
                    for sub in subs.values()
                    if matches(sub, alert, published)
                ]
                self._schedule(self._store.add_deliveries(wanted))
                return True
            except Exception:
                log.exception("webhooks: storing %d alert(s) failed; retrying", len(alerts))
                if self._stop.wait(self._retry_s):
                    return False

    # -- delivering

    def _schedule(self, deliveries: Iterable[Delivery]) -> None:
        added = False
        with self._lock:
            for d in deliveries:
                if d.status == "pending" and d.delivery_id not in self._inflight:
                    self._pending.setdefault(d.delivery_id, d)
                    added = True
        if added:
            self._wake.set()

    def _take_due(self, now: datetime) -> tuple[list[Delivery], datetime | None]:
        """Due deliveries (marked in flight, at most the free capacity) and the next due."""
        with self._lock:
            waiting = sorted(
                (d for d in self._pending.values() if d.delivery_id not in self._inflight),
                key=lambda d: d.next_attempt_at,
            )
            room = self._max_in_flight - len(self._inflight)
            if room <= 0:  # full: an attempt finishing wakes the loop
                return [], None
            due = [d for d in waiting if d.next_attempt_at <= now][:room]
            for d in due:
                self._inflight.add(d.delivery_id)
            rest = waiting[len(due) :]
        return due, (rest[0].next_attempt_at if rest else None)

    def _delivery_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            if not self._loaded.is_set():
                try:
                    pending = self._store.pending_deliveries()
                except Exception:
                    log.exception("webhooks: loading pending deliveries failed; retrying")
                    self._stop.wait(self._retry_s)
                    continue
                self._schedule(pending)
                self._loaded.set()
                if pending:
                    log.info("webhooks: resuming %d pending deliveries", len(pending))
            now = self._clock()
            due, upcoming = self._take_due(now)
            pool = self._pool
            if pool is None:
                return
            for i, d in enumerate(due):
                try:
                    pool.submit(self._attempt, d)
                except RuntimeError:  # the pool is shutting down: we are stopping
                    with self._lock:
                        self._inflight.difference_update(x.delivery_id for x in due[i:])
                    return
            timeout = self._idle_s
            if upcoming is not None:
                timeout = min(timeout, max(0.0, (upcoming - now).total_seconds()))
            self._wake.wait(timeout)

    def _attempt(self, delivery: Delivery) -> None:
        """One attempt of ``delivery``: send, record, then reschedule or end it."""
        updated = delivery
        try:
            sub = self._store.active_subscriptions().get(delivery.subscription_id)
            if sub is None or sub.tenant_id != delivery.tenant_id:
                updated = replace(delivery, status="dead", last_error="subscription deleted")
                self._store.save_delivery(updated)
                return
            at, result = self._send(sub, delivery)
            with self._rng_lock:
                updated, outcome = after_attempt(
                    delivery,
                    result,
                    self._clock(),
                    max_attempts=self._settings.webhook_max_attempts,
                    base=self._settings.webhook_backoff_base_s,
                    rng=self._rng,
                )
            WEBHOOK_DELIVERIES.labels(outcome).inc()
            if outcome != "delivered":
                log.info(  # not the URL: it may hold credentials
                    "webhook delivery %s (subscription %s) attempt %d failed (%s): %s",
                    delivery.delivery_id,
                    sub.subscription_id,
                    updated.attempts,
                    outcome,
                    result.error,
                )
            # the log first: a crash in between shows an attempt the state does not count
            # yet (it is made again), never a counted attempt missing from the log
            self._store.record_attempt(updated, at, result, outcome)
            self._store.save_delivery(updated)
        except Exception:
            log.exception("webhook delivery %s: recording failed", delivery.delivery_id)
            if updated.status == "pending":  # keep the backoff going; the DB catches up later
                later = self._clock() + timedelta(seconds=self._retry_s)
                updated = replace(updated, next_attempt_at=max(updated.next_attempt_at, later))
        finally:
            with self._lock:
                self._inflight.discard(delivery.delivery_id)
                if updated.status == "pending":
                    self._pending[delivery.delivery_id] = updated
                else:
                    self._pending.pop(delivery.delivery_id, None)
            self._wake.set()

    def _send(self, sub: Subscription, delivery: Delivery) -> tuple[datetime, AttemptResult]:
        http = self._http
        assert http is not None
        at = self._clock()
        headers = {
            "Content-Type": "application/json",
            "X-Cxpulse-Delivery": str(delivery.delivery_id),
            "X-Cxpulse-Timestamp": str(int(at.timestamp())),
            "X-Cxpulse-Signature": sign(sub.secret, delivery.body),
        }
        started = time.monotonic()
        code: int | None = None
        error = ""
        try:
            with http.stream("POST", sub.url, content=delivery.body, headers=headers) as resp:
                code = resp.status_code
                if not 200 <= code < 300:
                    error = f"HTTP {code}"
                    snippet = _read_snippet(resp)
                    if snippet:
                        error += f": {snippet}"
        except httpx.TimeoutException as exc:
            error = f"timeout ({type(exc).__name__}) after {self._settings.webhook_timeout_s}s"
        except Exception as exc:  # connection refused, TLS, DNS, invalid URL...: a failed attempt
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = (time.monotonic() - started) * 1000.0
        return at, AttemptResult(status_code=code, error=error, duration_ms=duration_ms)


def _read_snippet(resp: httpx.Response) -> str:
    """The start of an error answer's body, for ``last_error`` (never the whole body)."""
    buf = b""
    try:
        for chunk in resp.iter_bytes():
            buf += chunk
            if len(buf) >= _ERROR_SNIPPET:
                break
    except httpx.HTTPError:
        pass
    return buf[:_ERROR_SNIPPET].decode(errors="replace").strip()
