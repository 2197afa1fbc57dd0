"""Property: no tenant ever sees another tenant's data, through any tenant-scoped route.

Three tenants get rows in every table the API reads (agent_performance, alerts,
alert_actions, alert_rules, client_risk, ops_snapshots / ops_queue_snapshots / ops_agent_board,
webhook_subscriptions /
webhook_deliveries / webhook_attempts) at the same instants, each with ids found nowhere
else (agent, client, alert, queue, subscription and delivery ids, webhook urls and
secrets, tenant ids): a query missing its tenant filter returns another tenant's ids,
which the response then shows. The app is ``create_app``'s plus the webhook subscription
routes (``api.routers.subscriptions``, on a real ``WebhookStore``). The endpoints are taken
from its OpenAPI schema: every GET and DELETE that needs an API key, except event streams
and SKIPPED_PATHS - so a new endpoint is covered as soon as it is added.

For random callers A and other tenants B, every GET is called as A with path ids drawn
from B's data (or A's, or unknown ones) and optional filters drawn from the schema; every
DELETE only with B's ids or unknown ones (A's own data must stay for the other calls).
Then:

* A's response contains no token of any other tenant (tenant id, agent / client / alert /
  queue / subscription / delivery ids, webhook urls) - except a value A itself put in the
  URL, which an error may echo - and no webhook secret at all (not even A's own);
* an id only another tenant has is a 404 (on an endpoint documenting 404s; elsewhere a
  404 or a 200 whose lists are all empty), so not even its existence shows;
* a DELETE of B's id leaves B's subscription in place; an acknowledge or resolve of B's
  alert leaves its state as it was (the POSTs on an existing object are called too);
* nothing is a 5xx, and A's key is never refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.routers import subscriptions
from infra.migrate import migrate
from schemas.alert_lifecycle import AlertAction, AlertStateChange
from schemas.privacy import ERASURE_VERSIONS, Erasure
from schemas.results import Alert
from schemas.risk import FACTOR_NAMES
from schemas.routing import (
    RoutingDecision,
    RoutingRecommendation,
    decision_id,
    recommendation_id,
)
from schemas.settings import Settings
from sinks import tables
from sinks.clickhouse_client import open_client
from sinks.tables import ALERT_RULES
from sinks.webhooks.deliveries import Subscription, delivery_id
from sinks.webhooks.store import default_store
from tests.conftest import KEEP_TEST_ROWS
from tests.integration.test_api import PERF_COLUMNS, perf
from tests.integration.test_api_risk_ops import (
    BOARD_COLUMNS,
    OPS_COLUMNS,
    QUEUE_COLUMNS,
    RISK_COLUMNS,
    risk,
    snapshot,
)
from tests.integration.test_api_risk_ops import agent as board_row
from tests.integration.test_api_risk_ops import queue as queue_row
from tests.integration.test_webhooks import seed_webhooks

pytestmark = pytest.mark.integration

NS = uuid.UUID("0d7c1a52-93c4-4f4e-8f6b-6b1d5a7e2c30")
DAY = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
TENANTS = ("acme", "globex", "initech")
KEYS = {tenant: f"key-{tenant}" for tenant in TENANTS}
EARLY, LATE = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"  # a range around all rows
SKIPPED_PATHS = ("/v1/alerts/stream", "/metrics", "/healthz", "/readyz", "/")


def _token(tenant: str, kind: str, n: int) -> str:
    """An id unique to the tenant that contains no tenant name (so leaks are unambiguous)."""
    return f"{kind}-{uuid.uuid5(NS, f'{tenant}/{kind}/{n}').hex[:10]}"


@dataclass
class TenantData:
    """The ids seeded for one tenant."""

    tenant: str
    agents: list[str] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)  # webhook subscription ids
    urls: list[str] = field(default_factory=list)  # their endpoints
    secrets: list[str] = field(default_factory=list)  # their signing secrets
    deliveries: list[str] = field(default_factory=list)  # one delivery per subscription
    suggestions: list[str] = field(default_factory=list)  # KB suggestion ids
    kb_texts: list[str] = field(default_factory=list)  # their titles and member tickets
    rules: list[str] = field(default_factory=list)  # threshold rule ids (API rules)
    tickets: list[str] = field(default_factory=list)  # routed tickets (recommendations)
    complaints: list[str] = field(default_factory=list)  # routed complaints
    erasures: list[str] = field(default_factory=list)  # erasure receipts (of its clients)

    @property
    def ids(self) -> list[str]:
        return [
            *self.agents,
            *self.clients,
            *self.alerts,
            *self.queues,
            *self.subscriptions,
            *self.suggestions,
            *self.rules,
            *self.tickets,
            *self.complaints,
            *self.erasures,
        ]

    @property
    def tokens(self) -> list[str]:
        """What must never reach another tenant."""
        return [self.tenant, *self.ids, *self.urls, *self.secrets, *self.deliveries, *self.kb_texts]

    def webhooks(self) -> list[Subscription]:
        return [
            Subscription(
                subscription_id=uuid.UUID(sub_id),
                tenant_id=self.tenant,
                url=url,
                kinds=("coaching", "client_risk")[: i + 1],
                min_severity="low",
                secret=secret,
                created_at=AT + i * H,
            )
            for i, (sub_id, url, secret) in enumerate(
                zip(self.subscriptions, self.urls, self.secrets, strict=True)
            )
        ]


def _tenant_data(tenant: str) -> TenantData:
    subs = [str(uuid.uuid5(NS, f"{tenant}/subscription/{i}")) for i in range(2)]
    alerts = [str(uuid.uuid5(NS, f"{tenant}/alert/{i}")) for i in range(2)]
    return TenantData(
        tenant,
        agents=[_token(tenant, "ag", i) for i in range(2)],
        clients=[_token(tenant, "cl", i) for i in range(2)],
        alerts=alerts,
        queues=[_token(tenant, "q", i) for i in range(2)],
        subscriptions=subs,
        urls=[f"https://{_token(tenant, 'hook', i)}.example.com/in" for i in range(2)],
        secrets=[f"whsec_{_token(tenant, 'secret', i)}" for i in range(2)],
        suggestions=[str(uuid.uuid5(NS, f"{tenant}/suggestion/{i}")) for i in range(2)],
        kb_texts=[_token(tenant, "kbt", i) for i in range(4)],
        rules=[_token(tenant, "rl", i) for i in range(2)],
        tickets=[_token(tenant, "tk", i) for i in range(2)],
        complaints=[_token(tenant, "cp", i) for i in range(2)],
        erasures=[str(uuid.uuid5(NS, f"{tenant}/erasure/{i}")) for i in range(2)],
        # subscription i delivers alert i
        deliveries=[
            str(delivery_id(uuid.UUID(s), uuid.UUID(a))) for s, a in zip(subs, alerts, strict=True)
        ],
    )


DATA = {tenant: _tenant_data(tenant) for tenant in TENANTS}


AT = DAY + 10 * H  # most rows of every tenant are at the same instants


def latest_day(n: int) -> datetime:
    """Tenant n's latest daily window: its own, so a reference day across tenants shows."""
    return DAY + n * timedelta(days=1)


