"""The FastAPI application: ``create_app(settings)`` wires settings, reader and probes.

The production app (stream, webhooks, metrics, page) is composed in :mod:`api.main`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from api import __version__
from api.audit import AuditMiddleware
from api.auth_throttle import FailedAuthThrottle
from api.deps import KafkaCheck, StoreLagCheck
from api.limits import BodySizeLimit, StreamSlots
from api.routers import (
    agents,
    alerts,
    audit,
    clients,
    demand,
    health,
    kb,
    ops,
    privacy,
    routing,
    rules,
)
from api.services import BackgroundService
from schemas import metrics
from schemas.alert_rules import load_rules_file
from schemas.kafka_client import client_config
from schemas.risk import RiskModel
from schemas.settings import Settings
from sinks.alert_states import AlertStatePublisher, KafkaAlertStates
from sinks.audit_log import AuditLog, KafkaAuditLog
from sinks.clickhouse_client import ClickHouseUnavailableError, is_embedded, open_client
from sinks.erasure_requests import ErasureRequester, ErasureRequests
from sinks.reader import ResultsReader
from sinks.rule_changes import KafkaRuleChanges, RuleChangePublisher
from sinks.store import committed_lag
from sinks.tables import RESULT_TABLES

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")

_TAGS = [
    {"name": "agents", "description": "Agent performance per event-time window"},
    {"name": "alerts", "description": "Alerts raised by the flows, and their lifecycle"},
    {"name": "clients", "description": "Client churn-risk scores, history and what-ifs"},
    {"name": "ops", "description": "Live operations: queues, agents, CSAT and messages"},
    {"name": "demand", "description": "Hourly demand forecasts with intervals and backtests"},
    {"name": "kb", "description": "Knowledge-base suggestions from recurring resolved tickets"},
    {"name": "routing", "description": "Recommended agents per ticket, and their adoption"},
    {"name": "privacy", "description": "Erasure of a data subject, with a receipt (admin keys)"},
    {"name": "audit", "description": "Who changed what: the access audit (admin keys)"},
    {"name": "health", "description": "Liveness and readiness probes"},
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def default_reader(settings: Settings) -> ResultsReader:
    """A reader on ``settings.dsn`` / ``settings.clickhouse_database``, opened lazily."""
    dsn, database = settings.dsn, settings.clickhouse_database
    # Over HTTP one client serves many threads: no shared server session, which
    # ClickHouse would refuse to run concurrent queries in.
    extra: dict[str, Any] = {} if is_embedded(dsn) else {"autogenerate_session_id": False}

    def factory() -> Client:
        return open_client(dsn, database, **extra)

    return ResultsReader(factory)


def default_kafka_check(settings: Settings) -> KafkaCheck:
    """Lists the broker's topics (2 s timeout); raises when the cluster cannot answer."""
    admin: Any = None

    def check() -> None:
        nonlocal admin
        from confluent_kafka.admin import AdminClient

        if admin is None:
            # librdkafka's own log lines go through Python logging, not raw stderr
            conf: dict[str, Any] = {
                **client_config(settings),
                "logger": kafka_log,
            }
            admin = AdminClient(conf)
        admin.list_topics(timeout=2)

    return check


def default_store_lag(settings: Settings, cache_s: float = 2.0) -> StoreLagCheck:
    """The storage writer's lag per result topic, from the group's committed offsets
    (whichever process stores: `up`, `cxpulse store` or ClickHouse's Kafka engine, which
    commits under the same group); cached ``cache_s`` so probes stay cheap."""
    topics = [settings.results_topic(spec.table) for spec in RESULT_TABLES]
    config = {
        **client_config(settings),
        "group.id": settings.store_group,
        "logger": kafka_log,
    }
    last: tuple[float, dict[str, int]] | None = None

    def lag() -> dict[str, int]:
        nonlocal last
        now = time.monotonic()
        if last is None or now - last[0] >= cache_s:
            last = (now, committed_lag(config, topics, timeout_s=2.0))
            for topic, n in last[1].items():
                metrics.STORE_LAG.labels(topic).set(n)
        return last[1]

    return lag


