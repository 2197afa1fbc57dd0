"""Subscriptions, deliveries and the attempt log in ClickHouse (``003_webhooks.sql``,
``012_webhook_secrets.sql``).

Every row is versioned (ReplacingMergeTree on ``updated_at``) and read with ``FINAL``,
every query is parameterized and bound to a tenant where a tenant asks, and rows are
read by column name, so a column added to a table cannot shift what a field means.
The API (subscription CRUD, delivery history) and the dispatcher share one store.
Signing secrets are stored sealed (:mod:`sinks.webhooks.secret_box`) and URLs pass the
SSRF guard (:mod:`sinks.webhooks.guard`) before a subscription is stored.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.results import SEVERITY_RANK
from schemas.settings import Settings
from sinks.clickhouse_client import LazyClient, is_embedded, open_client
from sinks.time_values import as_utc
from sinks.webhooks.addresses import AllowList
from sinks.webhooks.deliveries import (
    AttemptResult,
    Clock,
    Delivery,
    Outcome,
    Subscription,
    utc_now,
)
from sinks.webhooks.guard import UrlGuard
from sinks.webhooks.secret_box import SecretBox, SecretUnreadableError, new_key, secret_box
from sinks.webhooks.signing import ROTATION_OVERLAP, new_secret

ClientFactory = Callable[[], Client]
Row = Mapping[str, Any]
log = logging.getLogger(__name__)
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class SubscriptionLimitError(Exception):
    """The tenant already has as many subscriptions as allowed."""


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


_SUB_COLUMNS = (
    "subscription_id, tenant_id, url, kinds, min_severity, secret, secret_sealed, "
    "previous_secret_sealed, previous_secret_until, created_at"
)
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
_COUNT_SUBS_SQL = (
    "SELECT count() AS n FROM webhook_subscriptions FINAL "
    "WHERE tenant_id = {tenant:String} AND NOT deleted"
)
_PLAINTEXT_SQL = (
    f"SELECT {_SUB_COLUMNS}, deleted FROM webhook_subscriptions FINAL WHERE secret != ''"
)
# any stored version, not only the latest: older versions hold it until merged away
_PLAINTEXT_LEFT_SQL = "SELECT count() AS n FROM webhook_subscriptions WHERE secret != ''"
_BLANK_PLAINTEXT_SQL = (
    "ALTER TABLE webhook_subscriptions UPDATE secret = '' WHERE secret != '' "
    "SETTINGS mutations_sync = 2"
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


def _open(box: SecretBox, sealed: str, subscription_id: uuid.UUID) -> str:
    """The secret, or ``""`` when it does not open (logged: the key was changed?)."""
    try:
        return box.open(sealed, subscription_id)
    except SecretUnreadableError:
        log.error("webhook subscription %s: its secret does not decrypt", subscription_id)
        return ""


def _subscription(row: Row, box: SecretBox) -> Subscription:
    sub_id = _uuid(row["subscription_id"])
    sealed, previous = _text(row["secret_sealed"]), _text(row["previous_secret_sealed"])
    until = as_utc(row["previous_secret_until"])
    return Subscription(
        subscription_id=sub_id,
        tenant_id=str(row["tenant_id"]),
        url=str(row["url"]),
        kinds=tuple(str(k) for k in row["kinds"]),
        min_severity=str(row["min_severity"]),
        # a row from before migration 012 holds it in plain text until sealed
        secret=_open(box, sealed, sub_id) if sealed else _text(row["secret"]),
        created_at=as_utc(row["created_at"]),
        previous_secret=_open(box, previous, sub_id) if previous else "",
        previous_secret_until=None if until <= _NO_TIME else until,
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
    first use (and again after :meth:`close`). ``box`` seals secrets (default: a key of
    this store's own, for throwaway stores; :func:`default_store` passes the configured
    one), ``guard`` checks URLs (default: no private targets, https only),
    ``max_subscriptions`` caps each tenant, ``clock`` dates rotations. Active
    subscriptions are cached for ``subscription_ttl_s`` (and dropped on every change
    made through this store), so the
    dispatcher's per-batch lookups cost no query while a subscription made by another
    process is seen within that time.

    It is also a background service (``start`` does nothing, ``stop`` closes the client),
    so an app can hand it to ``create_app(services=[...])`` to have it closed on shutdown.
    """

    def __init__(
        self,
        open_client: ClientFactory,
        *,
        subscription_ttl_s: float = 1.0,
        box: SecretBox | None = None,
        guard: UrlGuard | None = None,
        max_subscriptions: int = 25,
        clock: Clock = utc_now,
    ) -> None:
        self._lazy = LazyClient(open_client)
        self._box = box if box is not None else SecretBox.from_text(new_key())
        self._guard = guard if guard is not None else UrlGuard()
        self._max_subscriptions = max_subscriptions
        self._clock = clock
        self._create_lock = threading.Lock()
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
        """A new subscription of ``tenant_id`` with a fresh secret (returned only here).

        ``BlockedUrlError`` if the SSRF guard refuses ``url``; :class:`SubscriptionLimitError`
        past ``max_subscriptions`` (checked under a lock: exact within this process).
        """
        if min_severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {min_severity!r}")
        self._guard.check(url)
        with self._create_lock:
            (row,) = self._rows(_COUNT_SUBS_SQL, {"tenant": tenant_id})
            if int(row["n"]) >= self._max_subscriptions:
                raise SubscriptionLimitError(
                    f"a tenant has at most {self._max_subscriptions} subscriptions"
                )
            version = self._version()
            sub = Subscription(
                subscription_id=uuid.uuid4(),
                tenant_id=tenant_id,
                url=url,
                kinds=tuple(sorted(set(kinds))),
                min_severity=min_severity,
                secret=new_secret(),
                created_at=version,
            )
            self._write_subscription(sub, version, deleted=False)
        return sub

    def rotate_secret(self, tenant_id: str, subscription_id: uuid.UUID) -> str | None:
        """A new secret for the subscription (returned only here); the current one keeps
        signing for :data:`ROTATION_OVERLAP` (an older previous one stops at once).
        ``None`` if the tenant has no such subscription."""
        sub = self.get_subscription(tenant_id, subscription_id)
        if sub is None:
            return None
        rotated = replace(
            sub,
            secret=new_secret(),
            previous_secret=sub.secret,
            previous_secret_until=self._clock() + ROTATION_OVERLAP,
        )
        self._write_subscription(rotated, self._version(), deleted=False)
        return rotated.secret

    def _write_subscription(self, sub: Subscription, version: datetime, deleted: bool) -> None:
        def seal(secret: str) -> str:
            return "" if deleted or not secret else self._box.seal(secret, sub.subscription_id)

        until = sub.previous_secret_until if sub.previous_secret and not deleted else None
        row = {
            "subscription_id": sub.subscription_id,
            "tenant_id": sub.tenant_id,
            "url": sub.url,
            "kinds": list(sub.kinds),
            "min_severity": sub.min_severity,
            "secret": "",  # never in plain text (the column predates 012)
            "secret_sealed": seal(sub.secret),
            "previous_secret_sealed": seal(sub.previous_secret),
            "previous_secret_until": until or _NO_TIME,
            "created_at": sub.created_at,
            "updated_at": version,
            "deleted": deleted,
        }
        try:
            self._insert("webhook_subscriptions", [list(row.values())], list(row))
        finally:
            self.invalidate_subscriptions()

    def seal_plaintext_secrets(self) -> int:
        """Encrypt the secrets stored in plain text before migration 012, then blank the
        plain-text column in every stored version; returns how many were sealed."""
        rows = self._rows(_PLAINTEXT_SQL)
        for row in rows:
            self._write_subscription(
                _subscription(row, self._box), self._version(), deleted=bool(row["deleted"])
            )
        (left,) = self._rows(_PLAINTEXT_LEFT_SQL)
        if int(left["n"]):
            self._get_client().command(_BLANK_PLAINTEXT_SQL)
        return len(rows)

    def list_subscriptions(self, tenant_id: str) -> list[Subscription]:
        """The tenant's active subscriptions, oldest first."""
        rows = self._rows(_TENANT_SUBS_SQL, {"tenant": tenant_id})
        return [_subscription(r, self._box) for r in rows]

    def get_subscription(self, tenant_id: str, subscription_id: uuid.UUID) -> Subscription | None:
        """The tenant's active subscription with this id; ``None`` if deleted or not theirs."""
        rows = self._rows(_ONE_SUB_SQL, {"tenant": tenant_id, "id": subscription_id})
        return _subscription(rows[0], self._box) if rows else None

    def delete_subscription(self, tenant_id: str, subscription_id: uuid.UUID) -> bool:
        """Delete (tombstone, secrets blanked); ``False`` if the tenant has no such one.

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
                    s.subscription_id: s
                    for s in (_subscription(r, self._box) for r in self._rows(_ACTIVE_SUBS_SQL))
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


def default_store(settings: Settings, *, clock: Clock = utc_now) -> WebhookStore:
    """A store on ``settings.dsn`` / ``settings.clickhouse_database``, opened lazily, with
    the configured secret key (``MissingSecretKeyError`` without one, see
    :func:`~sinks.webhooks.secret_box.secret_box`), SSRF guard and subscription cap."""
    dsn, database = settings.dsn, settings.clickhouse_database
    # Over HTTP one client serves many threads: no shared server session.
    extra: dict[str, Any] = {} if is_embedded(dsn) else {"autogenerate_session_id": False}

    def factory() -> Client:
        return open_client(dsn, database, **extra)

    return WebhookStore(
        factory,
        box=secret_box(settings),
        guard=UrlGuard(
            AllowList.parse(settings.webhook_allowed_hosts),
            allow_http=settings.webhook_allow_http,
        ),
        max_subscriptions=settings.webhook_max_subscriptions,
        clock=clock,
    )