def snapshot_at(n: int) -> datetime:
    """Tenant n's snapshot: its own instant, so a latest snapshot across tenants shows."""
    return AT + n * timedelta(minutes=1)


def seed(dsn: str, database: str) -> None:
    """Rows for each tenant, mostly at the same instants: only tenant_id tells them apart."""
    ch = open_client(dsn, database)
    perf_rows, alerts, risks, snapshots, queues, board = [], [], [], [], [], []
    for n, (tenant, d) in enumerate(DATA.items()):
        for agent in d.agents:
            for window, start in (("1d", latest_day(n)), ("1h", AT), ("5m", AT)):
                perf_rows.append(
                    perf(tenant, agent, window, start, assigned=3, resolved=2, csat=(9, 2, 0))
                )
        for i, alert_id in enumerate(d.alerts):
            subject = d.clients[i] if i else d.agents[i]
            details = {"agent": d.agents[0], "client": d.clients[0], "queue": d.queues[0]}
            row = Alert.model_validate(
                {
                    "alert_id": uuid.UUID(alert_id),
                    "tenant_id": tenant,
                    "kind": ("coaching", "client_risk")[i],
                    "severity": ("low", "critical")[i],
                    "subject_type": ("agent", "client")[i],
                    "subject_id": subject,
                    "title": f"about {subject}",
                    "details": details,
                    "event_time": AT + i * H,
                    "fired_at": AT + i * H + timedelta(seconds=2),
                }
            )
            alerts.append(tables.ALERTS.to_row(row))
        for client in d.clients:
            risks.append(risk(tenant, client, 1, AT, {"escalations": 1.2}))
            risks.append(risk(tenant, client, 2, AT + H, {"escalations": 1.2, "health": 1.5}))
        snapshots.append(
            snapshot(tenant, snapshot_at(n), (1, 2, 3, 4), (1, 1, 1, 1, 1), (5, 0, 0, 0, 1))
        )
        for k in range(len(TENANTS)):  # queues at every tenant's snapshot instant
            for queue in d.queues:
                queues.append(queue_row(tenant, snapshot_at(k), queue, 2, 30.0, 15.0))
        board.extend(board_row(tenant, snapshot_at(n), a, "active", (1, 2, 3)) for a in d.agents)
    tokens = [t for d in DATA.values() for t in d.tokens]
    assert len(tokens) == len(set(tokens)), "seeded ids must be distinct across tenants"
    ch.insert("agent_performance", perf_rows, column_names=PERF_COLUMNS)
    ch.insert("alerts", alerts, column_names=tables.ALERTS.columns)
    # each tenant's second alert resolved (by a flow): every state filter finds something
    resolved = [
        AlertAction.of(tenant, uuid.UUID(d.alerts[1]), "resolve", "system", AT + 2 * H)
        for tenant, d in DATA.items()
    ]
    ch.insert(
        "alert_actions",
        [tables.ALERT_ACTIONS.to_row(a) for a in resolved],
        column_names=tables.ALERT_ACTIONS.columns,
    )
    ch.insert("client_risk", risks, column_names=RISK_COLUMNS)
    ch.insert("ops_snapshots", snapshots, column_names=OPS_COLUMNS)
    ch.insert("ops_queue_snapshots", queues, column_names=QUEUE_COLUMNS)
    ch.insert("ops_agent_board", board, column_names=BOARD_COLUMNS)
    seed_demand_kb(ch)
    seed_routing(ch)
    receipts = [
        Erasure(
            erasure_id=uuid.UUID(erasure_id),
            tenant_id=tenant,
            client_id=d.clients[i],
            requested_at=AT,
            status="completed",
            rows_deleted_by_table={"events": 3},
            completed_at=AT + H,
            version=ERASURE_VERSIONS["completed"],
        )
        for tenant, d in DATA.items()
        for i, erasure_id in enumerate(d.erasures)
    ]
    ch.insert(
        tables.ERASURES.table,
        [tables.ERASURES.to_row(r) for r in receipts],
        column_names=tables.ERASURES.columns,
    )
    rules = [
        [tenant, rule_id, json.dumps({**RULE, "scope": {"queue": d.queues[0]}}), 0, 1, AT]
        for tenant, d in DATA.items()
        for rule_id in d.rules
    ]
    ch.insert(ALERT_RULES.table, rules, column_names=ALERT_RULES.columns)
    ch.close()
    webhooks = [sub for d in DATA.values() for sub in d.webhooks()]
    # subscription i delivers alert i: the first one failed once (pending), the second
    # was delivered, so both states and the attempt log are served
    deliveries = [
        (sub, uuid.UUID(d.alerts[i]), (503, 200)[i])
        for d in DATA.values()
        for i, sub in enumerate(d.webhooks())
    ]
    stored = seed_webhooks(dsn, database, webhooks, deliveries, AT)
    assert [str(x.delivery_id) for x in stored] == [x for d in DATA.values() for x in d.deliveries]


