"""The webhook dispatcher: alerts topic -> stored deliveries -> signed HTTP POSTs.

An API background service with two threads. The consumer reads ``<prefix>alerts`` in
the group ``cxpulse-webhooks-<prefix>`` and stores one delivery per (matching
subscription, alert) *before* committing the offsets, so an alert is never lost: after
a crash it is read again and, since the delivery id is the uuid5 of (subscription,
alert), finds its delivery already stored. Messages of the topic that are no alerts (header
``cxpulse.type``, e.g. ``alert_state``) are skipped. The delivery loop first encrypts any
secret still stored in plain text (subscriptions made before migration 012), loads every
pending delivery (a restart resumes them), then sends the due ones from
``webhook_senders`` threads, fairly (:mod:`sinks.webhooks.fairness`: a bounded share per
tenant, one attempt per subscription at a time), each attempt checked against the SSRF
rules, pinned and under one deadline (:mod:`sinks.webhooks.sender`); it records each
attempt and reschedules (backoff) or ends it (delivered/dead).

Exactly one dispatcher runs per deployment: ``cxpulse dispatch`` with a ClickHouse
server (API replicas never dispatch), or inside the one process that owns the embedded
engine (``cxpulse up``, ``demo``, ``api``).

Receivers get the same ``X-Cxpulse-Delivery`` and the same body on every attempt and
should deduplicate on it: delivery is at least once (a crash between a 2xx answer and
recording it means one more attempt).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message
from pydantic import ValidationError

from schemas.kafka_client import client_config
from schemas.metrics import WEBHOOK_DELIVERIES
from schemas.results import Alert
from schemas.settings import Settings
from sinks.alert_states import is_alert
from sinks.webhooks.addresses import AllowList
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
from sinks.webhooks.fairness import pick_due
from sinks.webhooks.guard import UrlGuard
from sinks.webhooks.sender import Sender
from sinks.webhooks.signing import signed_headers, valid_secrets
from sinks.webhooks.store import WebhookStore

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")


def consumer_group(settings: Settings) -> str:
    return f"cxpulse-webhooks-{settings.topic_prefix}"


def url_guard(settings: Settings) -> UrlGuard:
    """The SSRF guard of ``CXPULSE_WEBHOOK_ALLOWED_HOSTS`` / ``_ALLOW_HTTP``."""
    return UrlGuard(
        AllowList.parse(settings.webhook_allowed_hosts), allow_http=settings.webhook_allow_http
    )


class WebhookDispatcher:
    """Background service: alerts topic -> stored deliveries -> signed HTTP POSTs.

    ``clock`` stamps attempts, schedules retries and decides which secrets sign; ``rng``
    draws the backoff jitter; ``sender`` replaces the HTTP side (tests give one with a
    stub resolver). Waits are on an internal event, so :meth:`stop` interrupts them at
    once; attempts in flight when it is called finish (at most ``webhook_timeout_s``)
    and are recorded, queued ones stay pending for the next start.

    Run one dispatcher per deployment: each loads every pending delivery at start.
    """

    def __init__(
        self,
        settings: Settings,
        store: WebhookStore,
        *,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        sender: Sender | None = None,
        poll_s: float = 0.2,
        idle_s: float = 1.0,
        retry_s: float = 2.0,
        batch_size: int = 500,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._given_sender = sender
        self._max_in_flight = settings.webhook_senders
        self._tenant_cap = settings.webhook_tenant_senders
        self._poll_s = poll_s
        self._idle_s = idle_s
        self._retry_s = retry_s
        self._batch_size = batch_size
        self._rng_lock = threading.Lock()
        self._lock = threading.Lock()  # guards _pending, _inflight, _busy_*
        self._pending: dict[uuid.UUID, Delivery] = {}
        self._inflight: set[uuid.UUID] = set()
        self._busy_subscriptions: set[uuid.UUID] = set()
        self._busy_tenants: Counter[str] = Counter()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._loaded = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pool: ThreadPoolExecutor | None = None
        self._sender: Sender | None = None

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
            self._busy_subscriptions.clear()
            self._busy_tenants.clear()
        self._sender = self._given_sender or Sender(
            url_guard(self._settings), self._settings.webhook_timeout_s
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
        self._sender = None

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
        """Due deliveries to start now, fairly (marked in flight), and the next due."""
        with self._lock:
            waiting = [d for d in self._pending.values() if d.delivery_id not in self._inflight]
            due = pick_due(
                waiting,
                now,
                room=self._max_in_flight - len(self._inflight),
                tenant_cap=self._tenant_cap,
                busy_subscriptions=self._busy_subscriptions,
                busy_tenants=self._busy_tenants,
            )
            for d in due:
                self._inflight.add(d.delivery_id)
                self._busy_subscriptions.add(d.subscription_id)
                self._busy_tenants[d.tenant_id] += 1
            later = [d.next_attempt_at for d in waiting if d.next_attempt_at > now]
        # a delivery due but held back (its tenant or subscription busy) waits for an
        # attempt to finish, which wakes the loop
        return due, (min(later) if later else None)

    def _release(self, delivery: Delivery) -> None:
        """Caller holds ``_lock``: ``delivery`` is no longer in flight."""
        self._inflight.discard(delivery.delivery_id)
        self._busy_subscriptions.discard(delivery.subscription_id)
        self._busy_tenants[delivery.tenant_id] -= 1
        if self._busy_tenants[delivery.tenant_id] <= 0:
            del self._busy_tenants[delivery.tenant_id]

    def _delivery_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            if not self._loaded.is_set():
                try:
                    sealed = self._store.seal_plaintext_secrets()
                    if sealed:
                        log.info("webhooks: encrypted %d secret(s) stored in plain text", sealed)
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
                        for x in due[i:]:
                            self._release(x)
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
                self._release(delivery)
                if updated.status == "pending":
                    self._pending[delivery.delivery_id] = updated
                else:
                    self._pending.pop(delivery.delivery_id, None)
            self._wake.set()

    def _send(self, sub: Subscription, delivery: Delivery) -> tuple[datetime, AttemptResult]:
        sender = self._sender
        assert sender is not None
        at = self._clock()
        if not sub.secret:
            reason = "signing secret unreadable (was CXPULSE_SECRET_KEY changed?)"
            return at, AttemptResult(status_code=None, error=reason, duration_ms=0.0)
        secrets_ = valid_secrets(sub.secret, sub.previous_secret, sub.previous_secret_until, at)
        headers = signed_headers(str(delivery.delivery_id), secrets_, at, delivery.body)
        return at, sender.send(sub.url, delivery.body, headers)
