"""Demand-forecast and KB-suggestion endpoints against the real embedded ClickHouse engine.

Rows are inserted straight into ``demand_forecast_snapshots``, ``demand_backtest`` and
``kb_suggestions`` (the flows are tested elsewhere); feedback goes through the API with a
fake clock (read once per request: the verdict's ``decided_at`` is its audit row's ``at``).
Every value is a small binary fraction, exact in the tables' Float32 arrays,
so responses are compared exactly. The read-only tests share one seeded database (module
scope); each feedback test gets a fresh one (``conftest.database``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from api.app import create_app
from infra.migrate import migrate
from schemas.audit import AuditEntry
from schemas.demand import BacktestRow, ForecastSnapshot
from schemas.kb import KbSuggestion
from schemas.settings import Settings
from sinks import tables
from sinks.clickhouse_client import open_client
from tests.conftest import KEEP_TEST_ROWS
from tests.integration.api_support import api_settings

pytestmark = pytest.mark.integration

G = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # generated_at of acme's latest snapshots
H = timedelta(hours=1)
ACME = {"Authorization": "Bearer k1"}
GLOBEX = {"Authorization": "Bearer k2"}
INITECH = {"Authorization": "Bearer k3"}  # no data at all

FORECAST_COLUMNS = list(tables.DEMAND_FORECAST.columns)
BACKTEST_COLUMNS = list(tables.DEMAND_BACKTEST.columns)
KB_COLUMNS = list(tables.KB_SUGGESTIONS.columns)
WEEKLY = "holt_winters_168h_sqrt"
COLD = "seasonal_mean_24h"
NAIVE = "seasonal_naive_168h"
PROFILE = "daily_profile_poisson"

# the latest acme billing snapshot: five hours from G + 1 h
BILLING = [10.0, 11.5, 12.25, 13.0, 14.5]
T = TypeVar("T")


def snapshot(
    tenant: str, stype: str, segment: str, generated: datetime, model: str, predicted: list[float]
) -> Sequence[Any]:
    """Bands at fixed offsets: 95 % = p -/+ 2, 80 % = p -/+ 1 (lower bounds floored at 0)."""
    row = from_fields(
        ForecastSnapshot,
        tenant_id=tenant,
        segment_type=stype,
        segment=segment,
        generated_at=generated,
        first_target=generated + H,
        model=model,
        predicted=predicted,
        lower_80=[max(p - 1, 0.0) for p in predicted],
        upper_80=[p + 1 for p in predicted],
        lower_95=[max(p - 2, 0.0) for p in predicted],
        upper_95=[p + 2 for p in predicted],
    )
    return tables.DEMAND_FORECAST.to_row(row)


def backtest(
    tenant: str,
    segment: str,
    generated: datetime,
    wape: float | None,
    mase: float | None,
    cov: tuple[float | None, float | None],
    origins: int = 7,
    model: str = WEEKLY,
    mae: float = 1.5,
    selected: bool = True,
) -> Sequence[Any]:
    row = from_fields(
        BacktestRow,
        tenant_id=tenant,
        segment_type="queue",
        segment=segment,
        generated_at=generated,
        model=model,
        baseline="seasonal_naive_168h",
        origins=origins,
        horizon_h=24,
        points=origins * 24,
        mae=mae,
        baseline_mae=2.0,
        wape=wape,
        mase=mase,
        coverage_80=cov[0],
        coverage_95=cov[1],
        selected=selected,
    )
    return tables.DEMAND_BACKTEST.to_row(row)


def from_fields(row_type: type[T], **values: Any) -> T:
    """A dataclass row validated from its fields by name, as the reader does."""
    return TypeAdapter(row_type).validate_python(values)


def sid(label: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"cxpulse-test/{label}")


S_BIG, S_OPEN_A, S_OPEN_B, S_COVERED, S_GLOBEX = (
    sid(x) for x in ("big", "open-a", "open-b", "covered", "globex")
)


def suggestion(
    s: uuid.UUID,
    version: int,
    tenant: str,
    status: str,
    size: int,
    first_seen: datetime,
    covered_by: str | None = None,
) -> Sequence[Any]:
    """A ``kb_suggestions`` row, built as the flow builds it (the row type fills the rest)."""
    row = KbSuggestion.model_validate(
        {
            "suggestion_id": s,
            "version": version,
            "tenant_id": tenant,
            "status": status,
            "title": f"title {s.hex[:6]} v{version}",
            "category": "billing",
            "ticket_ids": [f"{tenant}-{s.hex[:6]}-{i}" for i in range(size)],
            "size": size,
            "confidence": 0.5,
            "covered_by": covered_by,
            "first_seen": first_seen,
            "updated_at": first_seen + version * H,
        }
    )
    return tables.KB_SUGGESTIONS.to_row(row)


def seed(dsn: str, database: str) -> None:
    ch = open_client(dsn, database)
    # one insert per batch (versions of a key in one block would collapse on write)
    snapshots = [
        # the latest acme billing snapshot goes in before an older one
        [snapshot("acme", "queue", "billing", G, WEEKLY, BILLING)],
        [
            snapshot("acme", "queue", "billing", G - H, COLD, [1.0] * 336),
            # by the model of its backtest (a backtest of another model is not shown)
            snapshot("acme", "queue", "support", G, WEEKLY, [1.0] * 30),  # next 24 h: 24
            snapshot("acme", "queue", "sales", G, COLD, [2.0] * 24),  # 48
            snapshot("acme", "region", "north", G, WEEKLY, [3.0] * 10),  # 30
            snapshot("acme", "region", "east", G, WEEKLY, [3.0] * 10),  # 30, tie: by name
            snapshot("acme", "service_type", "install", G, COLD, [0.5] * 4),  # 2
            # globex's billing is newer and busier: must not leak into acme's answers
            snapshot("globex", "queue", "billing", G + 5 * H, WEEKLY, [99.0] * 3),
        ],
        [snapshot("acme", "queue", "billing", G, WEEKLY, BILLING)],  # a replay: one snapshot
    ]
    for batch in snapshots:
        ch.insert("demand_forecast_snapshots", batch, column_names=FORECAST_COLUMNS)
    ch.insert(
        "demand_backtest",
        [
            backtest("acme", "billing", G - 24 * H, 0.25, 0.75, (0.875, 0.9375), origins=6),
            backtest("acme", "support", G, None, None, (None, None)),  # no demand: nulls
            # sales is forecast by a cold-start model standing in without a backtest of
            # its own: an older weekly backtest must not be shown as its
            backtest("acme", "sales", G - 24 * H, 0.25, 0.75, (0.875, 0.9375)),
        ],
        column_names=BACKTEST_COLUMNS,
    )
    ch.insert(
        "demand_backtest",
        [
            backtest("acme", "billing", G - 48 * H, 0.125, 0.5, (0.5, 0.625)),  # older
            # the older refit's candidates, one with a lower error: not the latest refit's
            backtest("acme", "billing", G - 48 * H, 0.5, 1.0, (0.5, 0.5), model=NAIVE, mae=2.0,
                     selected=False),
            backtest("acme", "billing", G - 48 * H, 0.125, 0.25, (0.5, 0.5), model=PROFILE,
                     mae=0.5, selected=False),
            # the latest refit's other candidates (the chosen one is in the batch above)
            backtest("acme", "billing", G - 24 * H, 0.5, 1.0, (0.75, 0.875), origins=6,
                     model=NAIVE, mae=2.0, selected=False),
            backtest("acme", "billing", G - 24 * H, 0.375, 0.875, (0.75, 0.875), origins=6,
                     model=PROFILE, mae=1.75, selected=False),
        ],
        column_names=BACKTEST_COLUMNS,
    )  # fmt: skip
    # a row stored before candidates existed (no ``selected``): the chosen one
    old_columns = [c for c in BACKTEST_COLUMNS if c != "selected"]
    ch.insert(
        "demand_backtest",
        [backtest("globex", "billing", G + 48 * H, 0.5, 1.5, (0.5, 0.75))[:-1]],
        column_names=old_columns,
    )

    batches = [
        [
            suggestion(S_BIG, 2, "acme", "open", 6, G),
            suggestion(S_COVERED, 1, "acme", "open", 4, G + H),
            suggestion(S_OPEN_A, 1, "acme", "open", 3, G + H),
            suggestion(S_GLOBEX, 1, "globex", "open", 9, G),
        ],
        [
            suggestion(S_BIG, 1, "acme", "open", 5, G),  # older version, inserted later
            suggestion(S_COVERED, 2, "acme", "covered", 4, G + H, covered_by="kb-7"),
            suggestion(S_OPEN_B, 1, "acme", "open", 3, G),  # same size as A, seen earlier
        ],
    ]
    for batch in batches:
        ch.insert("kb_suggestions", batch, column_names=KB_COLUMNS)
    ch.close()


class Clock:
    """A wall clock that ticks one second per reading, and counts its readings."""

    def __init__(self) -> None:
        self.t = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
        self.reads = 0

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        self.reads += 1
        return self.t


class Audit:
    """An audit log that keeps its rows (instead of the audit_log result topic)."""

    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.rows.append(entry)


KEYS = "acme:k1,globex:k2,initech:k3"


def _client(settings: Settings, clock: Clock, audit: Audit) -> Iterator[TestClient]:
    seed(settings.dsn, settings.clickhouse_database)
    app = create_app(settings, kafka_check=lambda: None, now=clock, audit_log=audit)
    with TestClient(app) as tc:
        yield tc


@pytest.fixture(scope="module")
def client(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """For the tests that only read (or are refused): one seeded database for the module."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", database, log=lambda _m: None, retention_days=KEEP_TEST_ROWS)
    tmp = tmp_path_factory.mktemp("demand_kb_api")
    yield from _client(api_settings(chdb_path, database, tmp, KEYS), Clock(), Audit())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def fresh(
    chdb_path: Path, database: str, tmp_path: Path, clock: Clock, audit: Audit
) -> Iterator[TestClient]:
    """For the tests that record feedback: a seeded database of their own."""
    yield from _client(api_settings(chdb_path, database, tmp_path, KEYS), clock, audit)


