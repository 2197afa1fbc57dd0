"""DELETE /v1/clients/{client_id}/data and GET /v1/erasures/{erasure_id} on the embedded
engine: admin keys only (403 for read/write keys, 401 without), the erasure always of
the caller's tenant whatever the path says, another tenant's receipt a 404 like an
unknown one (property-tested), the call audited, and a broker outage a 503."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from schemas.audit import AuditEntry
from schemas.privacy import Erasure
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.publisher import PublishError
from sinks.tables import ERASURES
from tests.integration.api_support import api_settings

pytestmark = pytest.mark.integration

TENANTS = ("acme", "globex", "initech")
ADMIN = {t: f"{t}-admin-key-0123456789abcdef" for t in TENANTS}
WRITER = {t: f"{t}-write-key-0123456789abcdef" for t in TENANTS}
NOW = datetime(2026, 3, 3, 8, 30, tzinfo=UTC)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Requests:
    """Stands in for the Kafka side of a request (the pipeline is tested elsewhere):
    stores the ``requested`` receipt where the storage writer would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls: list[tuple[str, str]] = []
        self.fail = False

    def request(self, tenant: str, client_id: str, now: datetime) -> Erasure:
        if self.fail:
            raise PublishError("the broker is down")
        self.calls.append((tenant, client_id))
        receipt = Erasure.requested(tenant, client_id, now)
        store(self.settings, receipt)
        return receipt


class Audit:
    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.rows.append(entry)


def store(s: Settings, receipt: Erasure) -> None:
    client = open_client(s.dsn, s.clickhouse_database)
    try:
        client.insert("erasures", [ERASURES.to_row(receipt)], column_names=list(ERASURES.columns))
    finally:
        client.close()


@pytest.fixture
def app_parts(
    chdb_path: Path, database: str, tmp_path: Path
) -> Iterator[tuple[TestClient, Requests, Audit]]:
    keys = ",".join(
        [f"{t}:{ADMIN[t]}:read+write+admin" for t in TENANTS]
        + [f"{t}:{WRITER[t]}" for t in TENANTS]
    )
    s = api_settings(chdb_path, database, tmp_path, keys)
    requests, audit = Requests(s), Audit()
    app = create_app(
        s,
        kafka_check=lambda: None,
        store_lag=dict,
        erasure_requests=requests,
        audit_log=audit,
        now=lambda: NOW,
    )
    with TestClient(app) as tc:
        yield tc, requests, audit


def test_erase_answers_202_with_the_receipt_and_its_location(
    app_parts: tuple[TestClient, Requests, Audit],
) -> None:
    tc, requests, audit = app_parts
    r = tc.delete("/v1/clients/cl-1/data", headers=bearer(ADMIN["acme"]))
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["tenant_id"], body["client_id"], body["status"]) == ("acme", "cl-1", "requested")
    assert body["completed_at"] is None
    assert r.headers["location"] == f"/v1/erasures/{body['erasure_id']}"
    got = tc.get(r.headers["location"], headers=bearer(ADMIN["acme"]))
    assert got.status_code == 200
    assert got.json()["erasure_id"] == body["erasure_id"]
    assert requests.calls == [("acme", "cl-1")]
    (row,) = [a for a in audit.rows if a.method == "DELETE"]
    assert (row.tenant_id, row.status, row.path_params) == ("acme", 202, {"client_id": "cl-1"})


def test_only_admin_keys_erase_or_read_receipts(
    app_parts: tuple[TestClient, Requests, Audit],
) -> None:
    tc, requests, audit = app_parts
    for headers, code in ((bearer(WRITER["acme"]), 403), ({}, 401), (bearer("nope" * 8), 401)):
        assert tc.delete("/v1/clients/cl-1/data", headers=headers).status_code == code
        assert tc.get(f"/v1/erasures/{uuid.uuid4()}", headers=headers).status_code == code
    assert requests.calls == []
    refused = [a for a in audit.rows if a.method == "DELETE"]
    assert [a.outcome for a in refused] == ["forbidden", "unauthenticated", "unauthenticated"]


def test_a_broker_outage_is_a_503_and_nothing_is_claimed(
    app_parts: tuple[TestClient, Requests, Audit],
) -> None:
    tc, requests, _ = app_parts
    requests.fail = True
    r = tc.delete("/v1/clients/cl-1/data", headers=bearer(ADMIN["acme"]))
    assert r.status_code == 503
    assert "retry" in r.json()["detail"]


def test_hostile_client_ids(app_parts: tuple[TestClient, Requests, Audit]) -> None:
    tc, requests, _ = app_parts
    long_id = "x" * 129
    assert (
        tc.delete(f"/v1/clients/{long_id}/data", headers=bearer(ADMIN["acme"])).status_code == 422
    )
    # SQL and path tricks are just ids (bound parameters, never formatted into SQL)
    for weird in ("'; DROP TABLE events; --", "..%2F..%2Fadmin", "cl-1' OR '1'='1"):
        r = tc.delete(f"/v1/clients/{weird}/data", headers=bearer(ADMIN["acme"]))
        assert r.status_code in (202, 404), (weird, r.status_code)
    assert all(t == "acme" for t, _ in requests.calls)
    assert tc.get("/v1/erasures/not-a-uuid", headers=bearer(ADMIN["acme"])).status_code == 422


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    caller=st.sampled_from(TENANTS),
    owner=st.sampled_from(TENANTS),
    client_id=st.text(
        alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters="-_."),
        min_size=1,
        max_size=40,
    ),
)
def test_erasures_are_the_callers_tenants_only(
    app_parts: tuple[TestClient, Requests, Audit], caller: str, owner: str, client_id: str
) -> None:
    """Whatever the path names, the erasure is of the caller's tenant; another tenant's
    receipt is a 404 with the very body of an unknown id; the caller's own is readable."""
    tc, requests, _ = app_parts
    made = tc.delete(f"/v1/clients/{client_id}/data", headers=bearer(ADMIN[owner]))
    if client_id in (".", ".."):  # not a path segment the client can send
        return
    assert made.status_code == 202, made.text
    assert requests.calls[-1] == (owner, client_id)
    location = made.headers["location"]
    seen = tc.get(location, headers=bearer(ADMIN[caller]))
    if caller == owner:
        assert seen.status_code == 200
        assert seen.json()["tenant_id"] == owner
    else:
        assert seen.status_code == 404
    unknown = tc.get(f"/v1/erasures/{uuid.uuid4()}", headers=bearer(ADMIN[caller]))
    assert unknown.status_code == 404
    assert (
        unknown.json()
        == {"detail": "no such erasure"}
        == (seen.json() if caller != owner else unknown.json())
    )