def create_app(
    settings: Settings,
    reader: ResultsReader | None = None,
    kafka_check: KafkaCheck | None = None,
    store_lag: StoreLagCheck | None = None,
    risk_model: RiskModel | None = None,
    services: Sequence[BackgroundService] = (),
    now: Callable[[], datetime] | None = None,
    alert_states: AlertStatePublisher | None = None,
    rule_changes: RuleChangePublisher | None = None,
    erasure_requests: ErasureRequester | None = None,
    audit_log: AuditLog | None = None,
) -> FastAPI:
    """The API for ``settings``; ``reader`` and ``kafka_check`` default to the real ones.

    ``alert_states`` announces alert state changes (default: on the alerts topic of
    ``settings.kafka_bootstrap``, connected on first use).

    ``audit_log`` receives a row per state-changing call (default: the ``audit_log``
    result topic, see :mod:`sinks.audit_log`; flushed when the app stops).

    ``risk_model`` (for what-ifs) defaults to ``settings.risk_model_file``, the model the
    flows score with; it is loaded here, so a bad file fails at start.

    Fails at once (``ValueError``) when no API key is configured: such an API could only
    refuse every request.
    """
    if not settings.tenant_keys:  # parsing the keys also validates them
        raise ValueError("CXPULSE_API_KEYS is empty: set 'tenant:key,tenant:key'")
    model = risk_model if risk_model is not None else RiskModel.from_json(settings.risk_model_file)
    owns_reader = reader is None
    the_reader = reader if reader is not None else default_reader(settings)
    owned_states: KafkaAlertStates | None = None
    the_states: AlertStatePublisher
    if alert_states is None:
        owned_states = the_states = KafkaAlertStates.from_settings(settings)
    else:
        the_states = alert_states
    # threshold rules: the file's (read-only through the API), and where API changes go
    file_rules = load_rules_file(settings.alert_rules_file)
    owned_rules = None if rule_changes is not None else KafkaRuleChanges.from_settings(settings)
    # every state-changing call is audited through the audit_log result topic
    owned_audit = None if audit_log is not None else KafkaAuditLog.from_settings(settings)
    # erasures go to the ledger, the erasures result topic and the events topic
    owned_erasures = None if erasure_requests is not None else ErasureRequests(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started: list[BackgroundService] = []
        try:
            for service in services:
                await service.start()
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                await service.stop()
            if owns_reader:
                the_reader.close()
            if owned_states is not None:
                owned_states.close()
            if owned_rules is not None:
                owned_rules.close()
            if owned_erasures is not None:
                owned_erasures.close()
            if owned_audit is not None:
                owned_audit.close()

    app = FastAPI(
        title="cxpulse",
        version=__version__,
        description=(
            "Real-time intelligence for customer operations. Every `/v1` route needs a "
            "per-tenant API key (`Authorization: Bearer <key>`); the tenant always comes "
            "from the key. A key has scopes: `read` (GET routes), `write` (the routes "
            "that change state) and `admin` (audit, erasure); a missing scope is a 403. "
            "Datetimes are ISO-8601 in UTC."
        ),
        openapi_tags=_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = list(services)
    app.state.reader = the_reader
    app.state.risk_model = model
    app.state.now = now if now is not None else _utc_now
    app.state.alert_states = the_states
    app.state.file_rules = file_rules
    app.state.rule_changes = rule_changes if rule_changes is not None else owned_rules
    app.state.erasure_requests = (
        erasure_requests if erasure_requests is not None else owned_erasures
    )
    app.state.kafka_check = (
        kafka_check if kafka_check is not None else default_kafka_check(settings)
    )
    app.state.store_lag = store_lag if store_lag is not None else default_store_lag(settings)
    app.state.auth_throttle = FailedAuthThrottle(
        settings.auth_failure_burst, settings.auth_failure_refill_s
    )
    app.state.stream_slots = StreamSlots(settings.sse_streams_per_tenant)
    app.state.audit_log = audit_log if audit_log is not None else owned_audit
    # outermost last: the audit sees every answer, the body limit's 413s included
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(AuditMiddleware, audit_log=app.state.audit_log, now=app.state.now)

    @app.exception_handler(ClickHouseUnavailableError)
    async def _clickhouse_down(_: Request, exc: ClickHouseUnavailableError) -> JSONResponse:
        log.error("%s", exc)
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"detail": "ClickHouse is unavailable"},
        )

    app.include_router(agents.router)
    app.include_router(alerts.router)
    app.include_router(rules.router)
    app.include_router(clients.router)
    app.include_router(ops.router)
    app.include_router(demand.router)
    app.include_router(kb.router)
    app.include_router(routing.router)
    app.include_router(privacy.router)
    app.include_router(audit.router)
    app.include_router(health.router)
    return app
