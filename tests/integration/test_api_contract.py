"""Contract tests: schemathesis fuzzes every operation of the app's own OpenAPI schema.

The app is ``create_app``'s plus the webhook subscription routes
(``api.routers.subscriptions``, on a real ``WebhookStore``) and the alert stream
(``api.routers.stream``, with a feed that is never started), as ``api.main`` mounts them.
It runs in-process (ASGI) on a migrated embedded-ClickHouse database seeded, for two
tenants, with the rows of ``test_api.py`` (agent_performance, alerts),
``test_api_risk_ops.py`` (client_risk, ops snapshots) and webhook subscriptions, each with
deliveries and their attempts. Requests carry acme's key, except the ones schemathesis
makes without it (the key is the schema's ``Authorization`` header).
Checks on every response:

* ``not_a_server_error`` - no 5xx, whatever the input;
* ``status_code_conformance`` - the status is one the operation documents (401 included);
* ``response_schema_conformance`` - the body matches the documented schema;
* ``content_type_conformance`` - the media type is the documented one;
* ``ignored_auth`` / ``missing_required_header`` - without the key it is a 401, not data;
* ``unsupported_method`` - another method on a path is a 405.

Left out, on purpose (both fail, on behaviour that is intended):

* ``positive_data_acceptance``: schema-valid input is refused by design - an unknown agent,
  client or subscription is a 404, ``start >= end``, an unknown risk factor (``without=``)
  or a webhook URL that is no absolute http(s) URL a 422;
* ``negative_data_rejection``: FastAPI / pydantic accept some schema-violating input on
  purpose - a number for a date-time is read as a Unix time (``since=0.5``), and unknown
  query parameters are ignored.

Operations left out of the fuzzing: ``/v1/alerts/stream`` (and any ``text/event-stream``
operation) never ends, and ``/metrics`` (not mounted here) is Prometheus text for
scrapers, not part of the JSON API. ``test_every_v1_operation_needs_a_known_key`` asserts
the 401 (and its body) of every /v1 operation, the stream included (a 401 answers at
once), for a missing, unknown or non-Bearer key.

Random strings almost never hit a seeded id, so path parameters are sometimes swapped for
a seeded agent/client/subscription/alert id (acme's or globex's), ``without`` for real factor
names and a webhook ``url`` for a valid one: the 200 / 201 / 204 paths are fuzzed too, not
only the 404 / 422 ones. DELETE only draws subscriptions seeded for it, so the others keep
their 200s.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from api.alert_feed import AlertFeed
from api.app import create_app
from api.routers import stream, subscriptions
from infra.migrate import migrate
from schemas.alert_lifecycle import AlertStateChange
from schemas.alert_rules import RuleChange
from schemas.audit import AuditEntry
from schemas.risk import FACTOR_NAMES
from schemas.routing import (
    RoutingDecision,
    RoutingRecommendation,
    decision_id,
    recommendation_id,
)
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.reader import ResultsReader
from sinks.tables import ALERT_RULES, ROUTING_DECISIONS, ROUTING_RECOMMENDATIONS
from sinks.webhooks.deliveries import Subscription
from sinks.webhooks.store import WebhookStore
from tests.conftest import KEEP_TEST_ROWS
from tests.integration import test_api, test_api_risk_ops
from tests.integration.test_webhooks import seed_webhooks

pytestmark = pytest.mark.integration

ACME = {"Authorization": "Bearer k1"}
# Seeded ids of either tenant (acme's and globex's, some shared on purpose)
AGENT_IDS = ("a1", "a2", "g1")
ALERT_IDS = tuple(str(uuid.uuid5(test_api.NS, label)) for label in ("c9", "c10", "r11", "g10"))
CLIENT_IDS = ("c1", "c2", "c3", "c4", "c5", "g1")
NS = uuid.UUID("6a0e9f44-2c1b-4d8e-9f3a-5b7c1d2e3f40")
SEEDED_AT = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _subscription(tenant: str, name: str, *kinds: str) -> Subscription:
    return Subscription(
        subscription_id=uuid.uuid5(NS, f"{tenant}/{name}"),
        tenant_id=tenant,
        url=f"https://hooks.example.com/{tenant}/{name}",
        kinds=kinds,
        min_severity="low",
        secret=f"whsec_{tenant}_{name}",
        created_at=SEEDED_AT,
    )


# acme's to read (GET), acme's to delete (DELETE draws only these and globex's), globex's
ACME_SUBS = [_subscription("acme", "read"), _subscription("acme", "coaching", "coaching")]
ACME_DELETABLE = [_subscription("acme", f"delete-{i}") for i in range(3)]
GLOBEX_SUBS = [_subscription("globex", "read")]
READ_IDS = [str(s.subscription_id) for s in (*ACME_SUBS, *GLOBEX_SUBS)]
DELETE_IDS = [str(s.subscription_id) for s in (*ACME_DELETABLE, *GLOBEX_SUBS)]
WEBHOOK_URLS = ("https://hooks.example.com/x", "http://127.0.0.1:8080/in?token=t#frag")
# threshold rules: acme's to read, acme's to delete, globex's (DELETE draws the last two)
RULE = {"metric": "queue_depth", "op": ">", "threshold": 3, "for_s": 60, "severity": "high"}
ACME_RULES = ("read-rule",)
ACME_DELETABLE_RULES = tuple(f"delete-rule-{i}" for i in range(3))
GLOBEX_RULES = ("globex-rule",)
VALID_RULES = (
    RULE,
    {**RULE, "rule_id": "fuzzed", "scope": {"queue": "billing"}},
    {"metric": "open_complaints", "scope": {"severity": "critical"}, "op": ">",
     "threshold": 0, "for_s": 0, "severity": "critical"},
)  # fmt: skip
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    unsupported_method,
]
EXCLUDED_PATHS = ("/v1/alerts/stream", "/metrics")


def _streams(operation: Any) -> bool:
    """Whether any documented response of the operation is a Server-Sent Events stream."""
    responses = operation.definition.raw.get("responses", {})
    return any("text/event-stream" in (r.get("content") or {}) for r in responses.values())


def _excluded(ctx: Any) -> bool:
    operation = ctx.operation
    return operation.path in EXCLUDED_PATHS or _streams(operation)


def _settings(chdb_path: Path | str, database: str, data_dir: Path) -> Settings:
    return Settings(
        api_keys="acme:k1,globex:k2",
        # every operation is called with unknown keys on purpose, from one address: the
        # failed-authentication throttle has its own test (test_api_limits.py)
        auth_failure_burst=1_000_000,
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        kafka_bootstrap="127.0.0.1:1",
        data_dir=data_dir,
    )


def _no_database() -> Any:
    raise RuntimeError("the seeded fixture was not applied")


# The schema must exist when pytest collects the tests, before any fixture runs (and the
# lazy ``schemathesis.pytest.from_fixture`` loader does not work with pytest 9). The app
# is built once here, with a reader and a webhook store that refuse to open; ``seeded``
# swaps in ones on the test's seeded database (routes take them from ``app.state``). The
# alert feed is never started: an authenticated stream request would be a 503.
_APP_SETTINGS = _settings("/nonexistent", "none", Path("/nonexistent"))


class _Unannounced:
    """Alert state and rule changes go nowhere (no broker here; the stream and the rules
    topic have their own tests)."""

    def publish(self, change: AlertStateChange | RuleChange) -> None:
        pass


class _Unaudited:
    """Audit rows go nowhere (the audit has its own tests, test_api_access.py)."""

    def record(self, entry: AuditEntry) -> None:
        pass


APP = create_app(
    _APP_SETTINGS,
    reader=ResultsReader(_no_database),
    kafka_check=lambda: None,
    store_lag=dict,  # no storage writer here: /readyz must not ask a broker
    alert_states=_Unannounced(),
    rule_changes=_Unannounced(),
    audit_log=_Unaudited(),
)
subscriptions.install(APP, WebhookStore(_no_database))
stream.install(APP, AlertFeed.from_settings(_APP_SETTINGS))
ALL_OPERATIONS = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema = ALL_OPERATIONS.exclude(_excluded)


@schema.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half the time, seeded ids instead of random ones (so 200s are fuzzed too)."""
    deleting = ctx.operation is not None and ctx.operation.method.upper() == "DELETE"
    ids = {
        "agent_id": AGENT_IDS,
        "client_id": CLIENT_IDS,
        "subscription_id": DELETE_IDS if deleting else READ_IDS,
        "alert_id": ALERT_IDS,
        "rule_id": (*ACME_DELETABLE_RULES, *GLOBEX_RULES) if deleting else ACME_RULES,
        "ticket_id": ROUTED_TICKETS,
        "complaint_id": ROUTED_COMPLAINTS,
    }
    if not path_parameters or not ids.keys() & path_parameters.keys():
        return st.just(path_parameters)
    params = path_parameters
    known = st.fixed_dictionaries({n: st.sampled_from(ids[n]) for n in params if n in ids}).map(
        lambda k: {**params, **k}
    )
    return st.one_of(st.just(params), known)


