"""What a webhook delivery is and how its state moves: pure logic, no I/O.

A :class:`Subscription` says which alerts a tenant endpoint wants (:func:`matches`);
each matching alert becomes one :class:`Delivery` (id: uuid5 of subscription and
alert, so a re-read alert finds its delivery already stored), and
:func:`after_attempt` gives its next state after one HTTP attempt: delivered, retried
after :func:`next_delay` (exponential backoff with full jitter), or dead. Kept free of
ClickHouse and HTTP so every transition is unit-tested directly.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from schemas.results import SEVERITY_RANK, Alert
from sinks.backoff import doubling_delay
from sinks.time_values import as_utc
from sinks.webhooks.body import alert_body

Clock = Callable[[], datetime]
DeliveryStatus = Literal["pending", "delivered", "dead"]
Outcome = Literal["delivered", "retry", "dead"]

MAX_DELAY_S = 3600.0
# A subscription receives the alerts published (Kafka timestamp) from its creation on; the
# grace absorbs clock skew between the producing and the subscribing process, so an alert
# published right around creation is delivered rather than lost.
CREATION_GRACE = timedelta(seconds=60)
_DELIVERY_NAMESPACE = uuid.UUID("0b6f3c52-9a1e-5d47-8c2b-7e4f1a9d3c60")


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    return rng.uniform(0.0, doubling_delay(base, attempt, cap))


@dataclass(frozen=True, slots=True)
class Subscription:
    """One tenant endpoint and what it wants; ``kinds`` empty = every kind.

    ``secret`` signs (empty when the stored one could not be decrypted);
    ``previous_secret`` also signs until ``previous_secret_until`` (after a rotation).
    """

    subscription_id: uuid.UUID
    tenant_id: str
    url: str
    kinds: tuple[str, ...]
    min_severity: str
    secret: str
    created_at: datetime
    previous_secret: str = ""
    previous_secret_until: datetime | None = None


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
