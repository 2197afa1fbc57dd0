"""POST/GET/DELETE /v1/rules (issue #12) on the embedded engine: stored in alert_rules,
each change published (a recorder stands in for the rules topic), tenant-scoped, file
rules listed and protected, and the attacks: oversized, other tenants' ids, bad ops and
metrics, too many rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from schemas.alert_rules import MAX_RULES_PER_TENANT, RuleChange
from schemas.settings import Settings
from sinks.publisher import PublishError
from tests.integration.test_api import make_settings

pytestmark = pytest.mark.integration
ACME = {"Authorization": "Bearer k1"}
GLOBEX = {"Authorization": "Bearer k2"}
NOW = datetime(2026, 3, 3, 8, 30, tzinfo=UTC)
RULE: dict[str, Any] = {
    "metric": "queue_depth",
    "scope": {"queue": "billing"},
    "op": ">",
    "threshold": 3,
    "for_s": 300,
    "severity": "high",
}
FILE_RULE = {**RULE, "rule_id": "from-file", "threshold": 10}


class Recorder:
    def __init__(self) -> None:
        self.changes: list[RuleChange] = []
        self.fail = False

    def publish(self, change: RuleChange) -> None:
        if self.fail:
            raise PublishError("the broker is down")
        self.changes.append(change)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(
    chdb_path: Path, database: str, tmp_path: Path, recorder: Recorder
) -> Iterator[TestClient]:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"acme": [FILE_RULE]}))
    s: Settings = make_settings(chdb_path, database, tmp_path).model_copy(
        update={"alert_rules_file": rules}
    )
    app = create_app(
        s, kafka_check=lambda: None, store_lag=dict, now=Clock(), rule_changes=recorder
    )
    with TestClient(app) as tc:
        yield tc


def ids(tc: TestClient, headers: dict[str, str]) -> list[tuple[str, str]]:
    r = tc.get("/v1/rules", headers=headers)
    assert r.status_code == 200, r.text
    return [(i["rule_id"], i["source"]) for i in r.json()["items"]]


def test_create_list_delete(client: TestClient, recorder: Recorder) -> None:
    assert ids(client, ACME) == [("from-file", "file")]
    r = client.post("/v1/rules", json=RULE, headers=ACME)
    assert r.status_code == 201, r.text
    body = r.json()
    rid = body["rule_id"]
    assert rid.startswith("r-")
    assert body == {**RULE, "threshold": 3.0, "for_s": 300.0, "rule_id": rid, "source": "api"}
    # the same rule again: the same derived id, replaced (still one)
    assert client.post("/v1/rules", json=RULE, headers=ACME).json()["rule_id"] == rid
    named = client.post("/v1/rules", json={**RULE, "rule_id": "backlog"}, headers=ACME)
    assert named.status_code == 201
    assert ids(client, ACME) == [("from-file", "file"), ("backlog", "api"), (rid, "api")]
    assert [c.rule_id for c in recorder.changes] == [rid, rid, "backlog"]
    assert recorder.changes[0].rule is not None
    assert recorder.changes[0].tenant_id == "acme"

    assert client.delete(f"/v1/rules/{rid}", headers=ACME).status_code == 204
    assert ids(client, ACME) == [("from-file", "file"), ("backlog", "api")]
    assert recorder.changes[-1].rule is None
    assert recorder.changes[-1].version > recorder.changes[0].version
    assert client.delete(f"/v1/rules/{rid}", headers=ACME).status_code == 404  # gone


def test_tenants_are_isolated(client: TestClient, recorder: Recorder) -> None:
    rid = client.post("/v1/rules", json={**RULE, "rule_id": "mine"}, headers=ACME).json()
    assert rid["rule_id"] == "mine"
    assert ids(client, GLOBEX) == []  # neither acme's API rule nor its file rule
    # globex cannot delete acme's rule, nor learn it exists (the same 404 as unknown)
    other = client.delete("/v1/rules/mine", headers=GLOBEX)
    unknown = client.delete("/v1/rules/never", headers=GLOBEX)
    assert other.status_code == unknown.status_code == 404
    assert other.json() == unknown.json()
    # the same rule_id in globex is globex's own rule; acme's stays
    assert (
        client.post("/v1/rules", json={**RULE, "rule_id": "mine"}, headers=GLOBEX).status_code
        == 201
    )
    assert client.delete("/v1/rules/mine", headers=GLOBEX).status_code == 204
    assert ids(client, ACME) == [("from-file", "file"), ("mine", "api")]
    assert [c.tenant_id for c in recorder.changes] == ["acme", "globex", "globex"]


def test_file_rules_are_read_only(client: TestClient, recorder: Recorder) -> None:
    r = client.delete("/v1/rules/from-file", headers=ACME)
    assert r.status_code == 409
    assert "rules file" in r.json()["detail"]
    r = client.post("/v1/rules", json={**RULE, "rule_id": "from-file"}, headers=ACME)
    assert r.status_code == 409
    assert recorder.changes == []
    # globex has no file rule of that id: its own API rule may use it
    assert (
        client.post("/v1/rules", json={**RULE, "rule_id": "from-file"}, headers=GLOBEX).status_code
        == 201
    )


@pytest.mark.parametrize(
    "change",
    [
        {"metric": "nope"},
        {"metric": "sla_breaches_1h", "scope": {"priority": "asap"}},
        {"op": ">="},
        {"op": "!"},
        {"threshold": "NaN"},
        {"threshold": 1e300},
        {"for_s": -5},
        {"severity": "panic"},
        {"scope": {"queue": "x" * 10_000}},
        {"scope": {"tenant_id": "globex"}},
        {"rule_id": "x" * 65},
        {"rule_id": "../../etc"},
        {"rule_id": "a' OR 1=1 --"},
        {"tenant_id": "globex"},
        {"sql": "DROP TABLE alert_rules"},
    ],
)
def test_bad_rules_are_422(client: TestClient, recorder: Recorder, change: dict[str, Any]) -> None:
    r = client.post("/v1/rules", json={**RULE, **change}, headers=ACME)
    assert r.status_code == 422, r.text
    assert recorder.changes == []


def test_bad_rule_ids_in_the_path(client: TestClient) -> None:
    for rid in ("x" * 65, "a'b", "%27%20OR%201%3D1"):
        assert client.delete(f"/v1/rules/{rid}", headers=ACME).status_code in (404, 422)
    assert ids(client, ACME) == [("from-file", "file")]


def test_oversized_body_and_no_key(client: TestClient) -> None:
    assert client.post("/v1/rules", json=RULE).status_code == 401
    assert client.get("/v1/rules").status_code == 401
    big = {**RULE, "scope": {f"k{i}": "v" for i in range(5000)}}
    assert client.post("/v1/rules", json=big, headers=ACME).status_code == 422


def test_at_most_100_rules_per_tenant(client: TestClient) -> None:
    # acme has one file rule: 99 API rules fit, the 100th does not; replacing one does
    for i in range(MAX_RULES_PER_TENANT - 1):
        r = client.post("/v1/rules", json={**RULE, "rule_id": f"r{i}"}, headers=ACME)
        assert r.status_code == 201, r.text
    r = client.post("/v1/rules", json={**RULE, "rule_id": "one-more"}, headers=ACME)
    assert r.status_code == 409
    assert "at most 100" in r.json()["detail"]
    assert (
        client.post(
            "/v1/rules", json={**RULE, "rule_id": "r0", "threshold": 5}, headers=ACME
        ).status_code
        == 201
    )


def test_unpublished_change_is_a_503(client: TestClient, recorder: Recorder) -> None:
    recorder.fail = True
    r = client.post("/v1/rules", json=RULE, headers=ACME)
    assert r.status_code == 503
    assert "retry" in r.json()["detail"]