RULE = {"metric": "queue_depth", "op": ">", "threshold": 3, "for_s": 60, "severity": "high"}

FORECAST_COLUMNS = (
    "tenant_id", "segment_type", "segment", "generated_at", "first_target", "model",
    "predicted", "lower_80", "upper_80", "lower_95", "upper_95",
)  # fmt: skip
BACKTEST_COLUMNS = (
    "tenant_id", "segment_type", "segment", "generated_at", "model", "baseline", "origins",
    "horizon_h", "points", "mae", "baseline_mae", "wape", "mase", "coverage_80", "coverage_95",
)  # fmt: skip
KB_COLUMNS = (
    "suggestion_id", "version", "tenant_id", "status", "title", "category", "ticket_ids",
    "size", "confidence", "covered_by", "first_seen", "updated_at",
)  # fmt: skip


def seed_routing(ch: Any) -> None:
    """A recommendation per routed ticket and complaint of each tenant (its own agents as
    candidates), all made at the same instant, and a decision per ticket (one followed)."""
    recs, decisions = [], []
    for tenant, d in DATA.items():
        subjects = [("ticket", t) for t in d.tickets] + [("complaint", c) for c in d.complaints]
        for subject_type, subject_id in subjects:
            rec = RoutingRecommendation(
                recommendation_id=recommendation_id(tenant, subject_type, subject_id),
                tenant_id=tenant,
                ticket_id=subject_id if subject_type == "ticket" else "",
                subject_type=subject_type,
                subject_id=subject_id,
                made_at=AT,
                category="billing",
                queue=d.queues[0],
                severity="" if subject_type == "ticket" else "high",
                eligible_agents=2,
                reason="",
                factor_names=["workload", "csat"],
                candidate_agent_ids=d.agents,
                candidate_scores=[1.0, 0.5],
                candidate_factors=[[0.0, 1.0], [-0.5, 1.0]],
            )
            recs.append(tables.ROUTING_RECOMMENDATIONS.to_row(rec))
        for i, ticket in enumerate(d.tickets):
            decision = RoutingDecision(
                decision_id=decision_id(tenant, ticket),
                tenant_id=tenant,
                ticket_id=ticket,
                recommendation_id=recommendation_id(tenant, "ticket", ticket),
                version=1,
                assigned_at=AT + H,
                agent_id=d.agents[i],
                assigned_by="auto",
                rank=1 - i,
                adoption=("top", "outside")[i],
                first_response_s=60.0,
                handle_time_s=None,
                csat=None,
                reopened=False,
                updated_at=AT + H,
            )
            decisions.append(tables.ROUTING_DECISIONS.to_row(decision))
    ch.insert(
        tables.ROUTING_RECOMMENDATIONS.table,
        recs,
        column_names=tables.ROUTING_RECOMMENDATIONS.columns,
    )
    ch.insert(
        tables.ROUTING_DECISIONS.table, decisions, column_names=tables.ROUTING_DECISIONS.columns
    )


