"""Public request and response models of the webhook subscription API."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.models import UtcDatetime
from schemas.results import AlertKind, AlertSeverity
from sinks.webhooks.policy import MAX_URL_LENGTH, validate_url

DeliveryStatusName = Literal["pending", "delivered", "dead"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class SubscriptionCreate(BaseModel):
    """A new webhook subscription."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)] = Field(
        description="https endpoint each matching alert is POSTed to; its host must resolve "
        "to public addresses (private targets only where the operator allows them)",
        examples=["https://hooks.example.com/cxpulse"],
    )
    kinds: list[AlertKind] | None = Field(
        default=None, description="Only alerts of these kinds; omitted, null or empty: every kind"
    )
    min_severity: AlertSeverity = Field(
        default="info", description="Only alerts at least this severe"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        return validate_url(v)


_SIGNATURE_KEY_DOC = (
    "Key of X-Cxpulse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "
    "'<t>.<raw body>')>; shown only in this answer"
)


class SubscriptionCreated(_Out):
    """The new subscription's id and signing secret (the only time the secret is shown)."""

    id: UUID
    secret: str = Field(description=_SIGNATURE_KEY_DOC)


class SubscriptionSecret(_Out):
    """The subscription's new signing secret (the only time it is shown)."""

    id: UUID
    secret: str = Field(description=_SIGNATURE_KEY_DOC)


class SubscriptionItem(_Out):
    """One subscription (never its secret)."""

    id: UUID
    url: str
    kinds: list[AlertKind] = Field(description="Alert kinds delivered; empty: every kind")
    min_severity: AlertSeverity
    created_at: UtcDatetime = Field(
        description="Alerts published from (about) this time on are delivered"
    )


class SubscriptionList(_Out):
    items: list[SubscriptionItem]


class AttemptItem(_Out):
    """One HTTP attempt of a delivery."""

    attempt: int = Field(description="Attempt number, from 1")
    at: UtcDatetime = Field(description="When the request was sent")
    status_code: int | None = Field(description="HTTP status answered; null without an answer")
    error: str = Field(
        description="Why it failed, in cxpulse's words (timeout, connection refused, blocked "
        "address, 'HTTP 503 Service Unavailable'...): never the receiver's answer; empty if not"
    )
    duration_ms: float
    outcome: Literal["delivered", "retry", "dead"]


class DeliveryItem(_Out):
    """One alert delivered (or being delivered) to the subscription."""

    delivery_id: UUID = Field(description="Sent as X-Cxpulse-Delivery, the same on every attempt")
    alert_id: UUID
    status: DeliveryStatusName = Field(
        description="pending (next attempt at next_attempt_at), delivered (2xx), or dead "
        "(attempts exhausted, or subscription deleted)"
    )
    attempts: int = Field(description="HTTP attempts made")
    next_attempt_at: UtcDatetime | None = Field(
        description="When the next attempt is due; null unless pending"
    )
    last_status_code: int | None
    last_error: str = Field(description="Why the latest attempt failed (see attempt_log.error)")
    created_at: UtcDatetime
    updated_at: UtcDatetime
    attempt_log: list[AttemptItem] = Field(description="Every attempt, oldest first")


class DeliveryList(_Out):
    items: list[DeliveryItem]