def forecast(client: TestClient, headers: dict[str, str], **params: Any) -> Any:
    return client.get("/v1/demand/forecast", params=params, headers=headers)


def iso(t: datetime) -> str:
    return t.isoformat()


# --- auth -------------------------------------------------------------------------------

GETS = [
    "/v1/demand/forecast?segment_type=queue&segment=billing",
    "/v1/demand/segments",
    "/v1/kb/suggestions",
]
POSTS = [f"/v1/kb/suggestions/{S_BIG}/accept", f"/v1/kb/suggestions/{S_BIG}/dismiss"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
@pytest.mark.parametrize("path", GETS + POSTS)
def test_401_without_a_known_key(client: TestClient, path: str, headers: dict[str, str]) -> None:
    method = client.post if path in POSTS else client.get
    r = method(path, headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    # nothing was recorded by the refused POSTs
    assert client.get("/v1/kb/suggestions", headers=ACME).json()["feedback"]["precision"] is None


# --- forecast ---------------------------------------------------------------------------


def test_forecast_latest_snapshot_sliced_to_the_horizon(client: TestClient) -> None:
    r = forecast(client, ACME, segment_type="queue", segment="billing", horizon_h=3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("segment_type", "segment", "model", "horizon_h")} == {
        "segment_type": "queue",
        "segment": "billing",
        "model": WEEKLY,  # not the older cold snapshot, though it was inserted later
        "horizon_h": 3,
    }
    assert body["generated_at"] == iso(G)
    assert body["items"] == [
        {
            "target_start": iso(G + (k + 1) * H),
            "predicted": p,
            "lower_80": p - 1,
            "upper_80": p + 1,
            "lower_95": p - 2,
            "upper_95": p + 2,
        }
        for k, p in enumerate(BILLING[:3])
    ]


@pytest.mark.parametrize(("asked", "served"), [(1, 1), (5, 5), (6, 5), (336, 5)])
def test_forecast_serves_at_most_what_was_stored(
    client: TestClient, asked: int, served: int
) -> None:
    body = forecast(client, ACME, segment_type="queue", segment="billing", horizon_h=asked).json()
    assert body["horizon_h"] == served
    assert [i["predicted"] for i in body["items"]] == BILLING[:served]


def test_forecast_default_horizon_is_24(client: TestClient) -> None:
    body = forecast(client, ACME, segment_type="queue", segment="support").json()
    assert body["horizon_h"] == 24
    assert len(body["items"]) == 24
    assert body["items"][-1]["target_start"] == iso(G + 24 * H)


def test_forecast_bands_floored_at_zero(client: TestClient) -> None:
    item = forecast(client, ACME, segment_type="service_type", segment="install").json()["items"][0]
    assert item == {
        "target_start": iso(G + H),
        "predicted": 0.5,
        "lower_80": 0.0,
        "upper_80": 1.5,
        "lower_95": 0.0,
        "upper_95": 2.5,
    }


def test_forecast_latest_backtest(client: TestClient) -> None:
    bt = forecast(client, ACME, segment_type="queue", segment="billing").json()["backtest"]
    assert bt == {
        "wape": 0.25,
        "mase": 0.75,
        "coverage_80": 0.875,
        "coverage_95": 0.9375,
        "model": WEEKLY,
        "selected": True,
        "baseline": "seasonal_naive_168h",
        "origins": 6,
        "horizon_h": 24,
        "points": 144,
        "generated_at": iso(G - 24 * H),
    }


def test_forecast_names_its_model_and_every_candidate_of_the_latest_refit(
    client: TestClient,
) -> None:
    body = forecast(client, ACME, segment_type="queue", segment="billing").json()
    candidates = body["candidates"]
    # the chosen first, then by backtest error; the older refit's rows never mix in
    assert [(c["model"], c["selected"], c["mase"]) for c in candidates] == [
        (WEEKLY, True, 0.75),
        (PROFILE, False, 0.875),
        (NAIVE, False, 1.0),
    ]
    assert {c["generated_at"] for c in candidates} == {iso(G - 24 * H)}
    assert candidates[0] == body["backtest"]
    assert body["model"] == WEEKLY  # the snapshot's model


def test_forecast_candidates_empty_without_backtests_and_legacy_rows_are_chosen(
    client: TestClient,
) -> None:
    assert forecast(client, ACME, segment_type="queue", segment="sales").json()["candidates"] == []
    body = forecast(client, GLOBEX, segment_type="queue", segment="billing").json()
    assert [c["model"] for c in body["candidates"]] == [WEEKLY]
    assert body["candidates"][0] == body["backtest"]


def test_forecast_backtest_none_when_missing_and_nulls_pass_through(client: TestClient) -> None:
    sales = forecast(client, ACME, segment_type="queue", segment="sales").json()
    assert sales["model"] == COLD  # its stored backtest is the weekly model's: not shown
    assert (sales["backtest"], sales["candidates"]) == (None, [])
    bt = forecast(client, ACME, segment_type="queue", segment="support").json()["backtest"]
    assert (bt["wape"], bt["mase"], bt["coverage_80"], bt["coverage_95"]) == (None,) * 4
    assert bt["origins"] == 7


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        (ACME, {"segment_type": "queue", "segment": "nope"}),
        (ACME, {"segment_type": "region", "segment": "billing"}),  # a queue, not a region
        (GLOBEX, {"segment_type": "queue", "segment": "sales"}),  # acme's
        (INITECH, {"segment_type": "queue", "segment": "billing"}),
    ],
)
def test_forecast_404(client: TestClient, headers: dict[str, str], params: dict[str, str]) -> None:
    r = forecast(client, headers, **params)
    assert r.status_code == 404
    assert r.json() == {
        "detail": f"no forecast for {params['segment_type']} '{params['segment']}' yet"
    }


