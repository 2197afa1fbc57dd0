"""The alert lifecycle routes against the real embedded ClickHouse engine.

``POST /v1/alerts/{id}/ack`` and ``/resolve`` store ``alert_actions`` rows and announce
each change (a recording publisher stands in for the alerts topic here; the broker path
is ``test_alert_lifecycle_stream.py``); ``GET /v1/alerts`` derives every alert's state
in SQL and filters on it. The alerts are ``test_api.py``'s (acme: c9, c10, r11; globex:
g10), inserted as the flows write them.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from schemas.alert_lifecycle import (
    ALERT_STATES,
    AlertAction,
    AlertActionKind,
    AlertStateChange,
    state_of,
)
from schemas.settings import Settings
from sinks import tables
from sinks.clickhouse_client import open_client
from sinks.publisher import PublishError
from sinks.reader import ResultsReader
from tests.integration.test_api import ACME, ALERT_COLUMNS, DAY, GLOBEX, NS, H, alert, make_settings
from tests.integration.test_api import seed as seed_api

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 3, 8, 30, tzinfo=UTC)  # the API's wall clock, moved by the tests
C9, C10, R11, G10 = (str(uuid.uuid5(NS, label)) for label in ("c9", "c10", "r11", "g10"))


class Recorder:
    """The alert state publisher, recording (or refusing, with ``fail``)."""

    def __init__(self) -> None:
        self.changes: list[AlertStateChange] = []
        self.fail = False

    def publish(self, change: AlertStateChange) -> None:
        if self.fail:
            raise PublishError("the broker is down")
        self.changes.append(change)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(chdb_path: Path, database: str, tmp_path: Path) -> Settings:
    s = make_settings(chdb_path, database, tmp_path)
    seed_api(s.dsn, database)
    return s


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, recorder: Recorder, clock: Clock) -> Iterator[TestClient]:
    app = create_app(
        settings, kafka_check=lambda: None, store_lag=dict, now=clock, alert_states=recorder
    )
    with TestClient(app) as tc:
        yield tc


def actions(settings: Settings) -> list[dict[str, Any]]:
    ch = open_client(settings.dsn, settings.clickhouse_database)
    try:
        sql = "SELECT * FROM alert_actions FINAL ORDER BY at, action"
        return list(ch.query(sql).named_results())
    finally:
        ch.close()


def states(tc: TestClient, headers: dict[str, str] = ACME, **params: Any) -> dict[str, str]:
    r = tc.get("/v1/alerts", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return {i["alert_id"]: i["state"] for i in r.json()["items"]}


def test_ack_then_resolve_is_idempotent_and_never_goes_back(
    client: TestClient, settings: Settings, recorder: Recorder, clock: Clock
) -> None:
    assert states(client) == {R11: "open", C10: "open", C9: "open"}

    r = client.post(f"/v1/alerts/{C10}/ack", json={"note": "calling the agent"}, headers=ACME)
    assert r.status_code == 200, r.text
    acked_at = NOW.isoformat()
    assert r.json() == {
        "alert_id": C10,
        "state": "acknowledged",
        "state_at": acked_at,
        "changed": True,
    }

    # acking twice is one state: nothing stored, nothing announced, the first time kept
    clock.now = NOW + H
    again = client.post(f"/v1/alerts/{C10}/ack", json={"note": "again"}, headers=ACME)
    assert again.json() == {
        "alert_id": C10,
        "state": "acknowledged",
        "state_at": acked_at,
        "changed": False,
    }
    assert client.post(f"/v1/alerts/{C10}/ack", headers=ACME).json()["changed"] is False

    item = next(
        i for i in client.get("/v1/alerts", headers=ACME).json()["items"] if i["alert_id"] == C10
    )
    assert (item["state"], item["state_at"]) == ("acknowledged", acked_at)

    resolved = client.post(f"/v1/alerts/{C10}/resolve", headers=ACME)  # no body at all
    assert resolved.json() == {
        "alert_id": C10,
        "state": "resolved",
        "state_at": (NOW + H).isoformat(),
        "changed": True,
    }
    # ack after resolve does not reopen (nor go back to acknowledged)
    clock.now = NOW + 2 * H
    late_ack = client.post(f"/v1/alerts/{C10}/ack", json={}, headers=ACME)
    assert late_ack.json() == {
        "alert_id": C10,
        "state": "resolved",
        "state_at": (NOW + H).isoformat(),
        "changed": False,
    }
    assert client.post(f"/v1/alerts/{C10}/resolve", headers=ACME).json()["changed"] is False

    # resolving an open alert is allowed
    direct = client.post(f"/v1/alerts/{C9}/resolve", json={"note": None}, headers=ACME)
    assert direct.json()["state"] == "resolved"
    assert states(client) == {R11: "open", C10: "resolved", C9: "resolved"}

    rows = [
        (str(a["alert_id"]), a["action"], a["note"], a["actor"], a["at"]) for a in actions(settings)
    ]
    naive = NOW.replace(tzinfo=None)
    assert rows == [
        (C10, "acknowledge", "calling the agent", "api", naive),
        (C10, "resolve", "", "api", naive + H),
        (C9, "resolve", "", "api", naive + 2 * H),
    ]
    assert [
        (str(c.alert_id), c.state, c.note, c.tenant_id, c.kind, c.severity)
        for c in recorder.changes
    ] == [
        (C10, "acknowledged", "calling the agent", "acme", "coaching", "high"),
        (C10, "resolved", None, "acme", "coaching", "high"),
        (C9, "resolved", None, "acme", "coaching", "low"),
    ]
    assert [c.at for c in recorder.changes] == [NOW, NOW + H, NOW + 2 * H]


def test_state_filter(client: TestClient) -> None:
    client.post(f"/v1/alerts/{C10}/ack", headers=ACME)
    client.post(f"/v1/alerts/{R11}/resolve", headers=ACME)
    assert states(client, state="open") == {C9: "open"}
    assert states(client, state="acknowledged") == {C10: "acknowledged"}
    assert states(client, state="resolved") == {R11: "resolved"}
    assert states(client, state="open", kind="client_risk") == {}
    assert states(client, state="resolved", kind="client_risk") == {R11: "resolved"}
    # the page is cut after the state filter: the newest *open* alert, not the newest one
    assert states(client, state="open", limit=1) == {C9: "open"}
    assert states(client, GLOBEX, state="open") == {G10: "open"}
    assert states(client, GLOBEX, state="acknowledged") == {}
    assert client.get("/v1/alerts", params={"state": "closed"}, headers=ACME).status_code == 422


def test_another_tenants_alert_is_a_404_like_a_missing_one(
    client: TestClient, settings: Settings, recorder: Recorder
) -> None:
    unknown = str(uuid.uuid4())
    for action in ("ack", "resolve"):
        foreign = client.post(f"/v1/alerts/{C10}/{action}", json={"note": "x"}, headers=GLOBEX)
        missing = client.post(f"/v1/alerts/{unknown}/{action}", json={"note": "x"}, headers=GLOBEX)
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json() == missing.json() == {"detail": "unknown alert"}
    assert actions(settings) == []
    assert recorder.changes == []
    assert states(client)[C10] == "open"
    # and globex's own alert is its own to act on
    assert client.post(f"/v1/alerts/{G10}/ack", headers=GLOBEX).json()["state"] == "acknowledged"
    assert client.post(f"/v1/alerts/{G10}/ack", headers=ACME).status_code == 404
    assert states(client, GLOBEX) == {G10: "acknowledged"}
    assert set(states(client).values()) == {"open"}


def test_the_state_join_is_bound_to_the_tenant(client: TestClient, settings: Settings) -> None:
    """An action row of another tenant naming acme's alert id never changes acme's state
    (the aggregated actions are filtered by tenant before the join)."""
    ch = open_client(settings.dsn, settings.clickhouse_database)
    forged = AlertAction.of("globex", uuid.UUID(C10), "resolve", "system", NOW)
    ch.insert(
        "alert_actions",
        [tables.ALERT_ACTIONS.to_row(forged)],
        column_names=tables.ALERT_ACTIONS.columns,
    )
    ch.close()
    assert states(client)[C10] == "open"
    assert states(client, state="resolved") == {}
    r = client.post(f"/v1/alerts/{C10}/ack", headers=ACME)
    assert (r.json()["state"], r.json()["changed"]) == ("acknowledged", True)


@pytest.mark.parametrize(
    ("body", "content"),
    [
        ({"note": "x" * 1001}, None),  # bounded
        ({"note": 5}, None),
        ({"state": "resolved"}, None),  # unknown fields refused
        (None, b"not json"),
        (None, b"[]"),
    ],
)
def test_bad_bodies_are_422(
    client: TestClient, settings: Settings, body: Any, content: bytes | None
) -> None:
    kw: dict[str, Any] = (
        {"json": body}
        if content is None
        else {"content": content, "headers": {**ACME, "Content-Type": "application/json"}}
    )
    kw.setdefault("headers", ACME)
    assert client.post(f"/v1/alerts/{C10}/ack", **kw).status_code == 422
    assert client.post("/v1/alerts/not-a-uuid/resolve", headers=ACME).status_code == 422
    assert actions(settings) == []


def test_a_note_at_the_bound_is_kept(client: TestClient, settings: Settings) -> None:
    note = "é" * 1000
    assert (
        client.post(f"/v1/alerts/{R11}/resolve", json={"note": note}, headers=ACME).status_code
        == 200
    )
    assert [a["note"] for a in actions(settings)] == [note]


def test_a_lost_announcement_still_changes_the_state(
    client: TestClient, settings: Settings, recorder: Recorder
) -> None:
    recorder.fail = True
    r = client.post(f"/v1/alerts/{C10}/resolve", headers=ACME)
    assert (r.status_code, r.json()["changed"]) == (200, True)
    assert states(client)[C10] == "resolved"


def test_sql_derives_the_state_as_state_of_does(settings: Settings) -> None:
    """Every combination of actions (by either actor, duplicates and inserts in any
    order) reads back as :func:`state_of` says, with the earliest time of that state."""
    ch = open_client(settings.dsn, settings.clickhouse_database)
    kinds: list[tuple[AlertActionKind, str]] = [
        (a, actor) for a in ("acknowledge", "resolve") for actor in ("api", "system")
    ]
    combos = [c for n in range(len(kinds) + 1) for c in itertools.combinations(kinds, n)]
    expected: dict[str, tuple[str, datetime | None]] = {}
    alerts, rows = [], []
    for n, combo in enumerate(combos):
        label = f"combo-{n}"
        alerts.append(alert(label, "initech", "coaching", "low", DAY + n * timedelta(minutes=1)))
        alert_id = uuid.uuid5(NS, label)
        made = [
            AlertAction.of("initech", alert_id, action, actor, NOW + timedelta(minutes=10 * i))  # type: ignore[arg-type]
            for i, (action, actor) in enumerate(reversed(combo))
        ]
        rows.extend(made)
        state = state_of(a.action for a in made)
        reached = [
            a.at
            for a in made
            if state != "open"
            and a.action == {"acknowledged": "acknowledge", "resolved": "resolve"}[state]
        ]
        expected[str(alert_id)] = (state, min(reached) if reached else None)
    ch.insert("alerts", alerts, column_names=ALERT_COLUMNS)
    for half in (rows[::2], rows[1::2], rows[::3]):  # separate inserts, some rows twice
        ch.insert(
            "alert_actions",
            [tables.ALERT_ACTIONS.to_row(r) for r in half],
            column_names=tables.ALERT_ACTIONS.columns,
        )
    ch.close()
    reader = ResultsReader(lambda: open_client(settings.dsn, settings.clickhouse_database))
    try:
        got = {str(a.alert_id): (a.state, a.state_at) for a in reader.alerts("initech", limit=1000)}
        assert got == expected
        for state in ALERT_STATES:
            listed = {str(a.alert_id) for a in reader.alerts("initech", state=state, limit=1000)}
            assert listed == {k for k, (s, _) in expected.items() if s == state}
        one = reader.alert("initech", uuid.uuid5(NS, f"combo-{len(combos) - 1}"))
        assert one is not None
        assert one.state == "resolved"
        assert reader.alert("acme", uuid.uuid5(NS, "combo-0")) is None
    finally:
        reader.close()