@schema.hook
def flatmap_query(ctx: Any, query: dict[str, Any] | None) -> Any:
    """Half the time, real factor names in ``without`` (random ones are always a 422)."""
    if not query or "without" not in query:
        return st.just(query)
    q = query
    names = st.lists(st.sampled_from(FACTOR_NAMES), min_size=1, max_size=3)
    return st.one_of(st.just(q), names.map(lambda w: {**q, "without": w}))


@schema.hook
def flatmap_body(ctx: Any, body: Any) -> Any:
    """Half the time, a valid webhook ``url`` or threshold rule (random strings almost
    never are one)."""
    if isinstance(body, dict) and "metric" in body:
        return st.one_of(st.just(body), st.sampled_from(VALID_RULES))
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        return st.just(body)
    b = body
    return st.one_of(st.just(b), st.sampled_from(WEBHOOK_URLS).map(lambda u: {**b, "url": u}))


# routing: acme's tickets (one with candidates, one unroutable) and a complaint, globex's
ROUTED_TICKETS = ("T1", "T2", "G1")
ROUTED_COMPLAINTS = ("K1",)


def seed_routing(ch: Any) -> None:
    """Recommendations for ROUTED_TICKETS and ROUTED_COMPLAINTS, a decision for T1."""
    recs = []
    for tenant, subject_type, subject_id, agents in (
        ("acme", "ticket", "T1", ["a1", "a2"]),
        ("acme", "ticket", "T2", []),
        ("acme", "complaint", "K1", ["a2"]),
        ("globex", "ticket", "G1", ["g1"]),
    ):
        rec = RoutingRecommendation(
            recommendation_id=recommendation_id(tenant, subject_type, subject_id),
            tenant_id=tenant,
            ticket_id=subject_id if subject_type == "ticket" else "",
            subject_type=subject_type,
            subject_id=subject_id,
            made_at=SEEDED_AT,
            category="billing",
            queue="billing",
            severity="" if subject_type == "ticket" else "critical",
            eligible_agents=len(agents),
            reason="" if agents else "no_eligible_agent",
            factor_names=["workload", "fairness"],
            candidate_agent_ids=agents,
            candidate_scores=[0.5] * len(agents),
            candidate_factors=[[0.0, 0.5]] * len(agents),
        )
        recs.append(ROUTING_RECOMMENDATIONS.to_row(rec))
    ch.insert(ROUTING_RECOMMENDATIONS.table, recs, column_names=ROUTING_RECOMMENDATIONS.columns)
    decision = RoutingDecision(
        decision_id=decision_id("acme", "T1"),
        tenant_id="acme",
        ticket_id="T1",
        recommendation_id=recommendation_id("acme", "ticket", "T1"),
        version=3,
        assigned_at=SEEDED_AT,
        agent_id="a1",
        assigned_by="auto",
        rank=1,
        adoption="top",
        first_response_s=120.0,
        handle_time_s=900.0,
        csat=4,
        reopened=False,
        updated_at=SEEDED_AT,
    )
    ch.insert(
        ROUTING_DECISIONS.table,
        [ROUTING_DECISIONS.to_row(decision)],
        column_names=ROUTING_DECISIONS.columns,
    )