@pytest.mark.parametrize(
    "params",
    [
        {"segment_type": "queue", "segment": "billing", "horizon_h": "0"},
        {"segment_type": "queue", "segment": "billing", "horizon_h": "337"},
        {"segment_type": "queue", "segment": "billing", "horizon_h": "x"},
        {"segment_type": "planet", "segment": "billing"},
        {"segment_type": "queue", "segment": ""},
        {"segment_type": "queue", "segment": "b" * 129},
        {"segment_type": "queue"},
        {"segment": "billing"},
    ],
)
def test_forecast_422(client: TestClient, params: dict[str, str]) -> None:
    assert forecast(client, ACME, **params).status_code == 422


def test_forecast_tenant_isolation(client: TestClient) -> None:
    acme = forecast(client, ACME, segment_type="queue", segment="billing", horizon_h=336).json()
    globex = forecast(client, GLOBEX, segment_type="queue", segment="billing", horizon_h=336).json()
    assert [i["predicted"] for i in acme["items"]] == BILLING
    assert (globex["generated_at"], globex["model"]) == (iso(G + 5 * H), WEEKLY)
    assert [i["predicted"] for i in globex["items"]] == [99.0] * 3
    assert globex["backtest"]["wape"] == 0.5
    assert acme["backtest"]["wape"] == 0.25


