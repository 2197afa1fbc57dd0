"""Webhook subscriptions of the caller's tenant, and their deliveries.

Mounted by :func:`install` (the app works without it). Every route is scoped to the
tenant of the API key: another tenant's subscription id is a 404, like an unknown one.
A secret is in an answer twice only: creating the subscription and rotating its secret.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from api.deps import Limit, TenantDep, WriteTenantDep
from api.models import UNAUTHORIZED, ErrorOut
from api.webhook_models import (
    AttemptItem,
    DeliveryItem,
    DeliveryList,
    DeliveryStatusName,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionItem,
    SubscriptionList,
    SubscriptionSecret,
)
from sinks.webhooks.deliveries import Subscription
from sinks.webhooks.guard import BlockedUrlError
from sinks.webhooks.store import DeliveryView, SubscriptionLimitError, WebhookStore

TAG = {
    "name": "webhooks",
    "description": "Alerts POSTed to your endpoints: signed (X-Cxpulse-Signature: "
    "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>), retried with backoff, "
    "at least once (deduplicate on X-Cxpulse-Delivery). Endpoints must be public https URLs.",
}

router = APIRouter(prefix="/v1/subscriptions", tags=["webhooks"], responses=UNAUTHORIZED)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "The caller's tenant has no such subscription"}
}


def get_store(request: Request) -> WebhookStore:
    store: WebhookStore = request.app.state.webhook_store
    return store


StoreDep = Annotated[WebhookStore, Depends(get_store)]


def _not_found() -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no such subscription")


def _item(sub: Subscription) -> SubscriptionItem:
    return SubscriptionItem(
        id=sub.subscription_id,
        url=sub.url,
        kinds=list(sub.kinds),
        min_severity=sub.min_severity,
        created_at=sub.created_at,
    )


def _delivery(view: DeliveryView) -> DeliveryItem:
    d = view.delivery
    return DeliveryItem(
        delivery_id=d.delivery_id,
        alert_id=d.alert_id,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=d.created_at,
        updated_at=view.updated_at,
        attempt_log=[
            AttemptItem(
                attempt=a.attempt,
                at=a.at,
                status_code=a.status_code,
                error=a.error,
                duration_ms=a.duration_ms,
                outcome=a.outcome,
            )
            for a in view.attempt_log
        ],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionCreated,
    responses={
        400: {"model": ErrorOut, "description": "The body is not parseable JSON"},
        409: {"model": ErrorOut, "description": "The tenant has the most subscriptions allowed"},
    },
    summary="Subscribe an endpoint to the tenant's alerts",
)
def create_subscription(
    body: SubscriptionCreate, tenant: WriteTenantDep, store: StoreDep, response: Response
) -> SubscriptionCreated:
    """Every alert of the tenant published from now on that matches ``kinds`` and
    ``min_severity`` is POSTed to ``url`` as JSON (the alert as ``GET /v1/alerts`` serves
    it). The answer holds the signing secret: it is not shown again.

    The URL must be ``https`` and its host must resolve to public addresses only
    (loopback, private, link-local, metadata... are a 422), unless the operator allowed
    it (``CXPULSE_WEBHOOK_ALLOWED_HOSTS``); it is checked again before every attempt.
    Past ``CXPULSE_WEBHOOK_MAX_SUBSCRIPTIONS`` per tenant: 409."""
    try:
        sub = store.create_subscription(tenant, body.url, body.kinds or (), body.min_severity)
    except BlockedUrlError as exc:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "url"), "msg": str(exc), "input": body.url}]
        ) from None
    except SubscriptionLimitError as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from None
    response.headers["Location"] = f"{router.prefix}/{sub.subscription_id}"
    return SubscriptionCreated(id=sub.subscription_id, secret=sub.secret)


@router.get("", response_model=SubscriptionList, summary="The tenant's subscriptions")
def list_subscriptions(tenant: TenantDep, store: StoreDep) -> SubscriptionList:
    """Active subscriptions, oldest first (secrets are never listed)."""
    return SubscriptionList(items=[_item(s) for s in store.list_subscriptions(tenant)])


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionItem,
    responses=NOT_FOUND,
    summary="One subscription",
)
def get_subscription(subscription_id: UUID, tenant: TenantDep, store: StoreDep) -> SubscriptionItem:
    sub = store.get_subscription(tenant, subscription_id)
    if sub is None:
        raise _not_found()
    return _item(sub)


@router.delete(
    "/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND,
    summary="Delete a subscription",
)
def delete_subscription(subscription_id: UUID, tenant: WriteTenantDep, store: StoreDep) -> Response:
    """Nothing more is delivered to it; its pending deliveries end as ``dead``."""
    if not store.delete_subscription(tenant, subscription_id):
        raise _not_found()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{subscription_id}/rotate-secret",
    response_model=SubscriptionSecret,
    responses=NOT_FOUND,
    summary="Replace the signing secret; the old one keeps signing for 24 h",
)
def rotate_secret(
    subscription_id: UUID, tenant: WriteTenantDep, store: StoreDep
) -> SubscriptionSecret:
    """A new signing secret, shown this once. For 24 hours every delivery is signed with
    both (two ``v1=`` values in X-Cxpulse-Signature), so receivers can switch to the new
    secret at their pace; a second rotation within that time ends the oldest at once."""
    secret = store.rotate_secret(tenant, subscription_id)
    if secret is None:
        raise _not_found()
    return SubscriptionSecret(id=subscription_id, secret=secret)


@router.get(
    "/{subscription_id}/deliveries",
    response_model=DeliveryList,
    responses=NOT_FOUND,
    summary="Deliveries of a subscription, with every attempt",
)
def list_deliveries(
    subscription_id: UUID,
    tenant: TenantDep,
    store: StoreDep,
    status_: Annotated[
        DeliveryStatusName | None, Query(alias="status", description="Only this status")
    ] = None,
    limit: Limit = 100,
) -> DeliveryList:
    """Newest first. A delivery is retried on a non-2xx answer, a timeout or a connection
    error, waiting up to ``base * 2^(n-1)`` seconds (full jitter) after the n-th failure,
    and ends ``dead`` after the last allowed attempt."""
    if store.get_subscription(tenant, subscription_id) is None:
        raise _not_found()
    views = store.deliveries(tenant, subscription_id, status=status_, limit=limit)
    return DeliveryList(items=[_delivery(v) for v in views])


def install(app: FastAPI, store: WebhookStore) -> None:
    """Mount the subscription routes on ``app``, backed by ``store``."""
    app.state.webhook_store = store
    tags = app.openapi_tags
    if tags is not None and all(t.get("name") != TAG["name"] for t in tags):
        app.openapi_tags = [*tags, TAG]  # a new list: the app's may be shared
    app.include_router(router)
