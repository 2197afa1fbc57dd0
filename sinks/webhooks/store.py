"""Subscriptions, deliveries and the attempt log in ClickHouse (``003_webhooks.sql``).

Every row is versioned (ReplacingMergeTree on ``updated_at``) and read with ``FINAL``,
every query is parameterized and bound to a tenant where a tenant asks, and rows are
read by column name, so a column added to a table cannot shift what a field means.
The API (subscription CRUD, delivery history) and the dispatcher share one store.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.results import SEVERITY_RANK
from schemas.settings import Settings
from sinks.clickhouse_client import LazyClient, is_embedded, open_client
from sinks.time_values import as_utc
from sinks.webhooks.deliveries import (
    AttemptResult,
    Delivery,
    Outcome,
    Subscription,
    utc_now,
)
from sinks.webhooks.policy import validate_url
from sinks.webhooks.signing import new_secret

ClientFactory = Callable[[], Client]
Row = Mapping[str, Any]


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


def _subscription(row: Row) -> Subscription:
    return Subscription(
        subscription_id=_uuid(row["subscription_id"]),
        tenant_id=str(row["tenant_id"]),
        url=str(row["url"]),
        kinds=tuple(str(k) for k in row["kinds"]),
        min_severity=str(row["min_severity"]),
        secret=_text(row["secret"]),
        created_at=as_utc(row["created_at"]),
    )


def _delivery(row: Row) -> Delivery:
    status = str(row["status"])
    if status not in ("pending", "delivered", "dead"):
        raise ValueError(f"unknown delivery status {status!r}")
    body, code = row["body"], row["last_status_code"]
    return Delivery(
        delivery_id=_uuid(row["delivery_id"]),
        subscription_id=_uuid(row["subscription_id"]),
        tenant_id=str(row["tenant_id"]),
        alert_id=_uuid(row["alert_id"]),
        body=body.encode() if isinstance(body, str) else bytes(body),
        status=status,  # type: ignore[arg-type]  # checked above
        attempts=int(row["attempts"]),
        next_attempt_at=as_utc(row["next_attempt_at"]),
        last_status_code=None if code is None else int(code),
        last_error=_text(row["last_error"]),
        created_at=as_utc(row["created_at"]),
    )


def _attempt(row: Row) -> AttemptRecord:
    code = row["status_code"]
    return AttemptRecord(
        attempt=int(row["attempt"]),
        at=as_utc(row["at"]),
        status_code=None if code is None else int(code),
        error=_text(row["error"]),
        duration_ms=float(row["duration_ms"]),
        outcome=str(row["outcome"]),
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

    def _rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Row]:
        """The rows of ``sql``, each by column name (never by position)."""
        result = self._get_client().query(sql, parameters=parameters or {})
        return list(result.named_results())

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
        existing = {_uuid(r["delivery_id"]) for r in self._rows(_EXISTING_DELIVERIES_SQL, params)}
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
        views = [(_delivery(r), as_utc(r["updated_at"])) for r in rows]
        log_rows = self._rows(
            _ATTEMPTS_SQL,
            {
                "tenant": tenant_id,
                "sub": subscription_id,
                "ids": [d.delivery_id for d, _ in views],
            },
        )
        by_delivery: dict[uuid.UUID, list[AttemptRecord]] = {}
        for r in log_rows:
            by_delivery.setdefault(_uuid(r["delivery_id"]), []).append(_attempt(r))
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