# --- segments ---------------------------------------------------------------------------


def test_segments_by_type_then_busiest(client: TestClient) -> None:
    r = client.get("/v1/demand/segments", headers=ACME)
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(i["segment_type"], i["segment"], i["next_24h"]) for i in items] == [
        ("queue", "billing", sum(BILLING)),  # 61.25, from the latest snapshot only
        ("queue", "sales", 48.0),
        ("queue", "support", 24.0),  # only the first 24 of its 30 hours
        ("region", "east", 30.0),
        ("region", "north", 30.0),
        ("service_type", "install", 2.0),
    ]
    assert (items[0]["model"], items[0]["generated_at"]) == (WEEKLY, iso(G))


def test_segments_tenant_isolation(client: TestClient) -> None:
    items = client.get("/v1/demand/segments", headers=GLOBEX).json()["items"]
    assert [(i["segment_type"], i["segment"], i["next_24h"]) for i in items] == [
        ("queue", "billing", 297.0)
    ]
    assert client.get("/v1/demand/segments", headers=INITECH).json() == {"items": []}


# --- KB suggestions ---------------------------------------------------------------------


def ids(body: dict[str, Any]) -> list[str]:
    return [s["suggestion_id"] for s in body["items"]]


def test_suggestions_latest_version_biggest_first(client: TestClient) -> None:
    r = client.get("/v1/kb/suggestions", headers=ACME)
    assert r.status_code == 200
    body = r.json()
    # size desc, then first_seen, then id: B (3, seen at G) before A (3, seen at G + 1 h)
    assert ids(body) == [str(S_BIG), str(S_COVERED), str(S_OPEN_B), str(S_OPEN_A)]
    big = body["items"][0]
    assert (
        big
        == {
            "suggestion_id": str(S_BIG),
            "status": "open",
            "title": f"title {S_BIG.hex[:6]} v2",  # version 2, though version 1 went in later
            "category": "billing",
            "ticket_ids": [f"acme-{S_BIG.hex[:6]}-{i}" for i in range(6)],
            "size": 6,
            "confidence": 0.5,
            "covered_by": None,
            "first_seen": iso(G),
            "updated_at": iso(G + 2 * H),
            "verdict": None,
            "decided_at": None,
        }
    )
    covered = body["items"][1]
    assert (covered["status"], covered["covered_by"]) == ("covered", "kb-7")
    assert body["feedback"] == {"accepted": 0, "dismissed": 0, "precision": None}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # S_COVERED's version 1 was open: only its latest version counts
        ({"status": "open"}, [S_BIG, S_OPEN_B, S_OPEN_A]),
        ({"status": "covered"}, [S_COVERED]),
        ({"limit": "2"}, [S_BIG, S_COVERED]),
        ({"status": "open", "limit": "1"}, [S_BIG]),
    ],
)
def test_suggestions_filters(
    client: TestClient, params: dict[str, str], expected: list[uuid.UUID]
) -> None:
    r = client.get("/v1/kb/suggestions", params=params, headers=ACME)
    assert r.status_code == 200, r.text
    assert ids(r.json()) == [str(s) for s in expected]


