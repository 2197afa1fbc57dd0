"""Webhooks: every matching alert POSTed to each tenant endpoint, signed, retried, at least once.

Three parts:

* pure logic: :func:`sign` / :func:`verify` (``X-Cxpulse-Signature``), :func:`next_delay`
  (exponential backoff with full jitter), :func:`matches` (alert vs subscription filters),
  :func:`after_attempt` (a delivery's next state after one HTTP attempt);
* :class:`WebhookStore`: subscriptions, deliveries and the attempt log in ClickHouse
  (``003_webhooks.sql``), tenant-bound parameterized queries, ``FINAL`` reads;
* :class:`WebhookDispatcher`: an API background service with two threads. The consumer
  reads ``<prefix>alerts`` in the group ``cxpulse-webhooks-<prefix>`` and stores one
  delivery per (matching subscription, alert) *before* committing the offsets, so an alert
  is never lost: after a crash it is read again and, since the delivery id is the uuid5 of
  (subscription, alert), finds its delivery already stored. The delivery loop loads every
  pending delivery at start (a restart resumes them), sends the due ones from a small
  thread pool, records each attempt and reschedules (backoff) or ends it (delivered/dead).

Receivers get the same ``X-Cxpulse-Delivery`` and the same body on every attempt and
should deduplicate on it: delivery is at least once (a crash between a 2xx answer and
recording it means one more attempt).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import pydantic_core
from clickhouse_connect.driver.client import Client
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, Message
from pydantic import ValidationError

from schemas.results import SEVERITY_RANK, Alert
from schemas.settings import Settings
from sinks.clickhouse_client import LazyClient, is_embedded, open_client
from sinks.metrics import WEBHOOK_DELIVERIES
from sinks.time_values import as_utc

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")

ClientFactory = Callable[[], Client]
Clock = Callable[[], datetime]
DeliveryStatus = Literal["pending", "delivered", "dead"]
Outcome = Literal["delivered", "retry", "dead"]

SIGNATURE_PREFIX = "sha256="
MAX_URL_LENGTH = 2048
MAX_DELAY_S = 3600.0
# A subscription receives the alerts published (Kafka timestamp) from its creation on; the
# grace absorbs clock skew between the producing and the subscribing process, so an alert
# published right around creation is delivered rather than lost.
CREATION_GRACE = timedelta(seconds=60)
USER_AGENT = "cxpulse-webhooks/1"
_DELIVERY_NAMESPACE = uuid.UUID("0b6f3c52-9a1e-5d47-8c2b-7e4f1a9d3c60")
_ERROR_SNIPPET = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- pure logic -------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body keyed with secret>``: the X-Cxpulse-Signature."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is :func:`sign` of ``body`` (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body).encode(), signature.encode())


def new_secret() -> str:
    """A fresh signing secret (256 random bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def delivery_id(subscription_id: uuid.UUID, alert_id: uuid.UUID) -> uuid.UUID:
    """Deterministic: the same alert for the same subscription is always one delivery."""
    return uuid.uuid5(_DELIVERY_NAMESPACE, f"{subscription_id}/{alert_id}")


def next_delay(attempt: int, base: float, rng: random.Random, cap: float = MAX_DELAY_S) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (from 1): full jitter.

    Uniform in ``[0, min(cap, base * 2^(attempt - 1))]``: the ceiling doubles with every
    failure, the jitter spreads retries of many deliveries apart.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return rng.uniform(0.0, ceiling)


def validate_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL with a host; ``ValueError`` otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"URL longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("URL must not contain whitespace or control characters")
    try:
        url.encode()
    except UnicodeEncodeError:
        raise ValueError("URL is not valid Unicode") from None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("only http and https URLs are accepted")
    if not parts.hostname:
        raise ValueError("URL needs a host")
    _ = parts.port  # raises ValueError on a malformed or out-of-range port
    return url


@dataclass(frozen=True, slots=True)
class Subscription:
    """One tenant endpoint and what it wants; ``kinds`` empty = every kind."""

    subscription_id: uuid.UUID
    tenant_id: str
    url: str
    kinds: tuple[str, ...]
    min_severity: str
    secret: str
    created_at: datetime


def matches(sub: Subscription, alert: Alert, published_at: datetime | None = None) -> bool:
    """Whether ``alert`` goes to ``sub``: same tenant, a wanted kind, severity at least
    ``min_severity``, and (when ``published_at`` is known) published no earlier than the
    subscription's creation minus :data:`CREATION_GRACE`."""
    if alert.tenant_id != sub.tenant_id:
        return False
    if sub.kinds and alert.kind not in sub.kinds:
        return False
    if SEVERITY_RANK[alert.severity] < SEVERITY_RANK.get(sub.min_severity, 0):
        return False
    return published_at is None or as_utc(published_at) >= sub.created_at - CREATION_GRACE


def alert_body(alert: Alert) -> bytes:
    """The JSON body POSTed: the alert exactly as ``GET /v1/alerts`` serves an item."""
    doc: dict[str, Any] = {
        "alert_id": str(alert.alert_id),
        "tenant_id": alert.tenant_id,
        "kind": alert.kind,
        "severity": alert.severity,
        "subject_type": alert.subject_type,
        "subject_id": alert.subject_id,
        "title": alert.title,
        "details": alert.details,
        "event_time": as_utc(alert.event_time).isoformat(),
        "fired_at": as_utc(alert.fired_at).isoformat(),
    }
    return pydantic_core.to_json(doc)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One alert to one subscription, in its latest state."""

    delivery_id: uuid.UUID
    subscription_id: uuid.UUID
    tenant_id: str
    alert_id: uuid.UUID
    body: bytes
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    created_at: datetime


def new_delivery(sub: Subscription, alert: Alert, now: datetime) -> Delivery:
    """A pending delivery of ``alert`` to ``sub``, due at once."""
    return Delivery(
        delivery_id=delivery_id(sub.subscription_id, alert.alert_id),
        subscription_id=sub.subscription_id,
        tenant_id=sub.tenant_id,
        alert_id=alert.alert_id,
        body=alert_body(alert),
        status="pending",
        attempts=0,
        next_attempt_at=now,
        last_status_code=None,
        last_error="",
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one HTTP attempt got: a status code (``None`` without an answer) or an error."""

    status_code: int | None
    error: str
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def after_attempt(
    delivery: Delivery,
    result: AttemptResult,
    now: datetime,
    *,
    max_attempts: int,
    base: float,
    rng: random.Random,
) -> tuple[Delivery, Outcome]:
    """The delivery's state after one more attempt that ended at ``now``, and the outcome.

    2xx: delivered. Otherwise, once ``max_attempts`` attempts are made: dead; before
    that: still pending, due after :func:`next_delay`.
    """
    attempts = delivery.attempts + 1
    done = replace(
        delivery,
        attempts=attempts,
        last_status_code=result.status_code,
        last_error="" if result.ok else result.error,
    )
    if result.ok:
        return replace(done, status="delivered"), "delivered"
    if attempts >= max_attempts:
        return replace(done, status="dead"), "dead"
    delay = next_delay(attempts, base, rng)
    return replace(done, next_attempt_at=now + timedelta(seconds=delay)), "retry"


# --- storage ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One row of the attempt log."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str
    duration_ms: float
    outcome: str


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A delivery's latest state, when it was last changed, and its attempts, oldest first."""

    delivery: Delivery
    updated_at: datetime
    attempt_log: list[AttemptRecord]


_SUB_COLUMNS = "subscription_id, tenant_id, url, kinds, min_severity, secret, created_at"
_SUB_INSERT = [*_SUB_COLUMNS.split(", "), "updated_at", "deleted"]
_DELIVERY_COLUMNS = (
    "delivery_id, subscription_id, tenant_id, alert_id, body, status, attempts, "
    "next_attempt_at, last_status_code, last_error, created_at"
)
_DELIVERY_INSERT = [*_DELIVERY_COLUMNS.split(", "), "updated_at"]
_ATTEMPT_INSERT = [
    "delivery_id",
    "subscription_id",
    "tenant_id",
    "attempt",
    "at",
    "status_code",
    "error",
    "duration_ms",
    "outcome",
]
# WHERE after FINAL filters the merged (latest) rows; the tenant/subscription conditions
# are on the sorting key, so they also prune what FINAL reads.
_ACTIVE_SUBS_SQL = (
    f"SELECT {_SUB_COLUMNS} FROM webhook_subscriptions FINAL WHERE NOT deleted "
    "ORDER BY tenant_id, created_at, subscription_id"
)
_TENANT_SUBS_SQL = (
    f"SELECT {_SUB_COLUMNS} FROM webhook_subscriptions FINAL "
    "WHERE tenant_id = {tenant:String} AND NOT deleted ORDER BY created_at, subscription_id"
)
_ONE_SUB_SQL = (
    f"SELECT {_SUB_COLUMNS} FROM webhook_subscriptions FINAL "
    "WHERE tenant_id = {tenant:String} AND subscription_id = {id:UUID} AND NOT deleted"
)
_EXISTING_DELIVERIES_SQL = (
    "SELECT DISTINCT delivery_id FROM webhook_deliveries "
    "WHERE tenant_id IN {tenants:Array(String)} AND subscription_id IN {subs:Array(UUID)} "
    "AND delivery_id IN {ids:Array(UUID)}"
)
_PENDING_SQL = (
    f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries FINAL "
    "WHERE status = 'pending' ORDER BY next_attempt_at, delivery_id"
)
_ATTEMPTS_SQL = (
    "SELECT delivery_id, attempt, at, status_code, error, duration_ms, outcome "
    "FROM webhook_attempts WHERE tenant_id = {tenant:String} AND subscription_id = {sub:UUID} "
    "AND delivery_id IN {ids:Array(UUID)} ORDER BY at, attempt"
)


def _uuid(raw: Any) -> uuid.UUID:
    return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)


