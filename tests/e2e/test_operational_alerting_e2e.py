"""emit -> run --until-end -> api for the operational alerts of issue #12.

One hand-written scenario (JSON lines, not the simulator), run once for the module
through the real ``cxpulse`` commands, with the fewest events that prove each point:

* globex, demand: ``service.requested`` (region ``north``, service ``repair``) every hour
  from ``START`` (Monday 2025-03-03 00:00 UTC): 4 an hour 08-18 UTC, 1 otherwise, for
  ``SPIKE`` = 202 hours (the weekly model forecasts from 192 h of history on, see
  ``flows.demand.forecast.MIN_WEEKLY_H``), then ``SPIKE_EVENTS`` in the spike hour
  (Tuesday 2025-03-11 10:00) and one more an hour later, so the watermark passes the
  spike hour's end and it closes: one ``anomaly`` alert per segment (``region:north``,
  ``service_type:repair``) for that hour and none before it.
* acme, complaints on ``DAY`` (2025-03-11): K1 created high, K2 created critical, K3
  created low then escalated to medium, K4 created medium: three
  ``complaint_escalation`` alerts (high, critical, medium) and none for K3's or K4's
  creation.
* acme, the board: agents A1 and A2 on ``DAY`` (statuses, a ticket each, a session each;
  A2's ticket resolved and session ended).

Then over HTTP: the alerts with exact severities and details, the ack and resolve of K1's
alert (a repeated ack changes nothing), ``GET /v1/alerts?state=...``, the board's exact
figures.

A threshold rule (issue #12 item 1) plugs in as an entry of ``RULES`` (the fixture writes
it as ``CXPULSE_ALERT_RULES_FILE``), the events that cross and clear it in
:func:`scenario` (acme ones no later than 09:50 keep the board's ``as_of``; ones on
another queue or agent keep its figures) and a test of its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.cli import cli_env, cxpulse, serve_api
from tests.scenario import encode
from tests.unit.helpers import envelope

pytestmark = pytest.mark.e2e
ACME = {"Authorization": "Bearer key-acme-0123456789abcdef"}
GLOBEX = {"Authorization": "Bearer key-globex-0123456789abcdef"}

START = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
SPIKE = 8 * 24 + 10  # hour index of the spike: Tuesday 2025-03-11 10:00, weekly model
SPIKE_EVENTS = 30
DAY = (START + timedelta(hours=SPIKE)).date().isoformat()  # the acme scenario's day

# One shard and one partition: a sparse scenario's watermark must pass its hours (as in
# test_risk_ops_e2e); 24 forecast hours are all an anomaly needs of a snapshot.
ENV_EXTRA = {
    "CXPULSE_SHARDS": "1",
    "CXPULSE_TOPIC_PARTITIONS": "1",
    "CXPULSE_FORECAST_HORIZON_H": "24",
}


# tenant -> threshold rules, the CXPULSE_ALERT_RULES_FILE format: acme's "returns"
# queue may hold more than one waiting session for at most 5 minutes
RULES: dict[str, list[dict[str, Any]]] = {
    "acme": [
        {
            "rule_id": "returns-backlog",
            "metric": "queue_depth",
            "scope": {"queue": "returns"},
            "op": ">",
            "threshold": 1,
            "for_s": 300,
            "severity": "high",
        }
    ]
}


def _at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{hhmm}:00+00:00")


def _acme(event_type: str, hhmm: str, payload: dict[str, Any]) -> dict[str, Any]:
    return envelope(event_type, payload, occurred_at=_at(hhmm), tenant="acme")


def demand_per_hour(h: int) -> int:
    if h == SPIKE:
        return SPIKE_EVENTS
    return 4 if 8 <= h % 24 < 18 else 1


def demand() -> list[dict[str, Any]]:
    out = []
    for h in range(SPIKE + 2):
        n = demand_per_hour(h)
        for k in range(n):
            at = START + timedelta(hours=h, seconds=k * 3600 // n)
            payload = {
                "request_id": f"Q{h}-{k}",
                "client_id": "G1",
                "region": "north",
                "service_type": "repair",
                "urgency": "normal",
            }
            out.append(envelope("service.requested", payload, occurred_at=at, tenant="globex"))
    return out


def _complaint(complaint: str, severity: str, category: str, hhmm: str) -> dict[str, Any]:
    payload = {
        "complaint_id": complaint,
        "client_id": "C1",
        "severity": severity,
        "category": category,
        "description": "Third outage this month",
    }
    return _acme("complaint.created", hhmm, payload)


def complaints() -> list[dict[str, Any]]:
    escalated = {"complaint_id": "K3", "client_id": "C1", "severity": "medium"}
    return [
        _complaint("K1", "high", "outage", "09:00"),
        _complaint("K2", "critical", "billing", "09:01"),
        _complaint("K3", "low", "delivery", "09:02"),
        _complaint("K4", "medium", "delivery", "09:03"),
        _acme("complaint.escalated", "09:50", escalated),
    ]


def _status(agent: str, status: str, hhmm: str) -> dict[str, Any]:
    return _acme(
        "agent.status_changed", hhmm, {"agent_id": agent, "status": status, "team": "billing"}
    )


def _session(kind: str, session: str, agent: str, hhmm: str) -> dict[str, Any]:
    payload = {"session_id": session, "channel": "chat", "queue": "billing", "agent_id": agent}
    return _acme(kind, hhmm, payload)


def board() -> list[dict[str, Any]]:
    return [
        _status("A1", "active", "09:10"),
        _status("A2", "in_call", "09:11"),
        _acme(
            "ticket.assigned", "09:12", {"ticket_id": "T1", "agent_id": "A1", "assigned_by": "auto"}
        ),
        _acme(
            "ticket.assigned", "09:13", {"ticket_id": "T2", "agent_id": "A2", "assigned_by": "auto"}
        ),
        _session("session.started", "S1", "A1", "09:20"),
        _session("session.started", "S2", "A2", "09:21"),
        _status("A1", "idle", "09:30"),
        _session("session.ended", "S2", "A2", "09:40"),
        _acme(
            "ticket.resolved",
            "09:45",
            {
                "ticket_id": "T2",
                "agent_id": "A2",
                "category": "billing",
                "resolution_code": "refund",
                "resolution_text": "Refunded",
            },
        ),
    ]


def _waiting(kind: str, session: str, hhmm: str) -> dict[str, Any]:
    """A session of the ``returns`` queue that no agent takes (the board keeps its rows)."""
    return _acme(kind, hhmm, {"session_id": session, "channel": "chat", "queue": "returns"})


def backlog() -> list[dict[str, Any]]:
    """Two sessions wait in ``returns`` from 09:05 (depth 2 > 1): the rule's episode
    starts there, fires at the first check once 300 s have held and ends when Q1 leaves
    at 09:15."""
    return [
        _waiting("session.queued", "Q1", "09:04"),
        _waiting("session.queued", "Q2", "09:05"),
        _waiting("session.ended", "Q1", "09:15"),
    ]


def scenario() -> list[dict[str, Any]]:
    *created, escalated = complaints()
    return demand() + created + backlog() + [escalated] + board()


# The board at the end (as_of: the newest acme live-ops event, 09:50)
BOARD = [
    {
        "agent_id": "A1",
        "status": "idle",
        "since": f"{DAY}T09:30:00+00:00",
        "last_event_at": f"{DAY}T09:30:00+00:00",
        "active_sessions": 1,
        "sessions_today": 1,
        "open_tickets": 1,
    },
    {
        "agent_id": "A2",
        "status": "in_call",
        "since": f"{DAY}T09:11:00+00:00",
        "last_event_at": f"{DAY}T09:45:00+00:00",
        "active_sessions": 0,
        "sessions_today": 1,
        "open_tickets": 0,
    },
]


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("alerting")
    env = cli_env(kafka_bootstrap, tmp / "data", **ENV_EXTRA)
    if RULES:
        (tmp / "rules.json").write_text(json.dumps(RULES))
        env["CXPULSE_ALERT_RULES_FILE"] = str(tmp / "rules.json")
    cxpulse(env, "topics")
    (tmp / "events.jsonl").write_bytes(b"\n".join(encode(e) for e in scenario()))
    cxpulse(env, "emit", str(tmp / "events.jsonl"))
    cxpulse(env, "run", "--until-end")
    with serve_api(env) as base:
        yield base


def _alerts(api: str, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api}/v1/alerts", headers=headers, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _escalations(api: str, **params: str) -> dict[str, dict[str, Any]]:
    items = _alerts(api, ACME, kind="complaint_escalation", **params)
    return {a["subject_id"]: a for a in items}


def test_escalation_alerts_with_exact_severities(api: str) -> None:
    got = _escalations(api)
    assert {k: a["severity"] for k, a in got.items()} == {
        "K1": "high",
        "K2": "critical",
        "K3": "medium",  # the escalation's severity; K3 (low) and K4 (medium) created: none
    }
    assert {a["subject_type"] for a in got.values()} == {"complaint"}
    k1, k3 = got["K1"]["details"], got["K3"]["details"]
    assert (k1["cause"], k1["client_id"], k1["category"]) == ("created", "C1", "outage")
    assert (k3["cause"], k3["category"], k3["created_severity"]) == (
        "escalated",
        "delivery",
        "low",
    )
    assert got["K3"]["event_time"].startswith(f"{DAY}T09:50:00")
    assert {a["state"] for a in got.values()} == {"open"}


def test_an_anomaly_on_the_spiked_hour_only(api: str) -> None:
    items = _alerts(api, GLOBEX, kind="anomaly")
    spike = (START + timedelta(hours=SPIKE)).isoformat()
    assert sorted(a["subject_id"] for a in items) == ["region:north", "service_type:repair"]
    for a in items:
        d = a["details"]
        assert (d["metric_name"], d["hour"], d["direction"]) == ("demand_1h", spike, "above")
        assert d["actual_value"] == SPIKE_EVENTS
        lower, upper = d["expected_range"]
        assert lower <= 4 <= upper < SPIKE_EVENTS  # the forecast expected an office hour
        assert a["severity"] == "high"  # 30 is over twice as far from 4.6 as 12.3
    assert _alerts(api, ACME, kind="anomaly") == []  # another tenant's demand


def _ms(stamp: str) -> datetime:
    """An instant to the millisecond: ``alert_actions`` stores milliseconds, while a
    POST answers with the instant it recorded, microseconds included."""
    t = datetime.fromisoformat(stamp)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _post(api: str, alert_id: str, action: str, note: str | None = None) -> dict[str, Any]:
    body = {"note": note} if note else None
    r = httpx.post(f"{api}/v1/alerts/{alert_id}/{action}", headers=ACME, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_ack_then_resolve(api: str) -> None:
    k1 = _escalations(api)["K1"]["alert_id"]
    # the other tenant cannot see, let alone act on it
    r = httpx.post(f"{api}/v1/alerts/{k1}/ack", headers=GLOBEX)
    assert r.status_code == 404

    first = _post(api, k1, "ack", "calling the client")
    assert (first["state"], first["changed"]) == ("acknowledged", True)
    again = _post(api, k1, "ack")
    assert (again["state"], again["changed"]) == ("acknowledged", False)
    assert _ms(again["state_at"]) == _ms(first["state_at"])
    assert list(_escalations(api, state="acknowledged")) == ["K1"]
    assert sorted(_escalations(api, state="open")) == ["K2", "K3"]

    done = _post(api, k1, "resolve")
    assert (done["state"], done["changed"]) == ("resolved", True)
    late_ack = _post(api, k1, "ack")
    assert (late_ack["state"], late_ack["changed"]) == ("resolved", False)
    assert list(_escalations(api, state="resolved")) == ["K1"]
    assert _escalations(api, state="acknowledged") == {}
    item = _escalations(api)["K1"]
    assert item["state"] == "resolved"
    assert _ms(item["state_at"]) == _ms(done["state_at"])


def test_a_threshold_rule_fires_once_and_resolves_when_it_clears(api: str) -> None:
    [alert] = _alerts(api, ACME, kind="threshold")
    assert alert["severity"] == "high"
    assert alert["subject_id"] == "returns-backlog"
    details = alert["details"]
    assert {k: details[k] for k in ("rule_id", "metric_name", "scope", "threshold")} == {
        "rule_id": "returns-backlog",
        "metric_name": "queue_depth",
        "scope": {"queue": "returns"},
        "threshold": 1,
    }
    assert details["actual_value"] == 2
    assert datetime.fromisoformat(details["since"]) == _at("09:05")
    # fired at the first check after 300 s held: here the next acme event (09:15)
    assert _at("09:10") <= datetime.fromisoformat(alert["event_time"]) <= _at("09:15")
    assert alert["state"] == "resolved"  # by the flow, when the queue drained
    assert _ms(alert["state_at"]) == _at("09:15")
    assert _alerts(api, GLOBEX, kind="threshold") == []


def test_the_agents_board_and_open_complaints(api: str) -> None:
    live = httpx.get(f"{api}/v1/ops/live", headers=ACME).json()
    assert live["as_of"].startswith(f"{DAY}T09:50:00")
    assert live["agents"] == BOARD
    assert live["open_complaints"] == {"low": 0, "medium": 2, "high": 1, "critical": 1}
    assert live["agents_by_status"] == {"active": 0, "idle": 1, "in_call": 1, "offline": 0}