@pytest.mark.parametrize(
    "params", [{"status": "closed"}, {"limit": "0"}, {"limit": "1001"}, {"limit": "x"}]
)
def test_suggestions_422(client: TestClient, params: dict[str, str]) -> None:
    assert client.get("/v1/kb/suggestions", params=params, headers=ACME).status_code == 422


def test_suggestions_tenant_isolation(client: TestClient) -> None:
    assert ids(client.get("/v1/kb/suggestions", headers=GLOBEX).json()) == [str(S_GLOBEX)]
    assert client.get("/v1/kb/suggestions", headers=INITECH).json() == {
        "items": [],
        "feedback": {"accepted": 0, "dismissed": 0, "precision": None},
    }


# --- feedback ---------------------------------------------------------------------------


def judge(client: TestClient, s: uuid.UUID, verdict: str, headers: dict[str, str] = ACME) -> Any:
    return client.post(
        f"/v1/kb/suggestions/{s}/{'accept' if verdict == 'accepted' else 'dismiss'}",
        headers=headers,
    )


def precision(client: TestClient, headers: dict[str, str] = ACME) -> dict[str, Any]:
    feedback: dict[str, Any] = client.get("/v1/kb/suggestions", headers=headers).json()["feedback"]
    return feedback


def test_feedback_response_and_precision_arithmetic(fresh: TestClient, clock: Clock) -> None:
    r = judge(fresh, S_BIG, "accepted")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "suggestion_id": str(S_BIG),
        "verdict": "accepted",
        "decided_at": iso(clock.t),
        "feedback": {"accepted": 1, "dismissed": 0, "precision": 1.0},
    }
    assert judge(fresh, S_OPEN_A, "accepted").json()["feedback"]["precision"] == 1.0
    r = judge(fresh, S_COVERED, "dismissed")  # a covered suggestion can be judged too
    assert r.json()["feedback"] == {"accepted": 2, "dismissed": 1, "precision": 2 / 3}
    r = judge(fresh, S_OPEN_B, "dismissed")
    assert r.json()["feedback"] == {"accepted": 2, "dismissed": 2, "precision": 0.5}
    assert precision(fresh) == {"accepted": 2, "dismissed": 2, "precision": 0.5}


