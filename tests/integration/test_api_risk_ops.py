"""Client-risk and live-ops endpoints against the real embedded ClickHouse engine.

Rows are inserted straight into ``client_risk``, ``ops_snapshots``,
``ops_queue_snapshots`` and ``ops_agent_board`` (the flows are tested elsewhere). Stored
scores are made with the default ``RiskModel``, as the flows would; ``chdb_path`` /
``database`` come from ``tests/conftest.py`` (one engine path per session, one database per test).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from schemas.ids import stable_id
from schemas.ops import (
    AGENT_STATUSES,
    CSAT_RATINGS,
    MESSAGE_KINDS,
    SEVERITIES,
    AgentBoardRow,
    AgentBoardState,
    OpsSnapshot,
    PeakHour,
    QueueRow,
    QueueState,
)
from schemas.risk import FACTOR_NAMES, ClientRisk, RiskModel
from schemas.settings import Settings
from sinks import tables
from sinks.clickhouse_client import open_client
from tests.integration.api_support import api_client, api_settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
ACME = {"Authorization": "Bearer k1"}
GLOBEX = {"Authorization": "Bearer k2"}
INITECH = {"Authorization": "Bearer k3"}  # a tenant with no data at all
MODEL = RiskModel()

RISK_COLUMNS = list(tables.CLIENT_RISK.columns)
OPS_COLUMNS = list(tables.OPS_SNAPSHOTS.columns)
QUEUE_COLUMNS = list(tables.OPS_QUEUE_SNAPSHOTS.columns)
BOARD_COLUMNS = list(tables.OPS_AGENT_BOARD.columns)

# (tenant, client, version) -> (scored_at, contributions); scores come from MODEL
C1_V1 = {"complaints_low": 0.4}
C1_V2 = {"complaints_low": 0.4, "escalations": 1.2}
C1_V3 = {"complaints_high": 1.5, "health": 0.6}  # z = -0.9: p = 0.289050, medium
C2_V1 = {"complaints_critical": 2.5, "escalations": 1.2, "health": 1.5}  # critical
C2_V2 = {"complaints_critical": 2.5, "escalations": 1.2}  # z = 0.7: high (latest)
C3_V1 = {"low_csat": 0.7}  # low
C4_V1 = {"complaints_critical": 2.5, "escalations": 1.2, "sla_breaches": 1.2}  # critical
G1_V1 = {"complaints_critical": 2.5, "escalations": 1.2, "health": 3.0}  # 0.976, critical
GC1_V1 = {"reopenings": 0.4}  # globex's own "c1"
# acme's latest snapshot: open complaints (low, medium, high, critical) and peak hour
ACME_EXTRA = ((2, 0, 1, 3), PeakHour(hour=T0 - H, count=57))


def risk(
    tenant: str, client: str, version: int, at: datetime, contributions: dict[str, float]
) -> Sequence[Any]:
    """A ``client_risk`` row scored by MODEL, built as the flow builds it."""
    s = MODEL.score(contributions)
    row = ClientRisk(
        risk_id=stable_id("client_risk", tenant, client, version),
        tenant_id=tenant,
        client_id=client,
        version=version,
        scored_at=at,
        churn_probability=s.churn_probability,
        risk_level=s.risk_level,
        factors=s.factors,
        trigger_event_id=uuid.uuid4(),
    )
    return tables.CLIENT_RISK.to_row(row)


def snapshot(
    tenant: str,
    as_of: datetime,
    agents: tuple[int, int, int, int],
    csat: tuple[int, int, int, int, int],
    messages: tuple[int, int, int, int, int],
    complaints: tuple[int, int, int, int] = (0, 0, 0, 0),
    peak: PeakHour | None = None,
) -> Sequence[Any]:
    """An ``ops_snapshots`` row (its queues go in ``ops_queue_snapshots``)."""
    snap = OpsSnapshot(
        tenant_id=tenant,
        as_of=as_of,
        queues=[],
        agents_by_status=dict(zip(AGENT_STATUSES, agents, strict=True)),
        csat_distribution=dict(zip(CSAT_RATINGS, csat, strict=True)),
        messages_last_hour=dict(zip(MESSAGE_KINDS, messages, strict=True)),
        open_complaints=dict(zip(SEVERITIES, complaints, strict=True)),
        messages_peak_hour=peak,
    )
    return tables.OPS_SNAPSHOTS.to_row(snap)


def queue(
    tenant: str,
    as_of: datetime,
    name: str,
    depth: int,
    oldest: float,
    avg: float,
    active: int = 0,
) -> Sequence[Any]:
    """An ``ops_queue_snapshots`` row."""
    state = QueueState(
        queue=name, depth=depth, oldest_wait_s=oldest, avg_wait_s=avg, active_sessions=active
    )
    return tables.OPS_QUEUE_SNAPSHOTS.to_row(QueueRow(tenant, as_of, state))


def agent(
    tenant: str,
    as_of: datetime,
    agent_id: str,
    status: str | None,
    counts: tuple[int, int, int] = (0, 0, 0),
) -> Sequence[Any]:
    """An ``ops_agent_board`` row: (active sessions, sessions today, open tickets)."""
    state = AgentBoardState(
        agent_id=agent_id,
        status=status,  # type: ignore[arg-type]
        since=None if status is None else as_of - 5 * M,
        last_event_at=as_of - M,
        active_sessions=counts[0],
        sessions_today=counts[1],
        open_tickets=counts[2],
    )
    return tables.OPS_AGENT_BOARD.to_row(AgentBoardRow(tenant, as_of, state))


def seed(dsn: str, database: str) -> None:
    ch = open_client(dsn, database)
    # One insert per batch (versions of a key in one block would collapse on write); v3
    # of acme/c1 arrives before v2: the highest version must win whatever the order.
    batches = [
        [risk("acme", "c1", 1, T0, C1_V1), risk("acme", "c2", 1, T0, C2_V1)],
        [
            risk("acme", "c1", 3, T0 + 2 * H, C1_V3),
            risk("acme", "c3", 1, T0, C3_V1),
            risk("acme", "c5", 1, T0 + H, C3_V1),  # ties c3 on probability
            risk("acme", "c4", 1, T0, C4_V1),
            risk("globex", "g1", 1, T0, G1_V1),
            risk("globex", "c1", 1, T0 + 5 * H, GC1_V1),
        ],
        [risk("acme", "c1", 2, T0 + H, C1_V2), risk("acme", "c2", 2, T0 + H, C2_V2)],
        [risk("acme", "c1", 3, T0 + 2 * H, C1_V3)],  # a replay of v3: still one version
    ]
    for batch in batches:
        ch.insert("client_risk", batch, column_names=RISK_COLUMNS)

    # the later acme snapshot goes in first; globex's is later still (must not count)
    ch.insert(
        "ops_snapshots",
        [snapshot("acme", T0 + M, (3, 1, 2, 4), (1, 0, 2, 5, 9), (40, 2, 1, 0, 3), *ACME_EXTRA)],
        column_names=OPS_COLUMNS,
    )
    ch.insert(
        "ops_queue_snapshots",
        [
            queue("acme", T0 + M, "support", 4, 300.5, 120.25, active=3),
            queue("acme", T0 + M, "billing", 0, 0.0, 0.0),
        ],
        column_names=QUEUE_COLUMNS,
    )
    # The board: one row per agent, the greatest as_of wins whatever the insert order.
    for batch in (
        [agent("acme", T0 + M, "a1", "in_call", (2, 5, 1)), agent("acme", T0, "a2", None)],
        [agent("acme", T0, "a1", "idle", (0, 4, 3))],  # older: must not win
        [agent("globex", T0 + H, "g1", "offline", (9, 9, 9))],
    ):
        ch.insert("ops_agent_board", batch, column_names=BOARD_COLUMNS)
    ch.insert(
        "ops_snapshots",
        [
            snapshot("acme", T0, (1, 1, 1, 1), (1, 1, 1, 1, 1), (1, 1, 1, 1, 1)),
            snapshot(
                "globex", T0 + H, (9, 9, 9, 9), (9, 9, 9, 9, 9), (9, 9, 9, 9, 9), (9, 9, 9, 9)
            ),
        ],
        column_names=OPS_COLUMNS,
    )
    ch.insert(
        "ops_queue_snapshots",
        [
            queue("acme", T0, "support", 7, 900.0, 450.0),
            queue("acme", T0, "sales", 2, 60.0, 30.0),
            queue("globex", T0 + H, "support", 99, 1.0, 1.0),
        ],
        column_names=QUEUE_COLUMNS,
    )
    # a replay of the latest acme snapshot and one of its queues: still one of each
    ch.insert(
        "ops_snapshots",
        [snapshot("acme", T0 + M, (3, 1, 2, 4), (1, 0, 2, 5, 9), (40, 2, 1, 0, 3), *ACME_EXTRA)],
        column_names=OPS_COLUMNS,
    )
    ch.insert(
        "ops_queue_snapshots",
        [queue("acme", T0 + M, "support", 4, 300.5, 120.25, active=3)],
        column_names=QUEUE_COLUMNS,
    )
    ch.close()


def make_settings(chdb_path: Path, database: str, tmp_path: Path) -> Settings:
    return api_settings(chdb_path, database, tmp_path, "acme:k1,globex:k2,initech:k3")


@pytest.fixture
def settings(chdb_path: Path, database: str, tmp_path: Path) -> Settings:
    s = make_settings(chdb_path, database, tmp_path)
    seed(s.dsn, database)
    return s


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from api_client(settings)


def scored(contributions: dict[str, float], without: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON the API should show for MODEL's score of ``contributions``."""
    return MODEL.score(contributions, without=without).model_dump(mode="json")