@pytest.fixture(scope="module")
def seeded(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Two tenants' rows in a database of this module, read (and, for webhook
    subscriptions, written) by ``APP`` meanwhile.

    Module-scoped (each operation is a test of its own; the API only reads, but for the
    subscriptions it creates and deletes and the alerts it acknowledges and resolves,
    which the other operations tolerate), on the
    session's engine path like ``conftest.database``.
    """
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", database, log=lambda _m: None, retention_days=KEEP_TEST_ROWS)
    s = _settings(chdb_path, database, tmp_path_factory.mktemp("data"))
    test_api.seed(s.dsn, database)
    test_api_risk_ops.seed(s.dsn, database)
    subs = [*ACME_SUBS, *ACME_DELETABLE, *GLOBEX_SUBS]
    # a pending delivery (failed once) and a delivered one per subscription
    deliveries = [
        (sub, uuid.uuid5(NS, f"{sub.subscription_id}/alert/{code}"), code)
        for sub in subs
        for code in (503, 200)
    ]
    seed_webhooks(s.dsn, database, subs, deliveries, SEEDED_AT)
    rules = [
        [tenant, rule_id, json.dumps(RULE), 0, 1, SEEDED_AT]
        for tenant, ids in (
            ("acme", (*ACME_RULES, *ACME_DELETABLE_RULES)),
            ("globex", GLOBEX_RULES),
        )
        for rule_id in ids
    ]
    ch = open_client(s.dsn, database)
    ch.insert(ALERT_RULES.table, rules, column_names=ALERT_RULES.columns)
    seed_routing(ch)
    ch.close()
    reader = ResultsReader(lambda: open_client(s.dsn, database))
    store = WebhookStore(lambda: open_client(s.dsn, database))
    previous = APP.state.reader, APP.state.webhook_store
    APP.state.reader, APP.state.webhook_store = reader, store
    try:
        yield
    finally:
        APP.state.reader, APP.state.webhook_store = previous
        reader.close()
        store.close()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@pytest.mark.usefixtures("seeded")
def test_api_conforms_to_its_schema(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers=ACME, checks=CHECKS)


# --- auth -------------------------------------------------------------------------------

BAD_KEYS: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer not-a-key"},
    {"Authorization": "Basic k1"},
]


VALID_PATH_IDS = {
    "agent_id": AGENT_IDS[0],
    "client_id": CLIENT_IDS[0],
    "subscription_id": READ_IDS[0],
    "suggestion_id": "6f1d3c2e-2b7a-5c1e-9a43-0c1f9f3f5a10",
    "alert_id": ALERT_IDS[0],
    "rule_id": ACME_RULES[0],
    "ticket_id": ROUTED_TICKETS[0],
    "complaint_id": ROUTED_COMPLAINTS[0],
    "erasure_id": "0b6a3c1e-5d2f-4e8a-9c71-3f2e1d0c9b8a",
}
# Required query parameters, by path (the rest have defaults).
VALID_QUERIES: dict[str, dict[str, Any]] = {
    "/v1/clients/{client_id}/risk/what-if": {"without": ["escalations"]},
    "/v1/demand/forecast": {"segment_type": "queue", "segment": "billing"},
}


@pytest.mark.usefixtures("seeded")
def test_every_v1_operation_needs_a_known_key() -> None:
    """Each /v1 operation, with a valid request but no/an unknown key, is a 401 - the
    event stream too (the 401 comes before any stream is opened)."""
    seen, before = [], _subscription_ids()
    for result in ALL_OPERATIONS.include(path_regex=r"^/v1/").get_all_operations():
        assert isinstance(result, Ok), result  # the schema is valid
        operation = result.ok()
        seen.append(operation.label)
        params = {name: VALID_PATH_IDS[name] for name in _path_parameter_names(operation.path)}
        query = VALID_QUERIES.get(operation.path)
        body: dict[str, Any] = {}
        if operation.body:  # POST /v1/subscriptions, /v1/rules
            valid = RULE if operation.path == "/v1/rules" else {"url": WEBHOOK_URLS[0]}
            body = {"body": valid, "media_type": "application/json"}
        for headers in BAD_KEYS:
            case = operation.Case(path_parameters=params, query=query, headers=headers, **body)
            response = case.call()
            assert response.status_code == 401, (operation.label, headers, response.text)
            assert response.headers.get("www-authenticate") == ["Bearer"], operation.label
            case.validate_response(response, checks=CHECKS)  # 401 is documented, body too
    assert {
        "GET /v1/agents",
        "GET /v1/ops/live",
        "GET /v1/alerts/stream",
        "GET /v1/demand/forecast",
        "GET /v1/demand/segments",
        "GET /v1/kb/suggestions",
        "POST /v1/kb/suggestions/{suggestion_id}/accept",
        "POST /v1/kb/suggestions/{suggestion_id}/dismiss",
        "POST /v1/alerts/{alert_id}/ack",
        "POST /v1/alerts/{alert_id}/resolve",
        "POST /v1/subscriptions",
        "GET /v1/subscriptions",
        "GET /v1/subscriptions/{subscription_id}",
        "DELETE /v1/subscriptions/{subscription_id}",
        "GET /v1/subscriptions/{subscription_id}/deliveries",
        "POST /v1/rules",
        "GET /v1/rules",
        "DELETE /v1/rules/{rule_id}",
    } <= set(seen)
    assert _subscription_ids() == before, "a refused request changed the subscriptions"


def _subscription_ids() -> dict[str, set[str]]:
    store: WebhookStore = APP.state.webhook_store
    return {
        tenant: {str(s.subscription_id) for s in store.list_subscriptions(tenant)}
        for tenant in ("acme", "globex")
    }


def _path_parameter_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