def test_feedback_latest_verdict_wins(fresh: TestClient, clock: Clock) -> None:
    judge(fresh, S_BIG, "accepted")
    judge(fresh, S_OPEN_A, "accepted")
    assert precision(fresh) == {"accepted": 2, "dismissed": 0, "precision": 1.0}
    # a reviewer changes their mind: one suggestion, one verdict
    r = judge(fresh, S_BIG, "dismissed")
    assert r.json()["feedback"] == {"accepted": 1, "dismissed": 1, "precision": 0.5}
    decided = iso(clock.t)
    judge(fresh, S_OPEN_A, "accepted")  # the same verdict again changes nothing
    assert precision(fresh) == {"accepted": 1, "dismissed": 1, "precision": 0.5}

    items = {
        s["suggestion_id"]: s for s in fresh.get("/v1/kb/suggestions", headers=ACME).json()["items"]
    }
    assert (items[str(S_BIG)]["verdict"], items[str(S_BIG)]["decided_at"]) == ("dismissed", decided)
    assert items[str(S_OPEN_A)]["verdict"] == "accepted"
    assert items[str(S_OPEN_B)]["verdict"] is None
    assert items[str(S_OPEN_B)]["decided_at"] is None

    judge(fresh, S_BIG, "accepted")  # and back
    assert precision(fresh) == {"accepted": 2, "dismissed": 0, "precision": 1.0}


def test_a_verdict_and_its_audit_row_share_one_clock_reading(
    fresh: TestClient, clock: Clock, audit: Audit
) -> None:
    """One instant per request: the stored ``decided_at`` is the ``at`` of the call's
    audit row, so an auditor finds who judged a suggestion from its verdict time. The
    clock is read once per call whatever the answer, and not by reads that record nothing."""
    r = judge(fresh, S_BIG, "dismissed")
    assert r.status_code == 200, r.text
    assert clock.reads == 1
    [row] = audit.rows
    route = "/v1/kb/suggestions/{suggestion_id}/dismiss"
    assert (row.tenant_id, row.route, row.status, row.outcome) == ("acme", route, 200, "success")
    assert row.at.isoformat() == r.json()["decided_at"] == iso(clock.t)

    # refused calls are audited at one reading each too (the route's, or the audit's own)
    assert judge(fresh, uuid.uuid4(), "accepted").status_code == 404
    assert judge(fresh, S_OPEN_A, "accepted", {}).status_code == 401
    assert clock.reads == 3
    assert [(a.status, a.at) for a in audit.rows[1:]] == [
        (404, clock.t - timedelta(seconds=1)),
        (401, clock.t),
    ]

    listed = fresh.get("/v1/kb/suggestions", headers=ACME).json()["items"]
    assert clock.reads == 3
    stored = {s["suggestion_id"]: s["decided_at"] for s in listed}
    assert stored[str(S_BIG)] == row.at.isoformat()
    assert len(audit.rows) == 3  # a GET is not audited


