"""The composition root of the API process: core routes plus alert stream, webhooks,
metrics and the ops page, with their background services.

``create_app`` stays the core (tests build it with their own collaborators); this wires
the production pieces around it. ``cxpulse api`` / ``cxpulse up`` and uvicorn's factory
mode (``uvicorn --factory api.main:app_from_env``) use it.
"""

from __future__ import annotations

from fastapi import FastAPI

from api import metrics, page
from api.alert_feed import AlertFeed
from api.app import create_app
from api.routers import stream, subscriptions
from api.services import BackgroundService
from schemas.settings import Settings
from sinks.webhooks.dispatcher import WebhookDispatcher
from sinks.webhooks.store import default_store


def build_app(settings: Settings, *, dispatch: bool | None = None) -> FastAPI:
    """The API; with ``dispatch``, the webhook dispatcher runs in this process too.

    Default: only on the embedded engine, whose one process is then the one dispatcher
    (``api``, ``up``, ``demo``); API replicas on a ClickHouse server never dispatch, the
    deployment runs one ``cxpulse dispatch`` instead.
    """
    feed = AlertFeed.from_settings(settings)
    store = default_store(settings)
    services: list[BackgroundService] = [feed, store]
    if settings.embedded_clickhouse if dispatch is None else dispatch:
        # started in this order, stopped in reverse: the store closes after the dispatcher
        services.append(WebhookDispatcher(settings, store))
    app = create_app(settings, services=services)
    stream.install(app, feed)
    subscriptions.install(app, store)
    page.install(app)
    metrics.install(app)
    return app


def app_from_env() -> FastAPI:
    """``build_app`` with settings read from the environment."""
    return build_app(Settings())
