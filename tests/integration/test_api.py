"""The HTTP API against the real embedded ClickHouse engine, with hand-computed numbers.

Rows are inserted straight into ``agent_performance`` and ``alerts`` (the flows are tested
elsewhere); the API is called through FastAPI's TestClient. ``chdb_path`` / ``database``
come from ``tests/conftest.py`` (one engine path per session, one database per test).
The Kafka readiness probe is stubbed; it is not part of any data path here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import __version__
from api.app import create_app
from infra.topics import ensure_topics
from schemas.alert_lifecycle import AlertWithState
from schemas.results import AgentWindow, Alert
from schemas.settings import Settings
from sinks import tables
from sinks.clickhouse_client import open_client
from sinks.reader import ResultsReader
from sinks.tables import RESULT_TABLES
from tests.integration.api_support import api_client, api_settings

pytestmark = pytest.mark.integration

NS = uuid.UUID("5f1b8f7e-2a8e-4c47-9d0a-3f1f4c0e9a11")
DAY = datetime(2026, 3, 2, tzinfo=UTC)  # acme's latest daily window
H = timedelta(hours=1)
D = timedelta(days=1)
ACME = {"Authorization": "Bearer k1"}
GLOBEX = {"Authorization": "Bearer k2"}

PERF_COLUMNS = list(tables.AGENT_PERFORMANCE.columns)
ALERT_COLUMNS = list(tables.ALERTS.columns)


def perf(
    tenant: str,
    agent: str,
    window: str,
    start: datetime,
    *,
    version: int = 1,
    final: bool = True,
    assigned: int = 0,
    resolved: int = 0,
    handle: tuple[float, int] = (0.0, 0),
    first: tuple[float, int] = (0.0, 0),
    csat: tuple[int, int, int] = (0, 0, 0),
) -> Sequence[Any]:
    """An ``agent_performance`` row, built as the flow builds it."""
    size = {"5m": timedelta(minutes=5), "1h": H, "1d": D}[window]
    row = AgentWindow.model_validate(
        {
            "row_id": uuid.uuid5(NS, f"{tenant}/{agent}/{window}/{start.isoformat()}"),
            "version": version,
            "is_final": final,
            "tenant_id": tenant,
            "agent_id": agent,
            "window": window,
            "window_start": start,
            "window_end": start + size,
            "tickets_assigned": assigned,
            "tickets_resolved": resolved,
            "handle_time_sum_s": handle[0],
            "handle_time_count": handle[1],
            "first_response_sum_s": first[0],
            "first_response_count": first[1],
            "csat_sum": csat[0],
            "csat_count": csat[1],
            "low_csat_count": csat[2],
        }
    )
    return tables.AGENT_PERFORMANCE.to_row(row)


def alert(
    label: str, tenant: str, kind: str, severity: str, at: datetime, **details: Any
) -> Sequence[Any]:
    """An ``alerts`` row, built as the flows build it (the row type fills in the rest)."""
    row = Alert.model_validate(
        {
            "alert_id": uuid.uuid5(NS, label),
            "tenant_id": tenant,
            "kind": kind,
            "severity": severity,
            "subject_type": "agent",
            "subject_id": "a1",
            "title": f"{kind} {label}",
            "details": details,
            "event_time": at,
            "fired_at": at + timedelta(seconds=3),
        }
    )
    return tables.ALERTS.to_row(row)


def seed(dsn: str, database: str) -> None:
    ch = open_client(dsn, database)
    # Each version of a row goes in its own insert (one insert block would collapse them
    # on write), the lower version sometimes last: the highest version must win, read
    # with FINAL, whatever the order of arrival.
    early = [
        perf("acme", "a1", "1d", DAY, version=1, final=False, assigned=1, csat=(5, 1, 0)),
        perf(
            "acme",
            "a1",
            "1h",
            DAY + 10 * H,
            version=3,
            assigned=2,
            resolved=1,
            handle=(700.0, 1),
            first=(90.0, 3),
            csat=(7, 2, 1),
        ),
    ]
    rows = [
        perf(
            "acme",
            "a1",
            "1d",
            DAY,
            version=5,
            final=False,
            assigned=4,
            resolved=3,
            handle=(1800.0, 3),
            first=(120.0, 2),
            csat=(9, 3, 1),
        ),
        perf("acme", "a1", "1d", DAY - 29 * D, csat=(8, 2, 0)),  # first day of the 30
        perf("acme", "a1", "1d", DAY - 30 * D, csat=(2, 2, 2)),  # one day too old
        # a2: active three days before the reference day only
        perf("acme", "a2", "1d", DAY - 3 * D, assigned=2, resolved=2, csat=(4, 1, 0)),
        # a1, hourly around the query range [10:00, 12:00)
        perf("acme", "a1", "1h", DAY + 9 * H, assigned=9),
        perf("acme", "a1", "1h", DAY + 11 * H, version=4, final=False, assigned=1),
        perf("acme", "a1", "1h", DAY + 12 * H, assigned=5),
        perf("acme", "a1", "5m", DAY + 10 * H, assigned=1),
        # globex: a later day (must not move acme's reference day) and its own agent
        perf("globex", "g1", "1d", DAY + 5 * D, assigned=7, csat=(5, 1, 0)),
        perf("globex", "g1", "1h", DAY + 10 * H, assigned=3),
    ]
    late = [  # an older, provisional version arriving after the final one
        perf("acme", "a1", "1h", DAY + 10 * H, version=2, final=False, assigned=1),
    ]
    for batch in (early, rows, late):
        ch.insert("agent_performance", batch, column_names=PERF_COLUMNS)
    alerts = [
        alert("c9", "acme", "coaching", "low", DAY + 9 * H, rating=2),
        alert("c10", "acme", "coaching", "high", DAY + 10 * H, rating=1, agent="a1"),
        alert("r11", "acme", "client_risk", "critical", DAY + 11 * H, probability=0.91),
        alert("g10", "globex", "coaching", "high", DAY + 10 * H, rating=1),
    ]
    ch.insert("alerts", alerts, column_names=ALERT_COLUMNS)
    # the same alert again (a replay): still one alert
    again = alert("c10", "acme", "coaching", "high", DAY + 10 * H, rating=1, agent="a1")
    ch.insert("alerts", [again], column_names=ALERT_COLUMNS)
    ch.close()


def make_settings(chdb_path: Path, database: str, tmp_path: Path) -> Settings:
    return api_settings(chdb_path, database, tmp_path, "acme:k1,globex:k2")


@pytest.fixture
def settings(chdb_path: Path, database: str, tmp_path: Path) -> Settings:
    s = make_settings(chdb_path, database, tmp_path)
    seed(s.dsn, database)
    return s


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from api_client(settings)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


# --- auth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic k1"}, {"Authorization": ""}],
)
@pytest.mark.parametrize("path", ["/v1/agents", "/v1/alerts", "/v1/agents/a1/performance"])
def test_401_without_a_known_key(client: TestClient, path: str, headers: dict[str, str]) -> None:
    r = client.get(path, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_no_api_keys_fails_at_start(chdb_path: Path, database: str, tmp_path: Path) -> None:
    s = Settings(clickhouse_dsn=f"chdb://{chdb_path}", clickhouse_database=database, api_keys="")
    with pytest.raises(ValueError, match="CXPULSE_API_KEYS"):
        create_app(s)


# --- agents -----------------------------------------------------------------------------


def test_agents_rolling_csat_and_today(client: TestClient) -> None:
    r = client.get("/v1/agents", headers=ACME)
    assert r.status_code == 200
    assert r.json() == {
        "items": [
            {
                "agent_id": "a1",
                # (9 + 8) / (3 + 2): the latest version of today, day-29 in, day-30 out
                "csat_avg_30d": 3.4,
                "csat_count_30d": 5,
                "low_csat_count_30d": 1,
                "tickets_assigned_today": 4,
                "tickets_resolved_today": 3,
                "avg_handle_time_s_today": 600.0,
                "avg_first_response_s_today": 60.0,
                "last_window_end": "2026-03-03T00:00:00+00:00",
            },
            {
                "agent_id": "a2",
                "csat_avg_30d": 4.0,
                "csat_count_30d": 1,
                "low_csat_count_30d": 0,
                "tickets_assigned_today": 0,
                "tickets_resolved_today": 0,
                "avg_handle_time_s_today": None,
                "avg_first_response_s_today": None,
                "last_window_end": "2026-02-28T00:00:00+00:00",
            },
        ]
    }


def test_agents_of_other_tenant(client: TestClient) -> None:
    items = client.get("/v1/agents", headers=GLOBEX).json()["items"]
    assert [(i["agent_id"], i["tickets_assigned_today"], i["csat_avg_30d"]) for i in items] == [
        ("g1", 7, 5.0)
    ]


def test_agents_empty_tenant(chdb_path: Path, database: str, tmp_path: Path) -> None:
    s = make_settings(chdb_path, database, tmp_path)  # migrated, nothing inserted
    with TestClient(create_app(s, kafka_check=lambda: None)) as tc:
        assert tc.get("/v1/agents", headers=ACME).json() == {"items": []}
        assert tc.get("/v1/alerts", headers=ACME).json() == {"items": []}
        assert tc.get("/v1/agents/a1/performance", headers=ACME).status_code == 404


# --- performance ------------------------------------------------------------------------


def test_performance_half_open_range_latest_versions(client: TestClient) -> None:
    r = client.get(
        "/v1/agents/a1/performance",
        params={"window": "1h", "start": iso(DAY + 10 * H), "end": iso(DAY + 12 * H)},
        headers=ACME,
    )
    assert r.status_code == 200
    assert r.json() == {
        "items": [
            {
                "window_start": "2026-03-02T10:00:00+00:00",
                "window_end": "2026-03-02T11:00:00+00:00",
                "tickets_assigned": 2,
                "tickets_resolved": 1,
                "avg_handle_time_s": 700.0,
                "avg_first_response_s": 30.0,
                "csat_avg": 3.5,
                "csat_count": 2,
                "low_csat_count": 1,
                "is_final": True,
            },
            {
                "window_start": "2026-03-02T11:00:00+00:00",
                "window_end": "2026-03-02T12:00:00+00:00",
                "tickets_assigned": 1,
                "tickets_resolved": 0,
                "avg_handle_time_s": None,
                "avg_first_response_s": None,
                "csat_avg": None,
                "csat_count": 0,
                "low_csat_count": 0,
                "is_final": False,
            },
        ]
    }


def test_performance_offsets_naive_and_windows(client: TestClient) -> None:
    def starts(**params: str) -> list[str]:
        r = client.get("/v1/agents/a1/performance", params=params, headers=ACME)
        assert r.status_code == 200, r.text
        return [i["window_start"] for i in r.json()["items"]]

    # 11:00+01:00 is 10:00 UTC; a naive datetime is UTC
    assert starts(start="2026-03-02T11:00:00+01:00", end="2026-03-02T11:00:00") == [
        "2026-03-02T10:00:00+00:00"
    ]
    assert starts(start="2026-03-02T09:00:00Z", end="2026-03-02T13:00:00Z") == [
        f"2026-03-02T{h}:00:00+00:00" for h in ("09", "10", "11", "12")
    ]
    # window defaults to 1h; other sizes are separate rows
    assert starts(window="5m", start="2026-03-02T00:00:00Z", end="2026-03-03T00:00:00Z") == [
        "2026-03-02T10:00:00+00:00"
    ]
    assert starts(window="1d", start="2026-01-01T00:00:00Z", end="2026-03-03T00:00:00Z") == [
        "2026-01-31T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
        "2026-03-02T00:00:00+00:00",
    ]
    # a known agent with nothing in range: 200 and no items (the default range is the
    # last 24 h of the wall clock, which may or may not hold the seeded day)
    starts()
    assert starts(start="2020-01-01T00:00:00Z", end="2020-01-02T00:00:00Z") == []
    # only an end: start is end - 24 h
    assert starts(end="2026-03-02T10:30:00Z") == [
        "2026-03-02T09:00:00+00:00",
        "2026-03-02T10:00:00+00:00",
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-03-02T12:00:00Z", "end": "2026-03-02T12:00:00Z"},
        {"start": "2026-03-02T13:00:00Z", "end": "2026-03-02T12:00:00Z"},
        {"window": "2h"},
        {"start": "yesterday"},
    ],
)
def test_performance_422(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/v1/agents/a1/performance", params=params, headers=ACME).status_code == 422


def test_performance_tenant_isolation(client: TestClient) -> None:
    window = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
    r = client.get("/v1/agents/a1/performance", params=window, headers=GLOBEX)
    assert r.status_code == 404
    assert client.get("/v1/agents/g1/performance", params=window, headers=ACME).status_code == 404
    assert client.get("/v1/agents/nobody/performance", headers=ACME).status_code == 404
    g1 = client.get("/v1/agents/g1/performance", params=window, headers=GLOBEX).json()["items"]
    assert [(i["window_start"], i["tickets_assigned"]) for i in g1] == [
        ("2026-03-02T10:00:00+00:00", 3)
    ]


# --- alerts -----------------------------------------------------------------------------


def test_alerts_newest_first_once_each(client: TestClient) -> None:
    r = client.get("/v1/alerts", headers=ACME)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["title"] for i in items] == ["client_risk r11", "coaching c10", "coaching c9"]
    # every field of the row type is served (so a new one needs no API edit) ...
    assert set(items[1]) == set(AlertWithState.model_fields)
    # ... with these values
    expected = {
        "alert_id": str(uuid.uuid5(NS, "c10")),
        "tenant_id": "acme",
        "kind": "coaching",
        "severity": "high",
        "subject_type": "agent",
        "subject_id": "a1",
        "title": "coaching c10",
        "details": {"rating": 1, "agent": "a1"},
        "event_time": "2026-03-02T10:00:00+00:00",
        "fired_at": "2026-03-02T10:00:03+00:00",
        "state": "open",  # no action on it
        "state_at": None,
    }
    assert {k: items[1][k] for k in expected} == expected


@pytest.mark.parametrize(
    ("params", "titles"),
    [
        ({"kind": "coaching"}, ["coaching c10", "coaching c9"]),
        ({"severity": "critical"}, ["client_risk r11"]),
        ({"kind": "coaching", "severity": "low"}, ["coaching c9"]),
        ({"kind": "anomaly"}, []),
        ({"since": "2026-03-02T10:00:00Z"}, ["client_risk r11", "coaching c10"]),
        ({"since": "2026-03-02T11:00:00+01:00"}, ["client_risk r11", "coaching c10"]),
        ({"since": "2026-03-02T10:00:00.001"}, ["client_risk r11"]),
        ({"limit": "2"}, ["client_risk r11", "coaching c10"]),
        ({"limit": "1", "kind": "coaching"}, ["coaching c10"]),
    ],
)
def test_alerts_filters(client: TestClient, params: dict[str, str], titles: list[str]) -> None:
    r = client.get("/v1/alerts", params=params, headers=ACME)
    assert r.status_code == 200, r.text
    assert [i["title"] for i in r.json()["items"]] == titles


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"kind": "bogus"}, {"severity": "urgent"}],
)
def test_alerts_422(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/v1/alerts", params=params, headers=ACME).status_code == 422


def test_alerts_tenant_isolation(client: TestClient) -> None:
    items = client.get("/v1/alerts", headers=GLOBEX).json()["items"]
    assert [(i["tenant_id"], i["title"]) for i in items] == [("globex", "coaching g10")]


# --- health, readiness, OpenAPI -----------------------------------------------------------


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"clickhouse": "ok", "kafka": "ok", "storage_writer": "ok"}


def test_readyz_reports_the_storage_writer_lag_of_every_result_topic(
    settings: Settings, kafka_bootstrap: str
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    ensure_topics(settings, log=lambda _m: None)
    with TestClient(create_app(settings, kafka_check=lambda: None)) as tc:  # real Kafka
        body = tc.get("/readyz", headers=ACME).json()
    assert body["checks"]["storage_writer"] == "ok"
    assert body["store_lag"] == {settings.results_topic(s.table): 0 for s in RESULT_TABLES}


def test_readyz_503_when_the_storage_writer_falls_behind(settings: Settings) -> None:
    limited = settings.model_copy(update={"store_max_lag": 100})
    lag = {"cx.results.events": 60, "cx.results.alerts": 41}
    app = create_app(limited, kafka_check=lambda: None, store_lag=lambda: lag)
    with TestClient(app) as tc:
        r = tc.get("/readyz", headers=ACME)
        assert r.status_code == 503
        body = r.json()
        assert body["store_lag"] == lag
        assert body["checks"]["storage_writer"] == (
            "RuntimeError: the storage writer is 101 messages behind "
            "(limit CXPULSE_STORE_MAX_LAG=100)"
        )
        lag["cx.results.alerts"] = 40
        assert tc.get("/readyz").status_code == 200


def test_readyz_503_when_kafka_fails(settings: Settings) -> None:
    def broker_down() -> None:
        raise RuntimeError("no broker at 127.0.0.1:1")

    with TestClient(create_app(settings, kafka_check=broker_down, store_lag=dict)) as tc:
        assert tc.get("/healthz").status_code == 200
        r = tc.get("/readyz", headers=ACME)
        assert r.status_code == 503
        assert r.json()["status"] == "not_ready"
        assert r.json()["checks"]["kafka"] == "RuntimeError: no broker at 127.0.0.1:1"
        # without a valid key: that it failed, not why (no hosts, no exception text)
        for headers in ({}, {"Authorization": "Bearer wrong-key"}):
            hidden = tc.get("/readyz", headers=headers)
            assert hidden.status_code == 503
            assert hidden.json() == {
                "status": "not_ready",
                "checks": {"clickhouse": "ok", "kafka": "failed", "storage_writer": "ok"},
                "store_lag": {},
            }
            assert "127.0.0.1" not in hidden.text
            assert "RuntimeError" not in hidden.text


def test_readyz_503_when_clickhouse_fails(settings: Settings) -> None:
    def cannot_open() -> Any:
        raise ConnectionError("refused")

    app = create_app(
        settings, reader=ResultsReader(cannot_open), kafka_check=lambda: None, store_lag=dict
    )
    with TestClient(app) as tc:
        r = tc.get("/readyz", headers=ACME)
        assert r.status_code == 503
        assert r.json()["checks"] == {
            "clickhouse": "ConnectionError: refused",
            "kafka": "ok",
            "storage_writer": "ok",
        }


def test_openapi(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "cxpulse"
    assert spec["info"]["version"] == __version__
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op["tags"], path
            ok = next(code for code in op["responses"] if code.startswith("2"))
            if ok != "204":  # no content: nothing to describe
                assert "schema" in op["responses"][ok]["content"]["application/json"], path