def seed_demand_kb(ch: Any) -> None:
    """Forecasts and backtests of each tenant's queues (as segments), all made at the same
    instant, and two KB suggestions per tenant (one judged)."""
    snaps, backtests, kb, feedback = [], [], [], []
    for tenant, d in DATA.items():
        for queue in d.queues:
            band = [[1.0, 2.0], [0.5, 1.0], [1.5, 3.0], [0.0, 0.5], [2.0, 4.0]]
            snaps.append([tenant, "queue", queue, AT, AT + 2 * H, "m", *band])
            backtests.append(
                [tenant, "queue", queue, AT, "m", "b", 7, 24, 168, 1.0, 2.0, 0.1, 0.5, 0.8, 0.9]
            )
        for i, sid in enumerate(d.suggestions):
            title, ticket = d.kb_texts[2 * i], d.kb_texts[2 * i + 1]
            kb.append(
                [uuid.UUID(sid), 1, tenant, ("open", "covered")[i], title, "cat", [ticket],
                 3, 0.5, None, AT, AT]
            )  # fmt: skip
        feedback.append([tenant, uuid.UUID(d.suggestions[0]), "accepted", AT])
    ch.insert("demand_forecast_snapshots", snaps, column_names=FORECAST_COLUMNS)
    ch.insert("demand_backtest", backtests, column_names=BACKTEST_COLUMNS)
    ch.insert("kb_suggestions", kb, column_names=KB_COLUMNS)
    ch.insert(
        "kb_feedback",
        feedback,
        column_names=("tenant_id", "suggestion_id", "verdict", "decided_at"),
    )


