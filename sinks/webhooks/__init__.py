"""Webhook delivery: every matching alert POSTed to each tenant endpoint, signed, retried,
at least once.

One module per concern: ``signing`` (HMAC signature and secrets), ``policy`` (which URLs a
subscription may name), ``body`` (the JSON POSTed, derived from the ``Alert`` row),
``deliveries`` (subscriptions, deliveries and their state machine: pure logic),
``store`` (all of it in ClickHouse) and ``dispatcher`` (the threaded delivery service).
The names below are re-exported for the API, which imports them from here.
"""

from sinks.webhooks.deliveries import Subscription, delivery_id
from sinks.webhooks.dispatcher import WebhookDispatcher
from sinks.webhooks.policy import MAX_URL_LENGTH, validate_url
from sinks.webhooks.store import DeliveryView, WebhookStore, default_store

__all__ = [
    "MAX_URL_LENGTH",
    "DeliveryView",
    "Subscription",
    "WebhookDispatcher",
    "WebhookStore",
    "default_store",
    "delivery_id",
    "validate_url",
]