def item(client_id: str, at: datetime, contributions: dict[str, float]) -> dict[str, Any]:
    return {"client_id": client_id, **scored(contributions), "scored_at": at.isoformat()}


def version(n: int, at: datetime, contributions: dict[str, float]) -> dict[str, Any]:
    return {**scored(contributions), "scored_at": at.isoformat(), "version": n}


# --- auth -------------------------------------------------------------------------------

NEW_PATHS = [
    "/v1/clients/risk",
    "/v1/clients/c1/risk",
    "/v1/clients/c1/risk/what-if?without=health",
    "/v1/ops/live",
]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
@pytest.mark.parametrize("path", NEW_PATHS)
def test_401_without_a_known_key(client: TestClient, path: str, headers: dict[str, str]) -> None:
    r = client.get(path, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


# --- risk list --------------------------------------------------------------------------


def test_sanity_of_the_seeded_levels() -> None:
    levels = {
        name: MODEL.score(c).risk_level
        for name, c in [("c1", C1_V3), ("c2v1", C2_V1), ("c2", C2_V2), ("c3", C3_V1)]
    }
    assert levels == {"c1": "medium", "c2v1": "critical", "c2": "high", "c3": "low"}
    assert MODEL.score(C4_V1).risk_level == "critical"


def test_risk_list_latest_per_client_by_probability(client: TestClient) -> None:
    r = client.get("/v1/clients/risk", headers=ACME)
    assert r.status_code == 200
    assert r.json() == {
        "items": [
            item("c4", T0, C4_V1),  # 0.8699
            item("c2", T0 + H, C2_V2),  # 0.6682 (its v1 was 0.9002: superseded)
            item("c1", T0 + 2 * H, C1_V3),  # 0.2891 (v3, inserted before v2)
            item("c3", T0, C3_V1),  # 0.0911, tie broken by client_id
            item("c5", T0 + H, C3_V1),
        ]
    }
    c1 = r.json()["items"][2]
    assert c1["churn_probability"] == round(1 / (1 + math.exp(0.9)), 6) == 0.28905
    assert c1["factors"] == [
        {"name": "complaints_high", "contribution": 1.5},
        {"name": "health", "contribution": 0.6},
    ]


@pytest.mark.parametrize(
    ("params", "clients"),
    [
        ({"level": "critical"}, ["c4"]),  # not c2: only its old version was critical
        ({"level": "high"}, ["c2"]),
        ({"level": "medium"}, ["c1"]),
        ({"level": "low"}, ["c3", "c5"]),
        ({"limit": "2"}, ["c4", "c2"]),
        ({"level": "low", "limit": "1"}, ["c3"]),
    ],
)
def test_risk_list_filters(client: TestClient, params: dict[str, str], clients: list[str]) -> None:
    r = client.get("/v1/clients/risk", params=params, headers=ACME)
    assert r.status_code == 200, r.text
    assert [i["client_id"] for i in r.json()["items"]] == clients


@pytest.mark.parametrize(
    "params", [{"level": "severe"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}]
)
def test_risk_list_422(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/v1/clients/risk", params=params, headers=ACME).status_code == 422


def test_risk_list_tenant_isolation(client: TestClient) -> None:
    assert client.get("/v1/clients/risk", headers=GLOBEX).json() == {
        "items": [item("g1", T0, G1_V1), item("c1", T0 + 5 * H, GC1_V1)]
    }
    assert client.get("/v1/clients/risk", headers=INITECH).json() == {"items": []}
    acme = client.get("/v1/clients/risk", params={"level": "critical"}, headers=ACME).json()
    assert "g1" not in [i["client_id"] for i in acme["items"]]


# --- one client -------------------------------------------------------------------------


def test_client_risk_current_and_history_newest_first(client: TestClient) -> None:
    r = client.get("/v1/clients/c1/risk", headers=ACME)
    assert r.status_code == 200
    assert r.json() == {
        "client_id": "c1",
        "current": version(3, T0 + 2 * H, C1_V3),
        "history": [
            version(3, T0 + 2 * H, C1_V3),
            version(2, T0 + H, C1_V2),
            version(1, T0, C1_V1),
        ],
    }
    r = client.get("/v1/clients/c1/risk", params={"history_limit": "2"}, headers=ACME)
    assert [v["version"] for v in r.json()["history"]] == [3, 2]
    assert client.get("/v1/clients/c1/risk", params={"history_limit": "0"}).status_code == 401
    r = client.get("/v1/clients/c1/risk", params={"history_limit": "0"}, headers=ACME)
    assert r.status_code == 422


def test_client_risk_404_and_tenant_isolation(client: TestClient) -> None:
    assert client.get("/v1/clients/nobody/risk", headers=ACME).status_code == 404
    assert client.get("/v1/clients/g1/risk", headers=ACME).status_code == 404  # globex's
    assert client.get("/v1/clients/c2/risk", headers=GLOBEX).status_code == 404  # acme's
    assert client.get("/v1/clients/c1/risk", headers=INITECH).status_code == 404
    r = client.get("/v1/clients/c1/risk", headers=ACME)
    assert r.status_code == 200
    assert r.json()["current"]["version"] == 3
    # both tenants have a "c1": each sees only its own
    r = client.get("/v1/clients/c1/risk", headers=GLOBEX)
    assert r.json() == {
        "client_id": "c1",
        "current": version(1, T0 + 5 * H, GC1_V1),
        "history": [version(1, T0 + 5 * H, GC1_V1)],
    }
    # "risk" as a client id is a client, not the list route
    r = client.get("/v1/clients/risk/risk", headers=ACME)
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown client"}


# --- what-if ----------------------------------------------------------------------------


def test_what_if_without_health_by_hand(client: TestClient) -> None:
    r = client.get("/v1/clients/c1/risk/what-if", params={"without": "health"}, headers=ACME)
    assert r.status_code == 200
    p = round(1 / (1 + math.exp(1.5)), 6)  # z = -3.0 + 1.5
    assert p == 0.182426
    assert r.json() == {
        "client_id": "c1",
        "without": ["health"],
        "current": {"churn_probability": 0.28905, "risk_level": "medium"},
        "what_if": {
            "churn_probability": p,
            "risk_level": "low",
            "factors": [{"name": "complaints_high", "contribution": 1.5}],
        },
    }
    assert r.json()["what_if"] == scored(C1_V3, without=("health",))


@pytest.mark.parametrize(
    ("client_id", "without", "contributions"),
    [
        # several factors, a duplicate dropped
        ("c2", ["escalations", "complaints_critical", "escalations"], C2_V2),
        ("c4", ["sla_breaches"], C4_V1),
        # a factor the client does not have changes nothing
        ("c1", ["reopenings"], C1_V3),
        ("c1", ["health", "complaints_high"], C1_V3),
    ],
)
def test_what_if_matches_the_model(
    client: TestClient, client_id: str, without: list[str], contributions: dict[str, float]
) -> None:
    r = client.get(
        f"/v1/clients/{client_id}/risk/what-if", params={"without": without}, headers=ACME
    )
    assert r.status_code == 200, r.text
    body = r.json()
    dropped = tuple(dict.fromkeys(without))
    assert body["without"] == list(dropped)
    now = MODEL.score(contributions)
    assert body["current"] == {
        "churn_probability": now.churn_probability,
        "risk_level": now.risk_level,
    }
    assert body["what_if"] == scored(contributions, without=dropped)


def test_what_if_everything_removed_is_the_bias(client: TestClient) -> None:
    r = client.get(
        "/v1/clients/c1/risk/what-if",
        params={"without": ["health", "complaints_high"]},
        headers=ACME,
    )
    assert r.json()["what_if"] == {
        "churn_probability": round(1 / (1 + math.exp(3.0)), 6),
        "risk_level": "low",
        "factors": [],
    }


def test_what_if_422(client: TestClient) -> None:
    url = "/v1/clients/c1/risk/what-if"
    r = client.get(url, params={"without": ["health", "bogus"]}, headers=ACME)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "bogus" in detail
    assert all(name in detail for name in FACTOR_NAMES)
    assert client.get(url, headers=ACME).status_code == 422  # without is required
    assert client.get(url, params={"without": ""}, headers=ACME).status_code == 422


def test_what_if_404_and_tenant_isolation(client: TestClient) -> None:
    params = {"without": "health"}
    assert (
        client.get("/v1/clients/nobody/risk/what-if", params=params, headers=ACME).status_code
        == 404
    )
    assert client.get("/v1/clients/g1/risk/what-if", params=params, headers=ACME).status_code == 404
    assert (
        client.get("/v1/clients/c4/risk/what-if", params=params, headers=GLOBEX).status_code == 404
    )
    # globex's own c1, not acme's
    r = client.get("/v1/clients/c1/risk/what-if", params={"without": "reopenings"}, headers=GLOBEX)
    assert r.json()["what_if"] == scored(GC1_V1, without=("reopenings",))
    assert r.json()["current"]["churn_probability"] == MODEL.score(GC1_V1).churn_probability


def test_what_if_uses_the_apps_risk_model(settings: Settings) -> None:
    steeper = RiskModel(bias=-1.0)
    with TestClient(create_app(settings, kafka_check=lambda: None, risk_model=steeper)) as tc:
        r = tc.get("/v1/clients/c1/risk/what-if", params={"without": "health"}, headers=ACME)
        assert r.json()["what_if"]["churn_probability"] == round(1 / (1 + math.exp(-0.5)), 6)
        assert tc.app.state.risk_model is steeper  # type: ignore[attr-defined]
    with TestClient(create_app(settings, kafka_check=lambda: None)) as tc:
        default = tc.app.state.risk_model  # type: ignore[attr-defined]
        assert default == RiskModel.from_json(settings.risk_model_file)


# --- ops --------------------------------------------------------------------------------


def test_ops_live_latest_snapshot(client: TestClient) -> None:
    r = client.get("/v1/ops/live", headers=ACME)
    assert r.status_code == 200
    assert r.json() == {
        "as_of": "2026-03-02T10:01:00+00:00",
        "queues": [
            {
                "queue": "billing",
                "depth": 0,
                "oldest_wait_s": 0.0,
                "avg_wait_s": 0.0,
                "active_sessions": 0,
            },
            {
                "queue": "support",
                "depth": 4,
                "oldest_wait_s": 300.5,
                "avg_wait_s": 120.25,
                "active_sessions": 3,
            },
        ],
        "agents_by_status": {"active": 3, "idle": 1, "in_call": 2, "offline": 4},
        "csat_distribution": {"1": 1, "2": 0, "3": 2, "4": 5, "5": 9},
        "messages_last_hour": {"text": 40, "image": 2, "file": 1, "audio": 0, "video": 3},
        "open_complaints": {"low": 2, "medium": 0, "high": 1, "critical": 3},
        "messages_peak_hour": {"hour": "2026-03-02T09:00:00+00:00", "count": 57},
        "agents": [
            {
                "agent_id": "a1",
                "status": "in_call",
                "since": "2026-03-02T09:56:00+00:00",
                "last_event_at": "2026-03-02T10:00:00+00:00",
                "active_sessions": 2,
                "sessions_today": 5,
                "open_tickets": 1,
            },
            {
                "agent_id": "a2",
                "status": None,
                "since": None,
                "last_event_at": "2026-03-02T09:59:00+00:00",
                "active_sessions": 0,
                "sessions_today": 0,
                "open_tickets": 0,
            },
        ],
    }


def test_ops_live_tenant_isolation_and_404(client: TestClient) -> None:
    r = client.get("/v1/ops/live", headers=GLOBEX)
    assert r.status_code == 200
    body = r.json()
    assert body["as_of"] == "2026-03-02T11:00:00+00:00"
    assert body["queues"] == [
        {
            "queue": "support",
            "depth": 99,
            "oldest_wait_s": 1.0,
            "avg_wait_s": 1.0,
            "active_sessions": 0,
        }
    ]
    assert body["agents_by_status"] == {"active": 9, "idle": 9, "in_call": 9, "offline": 9}
    assert body["open_complaints"] == {"low": 9, "medium": 9, "high": 9, "critical": 9}
    assert body["messages_peak_hour"] is None
    assert [a["agent_id"] for a in body["agents"]] == ["g1"]  # never acme's agents
    assert body["agents"][0]["open_tickets"] == 9
    r = client.get("/v1/ops/live", headers=INITECH)
    assert r.status_code == 404
    assert r.json() == {"detail": "no live-operations snapshot for this tenant yet"}


def test_empty_database(chdb_path: Path, database: str, tmp_path: Path) -> None:
    s = make_settings(chdb_path, database, tmp_path)  # migrated, nothing inserted
    with TestClient(create_app(s, kafka_check=lambda: None)) as tc:
        assert tc.get("/v1/clients/risk", headers=ACME).json() == {"items": []}
        assert tc.get("/v1/clients/c1/risk", headers=ACME).status_code == 404
        r = tc.get("/v1/clients/c1/risk/what-if?without=health", headers=ACME)
        assert r.status_code == 404
        assert tc.get("/v1/ops/live", headers=ACME).status_code == 404


def test_openapi_tags_and_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"clients", "ops"} <= {t["name"] for t in spec["tags"]}
    paths = spec["paths"]
    assert paths["/v1/clients/risk"]["get"]["tags"] == ["clients"]
    assert paths["/v1/clients/{client_id}/risk"]["get"]["tags"] == ["clients"]
    assert paths["/v1/clients/{client_id}/risk/what-if"]["get"]["tags"] == ["clients"]
    assert paths["/v1/ops/live"]["get"]["tags"] == ["ops"]
    for path in ("/v1/clients/risk", "/v1/ops/live", "/v1/clients/{client_id}/risk/what-if"):
        assert "schema" in paths[path]["get"]["responses"]["200"]["content"]["application/json"]