class _Unsent:
    """Erasure requests go nowhere here (no broker): the receipt names the tenant the
    route asked for, which is what isolation is about (the pipeline's part is tested in
    test_erasure.py)."""

    def request(self, tenant: str, client_id: str, now: datetime) -> Erasure:
        return Erasure.requested(tenant, client_id, now)


class _Unannounced:
    """Alert state changes go nowhere here (no broker): the routes' own effects are the
    point; the stream's tenant isolation is tested in test_alert_lifecycle_stream.py."""

    def publish(self, change: AlertStateChange) -> None:
        pass


@pytest.fixture(scope="module")
def app(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The API, with the webhook subscription routes, on a seeded database of this module
    (the tests only read, or delete what does not exist for the caller), on the session's
    engine path like ``conftest.database``."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", database, log=lambda _m: None, retention_days=KEEP_TEST_ROWS)
    s = Settings(
        # every scope: the admin routes (GET /v1/audit) are tenant-scoped too
        api_keys=",".join(f"{t}:{k}:read+write+admin" for t, k in KEYS.items()),
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        kafka_bootstrap="127.0.0.1:1",
        data_dir=tmp_path_factory.mktemp("data"),
    )
    seed(s.dsn, database)
    store = default_store(s)  # a real store on the same database, closed with the app
    app = create_app(
        s,
        kafka_check=lambda: None,
        services=[store],
        alert_states=_Unannounced(),
        erasure_requests=_Unsent(),
    )
    subscriptions.install(app, store)
    return app


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as tc:
        yield tc


# --- the endpoints, from the OpenAPI schema ---------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    parameters: tuple[dict[str, Any], ...]
    documents_404: bool  # then an id the caller does not have must be a 404

    @property
    def path_parameters(self) -> list[dict[str, Any]]:
        return [p for p in self.parameters if p["in"] == "path"]


def tenant_scoped(app: FastAPI, method: str) -> list[Endpoint]:
    """Every ``method`` operation that needs an API key, except event streams and
    SKIPPED_PATHS."""
    out = []
    for path, methods in app.openapi()["paths"].items():
        op = methods.get(method)
        if op is None or path in SKIPPED_PATHS or not op.get("security"):
            continue
        content = {m for r in op.get("responses", {}).values() for m in r.get("content") or {}}
        if "text/event-stream" in content:
            continue
        params = tuple(op.get("parameters", []))
        documents_404 = "404" in op.get("responses", {})
        out.append(Endpoint(method.upper(), path, params, documents_404))
    return out


def tenant_scoped_gets(app: FastAPI) -> list[Endpoint]:
    return tenant_scoped(app, "get")


def tenant_scoped_actions(app: FastAPI) -> list[Endpoint]:
    """POSTs on an existing object (KB feedback): not the ones creating objects."""
    return [e for e in tenant_scoped(app, "post") if "{" in e.path]


def tenant_scoped_deletes(app: FastAPI) -> list[Endpoint]:
    return tenant_scoped(app, "delete")