def test_feedback_404_and_tenant_isolation(fresh: TestClient) -> None:
    unknown = uuid.uuid4()
    for verdict in ("accepted", "dismissed"):
        r = judge(fresh, unknown, verdict)
        assert r.status_code == 404
        assert r.json() == {"detail": "unknown suggestion"}
        assert judge(fresh, S_BIG, verdict, GLOBEX).status_code == 404  # acme's
        assert judge(fresh, S_GLOBEX, verdict, ACME).status_code == 404  # globex's
        assert judge(fresh, S_BIG, verdict, INITECH).status_code == 404
    assert precision(fresh) == {"accepted": 0, "dismissed": 0, "precision": None}
    assert precision(fresh, GLOBEX) == {"accepted": 0, "dismissed": 0, "precision": None}

    judge(fresh, S_BIG, "accepted")
    r = judge(fresh, S_GLOBEX, "dismissed", GLOBEX)
    assert r.json()["feedback"] == {"accepted": 0, "dismissed": 1, "precision": 0.0}
    assert precision(fresh) == {"accepted": 1, "dismissed": 0, "precision": 1.0}
    # globex's verdict shows on its own suggestion only
    acme_items = fresh.get("/v1/kb/suggestions", headers=ACME).json()["items"]
    assert {s["suggestion_id"]: s["verdict"] for s in acme_items}[str(S_BIG)] == "accepted"


def test_feedback_422_on_a_malformed_id(client: TestClient) -> None:
    assert client.post("/v1/kb/suggestions/not-a-uuid/accept", headers=ACME).status_code == 422
    assert client.get(f"/v1/kb/suggestions/{S_BIG}/accept", headers=ACME).status_code == 405


# --- migration 014 ------------------------------------------------------------------------


def test_migration_014_keeps_stored_backtests_as_the_chosen_models(chdb_path: Path) -> None:
    """A database with backtests of the one-model era: after 014 every old row is the
    chosen candidate of its refit, and a refit's candidates no longer replace each other."""
    from infra.migrate import load_migrations

    database = f"t_{uuid.uuid4().hex[:12]}"
    root = open_client(f"chdb://{chdb_path}")
    root.command(f"CREATE DATABASE {database}")
    ch = open_client(f"chdb://{chdb_path}", database)
    migrations = load_migrations()
    for m in migrations:
        if m.version < 14:
            for stmt in m.statements():
                ch.command(stmt)
    old_columns = [c for c in BACKTEST_COLUMNS if c != "selected"]
    ch.insert(
        "demand_backtest",
        [backtest("acme", "billing", G, 0.25, 0.75, (0.875, 0.9375))[:-1]],
        column_names=old_columns,
    )
    (m014,) = [m for m in migrations if m.version == 14]
    for stmt in m014.statements():
        ch.command(stmt)
    ch.insert(
        "demand_backtest",
        [backtest("acme", "billing", G, 0.5, 1.0, (0.5, 0.5), model=NAIVE, selected=False)],
        column_names=BACKTEST_COLUMNS,
    )
    rows = ch.query(
        "SELECT model, selected, wape FROM demand_backtest FINAL ORDER BY model"
    ).result_rows
    assert rows == [(WEEKLY, True, 0.25), (NAIVE, False, 0.5)]
    tables_left = ch.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'demand_b%'",
        parameters={"db": database},
    ).result_rows
    assert tables_left == [("demand_backtest",)]
    ch.close()