def _subscription(row: Sequence[Any]) -> Subscription:
    sub_id, tenant, url, kinds, min_severity, secret, created_at = row
    return Subscription(
        subscription_id=_uuid(sub_id),
        tenant_id=str(tenant),
        url=str(url),
        kinds=tuple(str(k) for k in kinds),
        min_severity=str(min_severity),
        secret=_text(secret),
        created_at=as_utc(created_at),
    )


def _delivery(row: Sequence[Any]) -> Delivery:
    (
        d_id,
        sub_id,
        tenant,
        alert_id,
        body,
        status,
        attempts,
        next_at,
        code,
        error,
        created_at,
    ) = row
    status_ = str(status)
    if status_ not in ("pending", "delivered", "dead"):
        raise ValueError(f"unknown delivery status {status_!r}")
    return Delivery(
        delivery_id=_uuid(d_id),
        subscription_id=_uuid(sub_id),
        tenant_id=str(tenant),
        alert_id=_uuid(alert_id),
        body=body.encode() if isinstance(body, str) else bytes(body),
        status=status_,  # type: ignore[arg-type]  # checked above
        attempts=int(attempts),
        next_attempt_at=as_utc(next_at),
        last_status_code=None if code is None else int(code),
        last_error=_text(error),
        created_at=as_utc(created_at),
    )