def _schema_of(parameter: dict[str, Any]) -> dict[str, Any]:
    """The parameter's schema, ``anyOf [X, null]`` (an optional value) unwrapped to X."""
    schema: dict[str, Any] = parameter.get("schema", {})
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return {**option, **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def query_value(name: str, schema: dict[str, Any]) -> Any:
    """A strategy for a value the endpoint accepts, or None for a parameter not known here."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("format") == "date-time":
        return st.just(LATE if name == "end" else EARLY)
    if schema.get("type") == "integer":
        low, high = schema.get("minimum", 1), min(schema.get("maximum", 1000), 1000)
        return st.integers(low, high)
    if schema.get("type") == "array" and name == "without":
        return st.lists(st.sampled_from(FACTOR_NAMES), min_size=1, max_size=2)
    return None


@dataclass(frozen=True)
class Call:
    method: str
    caller: str
    url: str
    params: dict[str, Any]
    foreign_path: bool  # a path id of another tenant was asked for
    documents_404: bool
    guessed: bool = False  # a required parameter unknown here was filled with an id
    owner: str = ""  # the tenant whose id is in the path (when foreign_path)
    path_ids: tuple[str, ...] = ()


POOLS = {
    "agent_id": "agents",
    "client_id": "clients",
    "alert_id": "alerts",
    "subscription_id": "subscriptions",
    "suggestion_id": "suggestions",
    "rule_id": "rules",
    "ticket_id": "tickets",
    "complaint_id": "complaints",
    "erasure_id": "erasures",
}
# query parameters naming a tenant's own object: drawn like path ids
QUERY_POOLS = {"segment": "queues"}


def _unknown_id(parameter: dict[str, Any], n: int) -> str:
    """An id nobody has, of the parameter's format (a random string for a uuid is a 422)."""
    if _schema_of(parameter).get("format") == "uuid":
        return str(uuid.uuid5(NS, f"nobody/{n}"))
    return _token("nobody", "x", n)


@st.composite
def calls(draw: st.DrawFn, endpoint: Endpoint) -> Call:
    caller = draw(st.sampled_from(TENANTS))
    other = draw(st.sampled_from([t for t in TENANTS if t != caller]))
    mine, theirs = DATA[caller], DATA[other]
    # a DELETE never gets the caller's own ids: its data must stay for the other calls
    sources = ["foreign", "unknown"] if endpoint.method == "DELETE" else ["foreign", "own"]
    url, foreign_path, path_ids = endpoint.path, False, []
    for parameter in endpoint.path_parameters:
        name = parameter["name"]
        pool = POOLS.get(name)
        own = getattr(mine, pool) if pool else mine.ids
        foreign = getattr(theirs, pool) if pool else theirs.ids
        source = draw(st.sampled_from(["foreign", *sources, "unknown"]))
        value = draw(
            st.sampled_from(foreign)
            if source == "foreign"
            else st.sampled_from(own)
            if source == "own"
            else st.integers(0, 9).map(partial(_unknown_id, parameter))
        )
        foreign_path = foreign_path or source == "foreign"
        path_ids.append(value)
        url = url.replace("{" + name + "}", quote(value, safe=""))
    params, guessed = {}, False
    for p in endpoint.parameters:
        if p["in"] != "query":
            continue
        pool = QUERY_POOLS.get(p["name"])
        if pool is not None:
            source = draw(st.sampled_from(["foreign", "own", "unknown"]))
            values = st.sampled_from(
                getattr(theirs if source == "foreign" else mine, pool)
                if source != "unknown"
                else [_token("nobody", "x", 0)]
            )
            foreign_path = foreign_path or source == "foreign"
        else:
            values = query_value(p["name"], _schema_of(p))
        if values is None and p.get("required"):  # still call it: a 422 must not leak either
            values, guessed = st.sampled_from(theirs.ids), True
        if values is not None and (p.get("required") or draw(st.booleans())):
            params[p["name"]] = draw(values)
    return Call(
        endpoint.method,
        caller,
        url,
        params,
        foreign_path,
        endpoint.documents_404,
        guessed,
        owner=other,
        path_ids=tuple(path_ids),
    )


# --- checks -----------------------------------------------------------------------------


def _lists(value: Any) -> Iterator[list[Any]]:
    if isinstance(value, list):
        yield value
        for v in value:
            yield from _lists(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _lists(v)


def _auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


SECRETS = [s for d in DATA.values() for s in d.secrets]


def _alert_state(tc: TestClient, tenant: str, alert_id: str) -> str:
    items = tc.get("/v1/alerts", headers=_auth(tenant)).json()["items"]
    return str(next(i["state"] for i in items if i["alert_id"] == alert_id))


def check_isolated(tc: TestClient, call: Call) -> None:
    before: dict[str, str] = {}  # the states of the other tenant's alerts in the path
    if call.method == "POST" and call.foreign_path:
        foreign = set(call.path_ids) & set(DATA[call.owner].alerts)
        before = {alert_id: _alert_state(tc, call.owner, alert_id) for alert_id in foreign}
    r = tc.request(call.method, call.url, params=call.params, headers=_auth(call.caller))
    assert r.status_code < 500, (call, r.text)
    assert r.status_code != 401, (call, r.text)
    sent = call.url + json.dumps(call.params)
    others = [t for t in TENANTS if t != call.caller]
    leaked = [tok for o in others for tok in DATA[o].tokens if tok in r.text and tok not in sent]
    assert not leaked, (call, leaked, r.text)
    # a secret is shown once, by the POST that creates it: never again, to anybody
    assert not [s for s in SECRETS if s in r.text and s not in sent], (call, r.text)
    if call.url.startswith("/v1/clients/") and call.method == "DELETE":
        # an erasure is always of the caller's tenant, whatever client id the path names
        assert r.status_code == 202, (call, r.text)
        assert r.json()["tenant_id"] == call.caller, (call, r.text)
        return
    if call.foreign_path and not (call.guessed and r.status_code == 422):
        # not even whether the id exists for another tenant may show
        if call.documents_404:
            assert r.status_code == 404, (call, r.text)
        else:
            empty = r.status_code == 200 and not any(_lists(r.json()))
            assert r.status_code == 404 or empty, (call, r.status_code, r.text)
    if call.method == "POST" and call.foreign_path:
        # the owner's alert keeps its state (the foreign POST was a 404)
        for alert_id in set(call.path_ids) & set(DATA[call.owner].alerts):
            assert _alert_state(tc, call.owner, alert_id) == before[alert_id], (call, r.text)
    if call.method == "DELETE" and call.foreign_path:
        # the owner's subscription is still there
        for sub_id in set(call.path_ids) & set(DATA[call.owner].subscriptions):
            owned = tc.get(f"/v1/subscriptions/{sub_id}", headers=_auth(call.owner))
            assert owned.status_code == 200, (call, owned.text)
        # ... and so is the owner's rule
        for rule_id in set(call.path_ids) & set(DATA[call.owner].rules):
            owned = tc.get("/v1/rules", headers=_auth(call.owner))
            assert rule_id in {i["rule_id"] for i in owned.json()["items"]}, (call, owned.text)


# --- tests ------------------------------------------------------------------------------


def test_every_tenant_scoped_get_is_enumerated(app: FastAPI) -> None:
    paths = {e.path for e in tenant_scoped_gets(app)}
    assert {
        "/v1/agents",
        "/v1/agents/{agent_id}/performance",
        "/v1/alerts",
        "/v1/clients/risk",
        "/v1/clients/{client_id}/risk",
        "/v1/clients/{client_id}/risk/what-if",
        "/v1/ops/live",
        "/v1/subscriptions",
        "/v1/subscriptions/{subscription_id}",
        "/v1/subscriptions/{subscription_id}/deliveries",
    } <= paths
    assert not paths & set(SKIPPED_PATHS)
    assert {e.path for e in tenant_scoped_deletes(app)} == {
        "/v1/subscriptions/{subscription_id}",
        "/v1/rules/{rule_id}",
        "/v1/clients/{client_id}/data",
    }
    assert "/v1/rules" in paths
    assert {"/v1/demand/forecast", "/v1/demand/segments", "/v1/kb/suggestions"} <= paths
    assert {
        "/v1/kb/suggestions/{suggestion_id}/accept",
        "/v1/kb/suggestions/{suggestion_id}/dismiss",
        "/v1/alerts/{alert_id}/ack",
        "/v1/alerts/{alert_id}/resolve",
    } <= {e.path for e in tenant_scoped_actions(app)}


def test_each_tenant_sees_its_own_data(client: TestClient) -> None:
    """Every tenant's own data is there (so the property below is not vacuous), and the
    reads that show no ids - the reference day, the latest snapshot - are its own: a
    tenant filter missing from those would leak figures, not ids the property could see."""
    for n, (tenant, d) in enumerate(DATA.items()):
        auth = {"Authorization": f"Bearer {KEYS[tenant]}"}
        agents = client.get("/v1/agents", headers=auth).json()["items"]
        assert [a["agent_id"] for a in agents] == sorted(d.agents)
        # "today" is the tenant's own latest day, not the latest of all tenants
        assert [a["tickets_assigned_today"] for a in agents] == [3, 3]
        body = client.get("/v1/alerts", headers=auth).text
        assert all(a in body for a in d.alerts), body
        # its own actions only (every tenant's alert 1 is resolved; states never go back)
        assert _alert_state(client, tenant, d.alerts[1]) == "resolved"
        resolved = client.get("/v1/alerts", params={"state": "resolved"}, headers=auth).json()
        assert {i["alert_id"] for i in resolved["items"]} <= set(d.alerts)
        body = client.get("/v1/clients/risk", headers=auth).text
        assert all(c in body for c in d.clients), body
        live = client.get("/v1/ops/live", headers=auth).json()
        assert live["as_of"] == snapshot_at(n).isoformat()  # its own latest snapshot
        assert [q["queue"] for q in live["queues"]] == sorted(d.queues)
        assert [a["agent_id"] for a in live["agents"]] == sorted(d.agents)  # its board only
        for agent in d.agents:
            r = client.get(
                f"/v1/agents/{agent}/performance",
                params={"start": EARLY, "end": LATE, "window": "1h"},
                headers=auth,
            )
            assert r.status_code == 200
            assert len(r.json()["items"]) == 1
        for c in d.clients:
            assert client.get(f"/v1/clients/{c}/risk", headers=auth).status_code == 200
        segs = client.get("/v1/demand/segments", headers=auth).json()["items"]
        assert sorted(sg["segment"] for sg in segs) == sorted(d.queues)
        for queue in d.queues:
            fc = client.get(
                "/v1/demand/forecast",
                params={"segment_type": "queue", "segment": queue, "horizon_h": 5},
                headers=auth,
            ).json()
            assert [i["predicted"] for i in fc["items"]] == [1.0, 2.0]
            assert fc["backtest"]["mase"] == 0.5
        kb = client.get("/v1/kb/suggestions", headers=auth).json()
        assert sorted(x["suggestion_id"] for x in kb["items"]) == sorted(d.suggestions)
        assert kb["feedback"]["accepted"] >= 1  # its own verdict (the property adds more)
        for ticket in d.tickets:
            rec = client.get(f"/v1/tickets/{ticket}/recommendation", headers=auth).json()
            assert [c["agent_id"] for c in rec["candidates"]] == d.agents
        for complaint in d.complaints:
            r = client.get(f"/v1/complaints/{complaint}/recommendation", headers=auth)
            assert r.status_code == 200
        adoption = client.get(
            "/v1/routing/adoption", params={"start": EARLY, "end": LATE}, headers=auth
        ).json()
        assert (adoption["decisions"], adoption["top"], adoption["outside"]) == (2, 1, 1)
        rules = client.get("/v1/rules", headers=auth).json()["items"]
        assert [(r["rule_id"], r["scope"]) for r in rules] == [
            (rule_id, {"queue": d.queues[0]}) for rule_id in sorted(d.rules)
        ]
        subs = client.get("/v1/subscriptions", headers=auth).json()["items"]
        assert [(s["id"], s["url"]) for s in subs] == list(
            zip(d.subscriptions, d.urls, strict=True)
        )
        for i, sub_id in enumerate(d.subscriptions):
            r = client.get(f"/v1/subscriptions/{sub_id}/deliveries", headers=auth)
            (delivery,) = r.json()["items"]
            assert (delivery["delivery_id"], delivery["alert_id"]) == (
                d.deliveries[i],
                d.alerts[i],
            )
            assert delivery["status"] == ("pending", "delivered")[i]
            assert len(delivery["attempt_log"]) == 1


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_tenant_sees_another_tenants_data(
    client: TestClient, app: FastAPI, data: st.DataObject
) -> None:
    for endpoint in [
        *tenant_scoped_gets(app),
        *tenant_scoped_deletes(app),
        *tenant_scoped_actions(app),
    ]:
        label = f"{endpoint.method} {endpoint.path}"
        check_isolated(client, data.draw(calls(endpoint), label=label))
