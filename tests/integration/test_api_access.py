"""API key scopes (403), the access audit end to end, and the audit's tenant isolation.

Scopes: every state-changing route family refuses a key without ``write`` (and
``GET /v1/audit`` one without ``admin``) with 403, before it validates or touches
anything; a key with the scope gets through to the route's own answer.

Audit: calls through ``create_app``'s real audit path (the ``audit_log`` result topic on
the real broker, then the storage writer into the embedded ClickHouse), then read back
with ``GET /v1/audit``: a success, a 404, a 422, a 403, a 401 and a 413 each leave a row;
a GET leaves none; no row ever holds a key or a body.

Isolation (hypothesis): with audit rows of three tenants and of unauthenticated callers,
``GET /v1/audit`` as any tenant, over any range and limit, returns exactly that tenant's
rows in the range, newest first, and nothing of anyone else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.app import create_app
from api.routers import subscriptions
from infra.storage import drain
from infra.topics import ensure_topics
from schemas.api_keys import key_id
from schemas.audit import AuditEntry
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.tables import AUDIT_LOG
from sinks.webhooks.store import default_store

pytestmark = pytest.mark.integration

# long enough for a real server (24+ characters); one key per scope set
READ = "acme-read-only-0123456789abcdef"
WRITE = "acme-write-only-0123456789abcdef"
ADMIN = "acme-admin-only-0123456789abcdef"
ALL = "acme-every-scope-0123456789abcdef"
GLOBEX_ALL = "globex-every-scope-0123456789abcd"
KEYS = (
    f"acme:{READ}:read,acme:{WRITE}:write,acme:{ADMIN}:admin,"
    f"acme:{ALL}:read+write+admin,globex:{GLOBEX_ALL}:read+write+admin"
)
RULE: dict[str, Any] = {
    "metric": "queue_depth",
    "scope": {"queue": "billing"},
    "op": ">",
    "threshold": 3,
    "for_s": 300,
    "severity": "high",
}
UNKNOWN = "00000000-0000-4000-8000-000000000001"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def access_settings(base: Settings, **extra: Any) -> Settings:
    """The test's own settings (topics, database) with this module's keys."""
    return Settings(
        kafka_bootstrap=base.kafka_bootstrap,
        topic_prefix=base.topic_prefix,
        data_dir=base.data_dir,
        clickhouse_dsn=base.clickhouse_dsn,
        clickhouse_database=base.clickhouse_database,
        api_keys=KEYS,
        **extra,
    )


class Recorded:
    """An audit log that keeps the rows (for the scope tests, which check answers only)."""

    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.rows.append(entry)


def full_app(s: Settings, **kwargs: Any) -> FastAPI:
    store = default_store(s)
    app = create_app(s, kafka_check=lambda: None, store_lag=dict, services=[store], **kwargs)
    subscriptions.install(app, store)
    return app


# (method, path, json body) of each state-changing route family, and the scope it needs
WRITE_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", f"/v1/alerts/{UNKNOWN}/ack", {"note": "x"}),
    ("POST", f"/v1/alerts/{UNKNOWN}/resolve", None),
    ("POST", f"/v1/kb/suggestions/{UNKNOWN}/accept", None),
    ("POST", f"/v1/kb/suggestions/{UNKNOWN}/dismiss", None),
    ("POST", "/v1/rules", {"not": "a rule"}),
    ("DELETE", "/v1/rules/no-such-rule", None),
    ("POST", "/v1/subscriptions", {"url": "not a url"}),
    ("DELETE", f"/v1/subscriptions/{UNKNOWN}", None),
    ("POST", f"/v1/subscriptions/{UNKNOWN}/rotate-secret", None),
]


@pytest.fixture
def scoped(settings: Settings) -> Iterator[tuple[TestClient, Recorded]]:
    audit = Recorded()
    with TestClient(full_app(access_settings(settings), audit_log=audit)) as tc:
        yield tc, audit


def test_each_state_changing_route_needs_the_write_scope(
    scoped: tuple[TestClient, Recorded],
) -> None:
    tc, audit = scoped
    for method, path, body in WRITE_ROUTES:
        for key in (READ, ADMIN):
            r = tc.request(method, path, json=body, headers=bearer(key))
            assert r.status_code == 403, (method, path, key, r.text)
            assert "lacks the 'write' scope" in r.json()["detail"]
        r = tc.request(method, path, json=body, headers=bearer(WRITE))
        assert r.status_code not in (401, 403), (method, path, r.text)
        assert tc.request(method, path, json=body).status_code == 401
    # the 403s are audited with the caller's tenant and key id, never the key
    forbidden = [row for row in audit.rows if row.outcome == "forbidden"]
    assert len(forbidden) == 2 * len(WRITE_ROUTES)
    assert {row.key_id for row in forbidden} == {key_id(READ), key_id(ADMIN)}
    assert {row.tenant_id for row in forbidden} == {"acme"}
    # every call reached its route (a renamed route would pass as a 404 otherwise)
    assert all(row.route != "<unmatched>" for row in audit.rows)


def test_reads_need_the_read_scope_and_the_audit_needs_admin(
    scoped: tuple[TestClient, Recorded],
) -> None:
    tc, _ = scoped
    for path in ("/v1/alerts", "/v1/agents", "/v1/rules", "/v1/subscriptions", "/v1/ops/live"):
        for key in (WRITE, ADMIN):
            r = tc.get(path, headers=bearer(key))
            assert r.status_code == 403, (path, r.text)
            assert "lacks the 'read' scope" in r.json()["detail"]
        assert tc.get(path, headers=bearer(READ)).status_code in (200, 404), path
    for key in (READ, WRITE):
        r = tc.get("/v1/audit", headers=bearer(key))
        assert r.status_code == 403
        assert "lacks the 'admin' scope" in r.json()["detail"]
    assert tc.get("/v1/audit", headers=bearer(ADMIN)).json() == {"items": []}
    assert tc.get("/v1/audit").status_code == 401


def test_audit_rows_through_kafka_and_the_storage_writer(settings: Settings) -> None:
    s = access_settings(settings, api_max_body_bytes=4096)
    ensure_topics(s, log=lambda _m: None)  # the result topics (audit_log among them)
    rid = "req-0042.attack:probe"
    with TestClient(create_app(s, kafka_check=lambda: None, store_lag=dict)) as tc:
        created = tc.post("/v1/rules", json=RULE, headers={**bearer(ALL), "X-Request-ID": rid})
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"] == rid
        rule_id = created.json()["rule_id"]
        assert tc.post(f"/v1/alerts/{UNKNOWN}/ack", headers=bearer(ALL)).status_code == 404
        assert tc.post("/v1/rules", json={"x": 1}, headers=bearer(ALL)).status_code == 422
        assert tc.delete(f"/v1/rules/{rule_id}", headers=bearer(READ)).status_code == 403
        bad = tc.delete(f"/v1/rules/{rule_id}", headers=bearer("a-wrong-key-000000000000000"))
        assert bad.status_code == 401
        huge = tc.post("/v1/rules", content=b"{" + b" " * 10_000 + b"}")  # no key at all
        assert huge.status_code == 413
        assert tc.get("/v1/rules", headers=bearer(ALL)).status_code == 200  # not audited
        weird_id = tc.delete("/v1/rules/x", headers={**bearer(ALL), "X-Request-ID": "a b"})
        assert weird_id.headers["x-request-id"] != "a b"  # replaced: not a valid id
    assert drain(s) >= 7  # the app closed: its audit rows are on the broker; store them

    with TestClient(create_app(s, kafka_check=lambda: None, store_lag=dict)) as tc:
        items = tc.get("/v1/audit", headers=bearer(ADMIN)).json()["items"]
        assert tc.get("/v1/audit", headers=bearer(GLOBEX_ALL)).json() == {"items": []}
    seen = sorted((i["method"], i["route"], i["status"], i["outcome"]) for i in items)
    assert seen == sorted(
        [
            ("POST", "/v1/rules", 201, "success"),
            ("POST", "/v1/alerts/{alert_id}/ack", 404, "rejected"),
            ("POST", "/v1/rules", 422, "rejected"),
            ("DELETE", "/v1/rules/{rule_id}", 403, "forbidden"),
            ("DELETE", "/v1/rules/{rule_id}", 404, "rejected"),
        ]
    )
    by_status = {(i["method"], i["status"]): i for i in items}
    assert by_status[("POST", 201)]["request_id"] == rid
    assert by_status[("POST", 201)]["key_id"] == key_id(ALL)
    assert by_status[("DELETE", 403)]["key_id"] == key_id(READ)
    assert by_status[("DELETE", 403)]["path_params"] == {"rule_id": rule_id}
    assert by_status[("POST", 404)]["path_params"] == {"alert_id": UNKNOWN}
    assert all(i["client"] == "testclient" and i["tenant_id"] == "acme" for i in items)

    # unauthenticated calls belong to no tenant: only the operator sees them
    ch = open_client(s.dsn, s.clickhouse_database)
    try:
        rows = list(ch.query("SELECT * FROM audit_log FINAL ORDER BY at").named_results())
        everything = json.dumps(rows, default=str)
    finally:
        ch.close()
    anonymous = sorted((r["method"], r["status"], r["outcome"]) for r in rows if not r["tenant_id"])
    assert anonymous == [("DELETE", 401, "unauthenticated"), ("POST", 413, "too_large")]
    for secret in (READ, WRITE, ADMIN, ALL, GLOBEX_ALL, "a-wrong-key-000000000000000"):
        assert secret not in everything
    assert "billing" not in everything  # the rule's body is never recorded


# --- tenant isolation of GET /v1/audit (property) --------------------------------------

TENANTS = ("acme", "globex", "initech")
T0 = datetime(2026, 3, 2, tzinfo=UTC)
ROWS_PER_TENANT = 12


def _rows() -> list[AuditEntry]:
    """Rows of every tenant and of nobody (''), at the same instants, with tokens unique
    to their tenant in every free-text column."""
    out = []
    for owner in (*TENANTS, ""):
        for n in range(ROWS_PER_TENANT):
            token = f"{owner or 'anon'}-{n}-{uuid.uuid4().hex[:8]}"
            out.append(
                AuditEntry.of(
                    tenant_id=owner,
                    key_id=f"k{token}"[:12] if owner else "",
                    method=("POST", "DELETE")[n % 2],
                    route=f"/v1/rules/{{rule_id}}#{token}",
                    path_params={"rule_id": token},
                    status=(201, 404, 403, 401)[n % 4],
                    client=f"10.0.0.{n}",
                    request_id=token,
                    at=T0 + timedelta(minutes=10 * n),
                )
            )
    return out


@pytest.fixture(scope="module")
def isolation(
    kafka_bootstrap: str, chdb_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, list[AuditEntry]]]:
    from infra.migrate import migrate

    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", database, log=lambda _m: None)
    keys = ",".join(f"{t}:{t}-admin-key-0123456789abcdef:admin" for t in TENANTS)
    s = Settings(
        kafka_bootstrap="127.0.0.1:1",
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        data_dir=tmp_path_factory.mktemp("audit-isolation"),
        api_keys=keys,
    )
    rows = _rows()
    ch = open_client(s.dsn, database)
    try:
        ch.insert(
            AUDIT_LOG.table,
            [list(AUDIT_LOG.to_row(r)) for r in rows],
            column_names=AUDIT_LOG.columns,
        )
    finally:
        ch.close()
    app = create_app(s, kafka_check=lambda: None, store_lag=dict, audit_log=Recorded(), now=_now)
    with TestClient(app) as tc:
        yield tc, rows


NOW = T0 + timedelta(days=1)  # the app's wall clock: the default end


def _now() -> datetime:
    return NOW


_INSTANTS = st.one_of(
    st.none(),
    st.integers(min_value=-2, max_value=ROWS_PER_TENANT + 2).map(
        lambda n: (T0 + timedelta(minutes=10 * n - 5)).isoformat()
    ),
)


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    caller=st.sampled_from(TENANTS),
    start=_INSTANTS,
    end=_INSTANTS,
    limit=st.integers(min_value=1, max_value=40),
)
def test_audit_shows_a_tenant_exactly_its_own_rows(
    isolation: tuple[TestClient, list[AuditEntry]],
    caller: str,
    start: str | None,
    end: str | None,
    limit: int,
) -> None:
    tc, rows = isolation
    params: dict[str, Any] = {"limit": limit}
    if start is not None:
        params["start"] = start
    if end is not None:
        params["end"] = end
    r = tc.get("/v1/audit", params=params, headers=bearer(f"{caller}-admin-key-0123456789abcdef"))
    hi = datetime.fromisoformat(end) if end is not None else NOW
    lo = datetime.fromisoformat(start) if start is not None else hi - timedelta(days=7)
    if lo >= hi:
        assert r.status_code == 422
        return
    assert r.status_code == 200, r.text
    mine = sorted(
        (row for row in rows if row.tenant_id == caller and lo <= row.at < hi),
        key=lambda row: row.at,
        reverse=True,
    )[:limit]
    assert [i["audit_id"] for i in r.json()["items"]] == [str(row.audit_id) for row in mine]
    for other in rows:
        if other.tenant_id != caller:
            assert other.request_id not in r.text
    assert all(i["tenant_id"] == caller for i in r.json()["items"])