class WebhookStore:
    """Subscriptions, deliveries and attempts in ClickHouse; safe to share between threads.

    ``open_client`` must return a client bound to the cxpulse database; it is opened on
    first use (and again after :meth:`close`). Active subscriptions are cached for
    ``subscription_ttl_s`` (and dropped on every change made through this store), so the
    dispatcher's per-batch lookups cost no query while a subscription made by another
    process is seen within that time.

    It is also a background service (``start`` does nothing, ``stop`` closes the client),
    so an app can hand it to ``create_app(services=[...])`` to have it closed on shutdown.
    """

    def __init__(self, open_client: ClientFactory, *, subscription_ttl_s: float = 1.0) -> None:
        self._lazy = LazyClient(open_client)
        self._ttl_s = subscription_ttl_s
        self._cache: dict[uuid.UUID, Subscription] | None = None
        self._cache_at = 0.0
        self._cache_lock = threading.Lock()
        self._last_version = datetime.min.replace(tzinfo=UTC)
        self._version_lock = threading.Lock()

    # -- plumbing

    async def start(self) -> None:
        """Nothing to start: the client opens on first use."""

    async def stop(self) -> None:
        self.close()

    def close(self) -> None:
        self._lazy.close()

    def _get_client(self) -> Client:
        return self._lazy.get()

    def _rows(self, sql: str, parameters: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        rows: Sequence[Sequence[Any]] = (
            self._get_client().query(sql, parameters=parameters or {}).result_rows
        )
        return rows

    def _insert(self, table: str, rows: list[list[Any]], columns: list[str]) -> None:
        if rows:
            self._get_client().insert(table, rows, column_names=columns)

    def _version(self) -> datetime:
        """A row version: wall-clock time, strictly increasing within this store."""
        with self._version_lock:
            now = utc_now()
            if now <= self._last_version:
                now = self._last_version + timedelta(microseconds=1)
            self._last_version = now
            return now

    # -- subscriptions

    def create_subscription(
        self, tenant_id: str, url: str, kinds: Iterable[str] = (), min_severity: str = "info"
    ) -> Subscription:
        """A new subscription of ``tenant_id`` with a fresh secret (returned only here)."""
        if min_severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {min_severity!r}")
        version = self._version()
        sub = Subscription(
            subscription_id=uuid.uuid4(),
            tenant_id=tenant_id,
            url=validate_url(url),
            kinds=tuple(sorted(set(kinds))),
            min_severity=min_severity,
            secret=new_secret(),
            created_at=version,
        )
        self._write_subscription(sub, version, deleted=False)
        return sub

    def _write_subscription(self, sub: Subscription, version: datetime, deleted: bool) -> None:
        row = [
            sub.subscription_id,
            sub.tenant_id,
            sub.url,
            list(sub.kinds),
            sub.min_severity,
            "" if deleted else sub.secret,
            sub.created_at,
            version,
            deleted,
        ]
        try:
            self._insert("webhook_subscriptions", [row], _SUB_INSERT)
        finally:
            self.invalidate_subscriptions()

    def list_subscriptions(self, tenant_id: str) -> list[Subscription]:
        """The tenant's active subscriptions, oldest first."""
        return [_subscription(r) for r in self._rows(_TENANT_SUBS_SQL, {"tenant": tenant_id})]

    def get_subscription(self, tenant_id: str, subscription_id: uuid.UUID) -> Subscription | None:
        """The tenant's active subscription with this id; ``None`` if deleted or not theirs."""
        rows = self._rows(_ONE_SUB_SQL, {"tenant": tenant_id, "id": subscription_id})
        return _subscription(rows[0]) if rows else None

    def delete_subscription(self, tenant_id: str, subscription_id: uuid.UUID) -> bool:
        """Delete (tombstone, secret blanked); ``False`` if the tenant has no such one.

        Its pending deliveries end as ``dead`` ("subscription deleted") when next due.
        """
        sub = self.get_subscription(tenant_id, subscription_id)
        if sub is None:
            return False
        self._write_subscription(sub, self._version(), deleted=True)
        return True

    def invalidate_subscriptions(self) -> None:
        with self._cache_lock:
            self._cache = None

    def active_subscriptions(self) -> dict[uuid.UUID, Subscription]:
        """Every tenant's active subscriptions by id (cached, see the class doc)."""
        with self._cache_lock:
            if self._cache is None or time.monotonic() - self._cache_at > self._ttl_s:
                self._cache = {
                    s.subscription_id: s for s in map(_subscription, self._rows(_ACTIVE_SUBS_SQL))
                }
                self._cache_at = time.monotonic()
            return self._cache

    # -- deliveries

    def add_deliveries(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Store the deliveries not stored before (by id); returns the ones stored now."""
        fresh = list({d.delivery_id: d for d in deliveries}.values())
        if not fresh:
            return []
        params = {
            "tenants": sorted({d.tenant_id for d in fresh}),
            "subs": sorted({d.subscription_id for d in fresh}),
            "ids": [d.delivery_id for d in fresh],
        }
        existing = {_uuid(r[0]) for r in self._rows(_EXISTING_DELIVERIES_SQL, params)}
        new = [d for d in fresh if d.delivery_id not in existing]
        version = self._version()
        self._insert(
            "webhook_deliveries", [self._delivery_row(d, version) for d in new], _DELIVERY_INSERT
        )
        return new

    @staticmethod
    def _delivery_row(d: Delivery, version: datetime) -> list[Any]:
        return [
            d.delivery_id,
            d.subscription_id,
            d.tenant_id,
            d.alert_id,
            d.body.decode(),
            d.status,
            d.attempts,
            d.next_attempt_at,
            d.last_status_code,
            d.last_error,
            d.created_at,
            version,
        ]

    def save_delivery(self, delivery: Delivery) -> None:
        """Write the delivery's new state (a new version of its row)."""
        self._insert(
            "webhook_deliveries", [self._delivery_row(delivery, self._version())], _DELIVERY_INSERT
        )

    def record_attempt(
        self, delivery: Delivery, at: datetime, result: AttemptResult, outcome: Outcome
    ) -> None:
        """Append attempt number ``delivery.attempts`` to the attempt log."""
        row = [
            delivery.delivery_id,
            delivery.subscription_id,
            delivery.tenant_id,
            delivery.attempts,
            at,
            result.status_code,
            result.error,
            result.duration_ms,
            outcome,
        ]
        self._insert("webhook_attempts", [row], _ATTEMPT_INSERT)

    def pending_deliveries(self) -> list[Delivery]:
        """Every pending delivery of every tenant, soonest due first."""
        return [_delivery(r) for r in self._rows(_PENDING_SQL)]

    def deliveries(
        self,
        tenant_id: str,
        subscription_id: uuid.UUID,
        status: str | None = None,
        limit: int = 100,
    ) -> list[DeliveryView]:
        """The subscription's deliveries, newest first, each with its attempt log."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where = ["tenant_id = {tenant:String}", "subscription_id = {sub:UUID}"]
        params: dict[str, Any] = {"tenant": tenant_id, "sub": subscription_id, "limit": limit}
        if status is not None:
            where.append("status = {status:String}")
            params["status"] = status
        sql = (
            f"SELECT {_DELIVERY_COLUMNS}, updated_at FROM webhook_deliveries FINAL "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, delivery_id LIMIT {limit:UInt32}"
        )
        rows = self._rows(sql, params)
        if not rows:
            return []
        views = [(_delivery(r[:-1]), as_utc(r[-1])) for r in rows]
        log_rows = self._rows(
            _ATTEMPTS_SQL,
            {
                "tenant": tenant_id,
                "sub": subscription_id,
                "ids": [d.delivery_id for d, _ in views],
            },
        )
        by_delivery: dict[uuid.UUID, list[AttemptRecord]] = {}
        for d_id, attempt, at, code, error, duration, outcome in log_rows:
            by_delivery.setdefault(_uuid(d_id), []).append(
                AttemptRecord(
                    attempt=int(attempt),
                    at=as_utc(at),
                    status_code=None if code is None else int(code),
                    error=_text(error),
                    duration_ms=float(duration),
                    outcome=str(outcome),
                )
            )
        return [
            DeliveryView(delivery=d, updated_at=u, attempt_log=by_delivery.get(d.delivery_id, []))
            for d, u in views
        ]


def default_store(settings: Settings) -> WebhookStore:
    """A store on ``settings.dsn`` / ``settings.clickhouse_database``, opened lazily."""
    dsn, database = settings.dsn, settings.clickhouse_database
    # Over HTTP one client serves many threads: no shared server session.
    extra: dict[str, Any] = {} if is_embedded(dsn) else {"autogenerate_session_id": False}

    def factory() -> Client:
        return open_client(dsn, database, **extra)

    return WebhookStore(factory)


# --- the dispatcher ---------------------------------------------------------------------


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
                "bootstrap.servers": self._settings.kafka_bootstrap,
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
        if value is None:
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
