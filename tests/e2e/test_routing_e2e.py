"""emit -> run --until-end -> api for routing recommendations (issue #15).

One hand-built scenario (JSON lines), run once for the module through the real
``cxpulse`` commands (``run ingest routing``: the flows routing needs), with a model file
of top 5 (``CXPULSE_ROUTING_MODEL_FILE``) so every eligible agent is listed:

* acme on ``DAY``: at 08:00 five agents log in: ``agent-busy`` (active), ``agent-free``
  (idle), ``agent-expert`` and ``agent-novice`` (active), ``agent-off`` (offline). From
  09:00 the expert resolves 5 billing tickets and the novice 1; 09:05-09:07 the busy agent
  is assigned 3 tickets. Tickets T1..T4 (billing) arrive 10:00-10:03 and complaint K1
  (critical, billing) at 10:02:30: each is ranked expert > novice > free > busy, the
  offline agent absent.
* T1 and T4 go to the expert (top pick, auto), T2 to the novice (top N, manual), T3 to
  ``agent-temp`` (not recommended, manual); then first responses, resolutions, CSAT and a
  reopening of T3: the adoption figures are exact.
* globex's only agent is offline: its ticket G1 (10:00) is unroutable, and with G2 ten minutes
  later the tenant's watermark passes 10:05: one ``routing_unavailable`` alert, as of
  10:05 (one subject unroutable by then).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.e2e.cli import cli_env, cxpulse, serve_api
from tests.scenario import encode
from tests.unit.helpers import envelope

pytestmark = pytest.mark.e2e
ACME = {"Authorization": "Bearer key-acme-0123456789abcdef"}
GLOBEX = {"Authorization": "Bearer key-globex-0123456789abcdef"}
DAY = "2025-03-11"
ENV_EXTRA = {"CXPULSE_SHARDS": "1", "CXPULSE_TOPIC_PARTITIONS": "1"}


def _at(hhmmss: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{hhmmss}+00:00")


def _ev(event_type: str, hhmmss: str, tenant: str = "acme", **payload: Any) -> dict[str, Any]:
    return envelope(event_type, payload, occurred_at=_at(hhmmss), tenant=tenant)


def _created(ticket: str, hhmmss: str, tenant: str = "acme") -> dict[str, Any]:
    return _ev(
        "ticket.created",
        hhmmss,
        tenant,
        ticket_id=ticket,
        client_id="C1",
        channel="email",
        queue="billing",
        priority="normal",
        category="billing",
        subject="Invoice question",
        description="Please check my invoice",
        region="north",
    )


def _assigned(ticket: str, agent: str, hhmmss: str, by: str) -> dict[str, Any]:
    return _ev("ticket.assigned", hhmmss, ticket_id=ticket, agent_id=agent, assigned_by=by)


def _resolved(ticket: str, agent: str, hhmmss: str) -> dict[str, Any]:
    return _ev(
        "ticket.resolved",
        hhmmss,
        ticket_id=ticket,
        agent_id=agent,
        category="billing",
        resolution_code="refund",
        resolution_text="Refunded",
    )


def _csat(ticket: str, agent: str, rating: int, hhmmss: str) -> dict[str, Any]:
    return _ev(
        "csat.received",
        hhmmss,
        survey_id=f"S-{ticket}",
        ticket_id=ticket,
        agent_id=agent,
        client_id="C1",
        rating=rating,
    )


def scenario() -> list[dict[str, Any]]:
    statuses = [
        ("agent-busy", "active"),
        ("agent-free", "idle"),
        ("agent-expert", "active"),
        ("agent-novice", "active"),
        ("agent-off", "offline"),
    ]
    out = [
        _ev("agent.status_changed", f"08:00:0{i}", agent_id=a, status=s, team="billing")
        for i, (a, s) in enumerate(statuses)
    ]
    out += [_resolved(f"R{i}", "agent-expert", f"09:00:0{i}") for i in range(5)]
    out.append(_resolved("R5", "agent-novice", "09:01:00"))
    out += [_assigned(f"W{i}", "agent-busy", f"09:0{5 + i}:00", "auto") for i in range(3)]
    out += [_created(f"T{i + 1}", f"10:0{i}:00") for i in range(4)]
    out.append(
        _ev(
            "complaint.created",
            "10:02:30",
            complaint_id="K1",
            client_id="C1",
            severity="critical",
            category="billing",
            description="Charged twice",
        )
    )
    out += [
        _assigned("T1", "agent-expert", "10:04:00", "auto"),
        _assigned("T2", "agent-novice", "10:05:00", "manual"),
        _assigned("T3", "agent-temp", "10:06:00", "manual"),
        _assigned("T4", "agent-expert", "10:07:00", "auto"),
        _ev("ticket.first_response", "10:09:00", ticket_id="T1", agent_id="agent-expert"),
        _ev("ticket.first_response", "10:13:00", ticket_id="T4", agent_id="agent-expert"),
        _ev("ticket.first_response", "10:21:00", ticket_id="T2", agent_id="agent-novice"),
        _resolved("T4", "agent-expert", "10:27:00"),
        _csat("T4", "agent-expert", 4, "10:30:00"),
        _ev("ticket.first_response", "10:32:00", ticket_id="T3", agent_id="agent-temp"),
        _resolved("T1", "agent-expert", "10:34:00"),
        _csat("T1", "agent-expert", 5, "10:40:00"),
        _resolved("T3", "agent-temp", "11:06:00"),
        _csat("T3", "agent-temp", 2, "11:10:00"),
        _ev("ticket.reopened", "11:20:00", ticket_id="T3"),
    ]
    out += [
        # globex's only agent is offline (a tenant reporting no status at all gets
        # "no_agent_status" and no alert: tests/unit/test_routing_tenant.py)
        _ev(
            "agent.status_changed",
            "08:00:00",
            "globex",
            agent_id="g-agent",
            status="offline",
            team="billing",
        ),
        _created("G1", "10:00:00", "globex"),
        _created("G2", "10:10:00", "globex"),
    ]
    return out


RANKING = ["agent-expert", "agent-novice", "agent-free", "agent-busy"]


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("routing")
    model = tmp / "routing_model.json"
    model.write_text(json.dumps({"top_n": 5}))
    env = cli_env(kafka_bootstrap, tmp / "data", CXPULSE_ROUTING_MODEL_FILE=str(model), **ENV_EXTRA)
    cxpulse(env, "topics")
    (tmp / "events.jsonl").write_bytes(b"\n".join(encode(e) for e in scenario()))
    cxpulse(env, "emit", str(tmp / "events.jsonl"))
    cxpulse(env, "run", "ingest", "routing", "--until-end")
    with serve_api(env) as base:
        yield base


def _get(api: str, path: str, headers: dict[str, str], **params: str) -> httpx.Response:
    return httpx.get(f"{api}{path}", headers=headers, params=params, timeout=30)


def test_exact_ranking_overloaded_below_free_expert_above_novice_offline_absent(
    api: str,
) -> None:
    for ticket in ("T1", "T2", "T3", "T4"):
        r = _get(api, f"/v1/tickets/{ticket}/recommendation", ACME)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert [c["agent_id"] for c in doc["candidates"]] == RANKING, doc
        assert (doc["subject_type"], doc["ticket_id"], doc["eligible_agents"]) == (
            "ticket",
            ticket,
            4,
        )
        assert doc["reason"] is None
    doc = _get(api, "/v1/tickets/T1/recommendation", ACME).json()
    assert doc["made_at"] == f"{DAY}T10:00:00+00:00"
    by_agent = {c["agent_id"]: c for c in doc["candidates"]}
    busy = {f["name"]: f["contribution"] for f in by_agent["agent-busy"]["factors"]}
    assert busy["workload"] == -3.0  # three open tickets
    for c in doc["candidates"]:  # each score explains itself
        assert c["score"] == pytest.approx(sum(f["contribution"] for f in c["factors"]), abs=1e-5)
    assert [f["name"] for f in by_agent["agent-expert"]["factors"]] == [
        "workload",
        "csat",
        "experience",
        "fairness",
    ]


def test_a_critical_complaint_is_routed_too(api: str) -> None:
    doc = _get(api, "/v1/complaints/K1/recommendation", ACME).json()
    assert doc["candidates"][0]["agent_id"] == "agent-expert"
    assert (doc["subject_type"], doc["severity"]) == ("complaint", "critical")


def test_exact_adoption_figures(api: str) -> None:
    r = _get(
        api,
        "/v1/routing/adoption",
        ACME,
        start=f"{DAY}T00:00:00Z",
        end=f"{DAY}T23:59:59Z",
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert {k: got[k] for k in ("decisions", "top", "top_n", "outside", "auto")} == {
        "decisions": 4,
        "top": 2,
        "top_n": 1,
        "outside": 1,
        "auto": 2,
    }
    assert (got["adoption_rate"], got["top_pick_rate"]) == (0.75, 0.5)
    assert got["followed"] == {
        "assignments": 3,
        "first_response_s_avg": 780.0,  # (540 + 1200 + 600) / 3
        "handle_time_s_avg": 1500.0,  # (1800 + 1200) / 2; T2 is not resolved
        "csat_avg": 4.5,
        "csat_count": 2,
        "resolved": 2,
        "reopen_rate": 0.0,
    }
    assert got["not_followed"] == {
        "assignments": 1,
        "first_response_s_avg": 1800.0,
        "handle_time_s_avg": 3600.0,
        "csat_avg": 2.0,
        "csat_count": 1,
        "resolved": 1,
        "reopen_rate": 1.0,
    }


def test_no_eligible_agent_says_so_and_alerts_once(api: str) -> None:
    doc = _get(api, "/v1/tickets/G1/recommendation", GLOBEX).json()
    assert (doc["candidates"], doc["reason"], doc["eligible_agents"]) == (
        [],
        "no_eligible_agent",
        0,
    )
    alerts = _get(api, "/v1/alerts", GLOBEX, kind="routing_unavailable").json()["items"]
    assert len(alerts) == 1
    assert alerts[0]["event_time"] == f"{DAY}T10:05:00+00:00"
    # decided at 10:05, before G2 (10:10) was applied: one subject unroutable by then
    assert alerts[0]["details"]["unroutable_subjects"] == 1
    assert _get(api, "/v1/alerts", ACME, kind="routing_unavailable").json()["items"] == []


def test_recommendations_are_tenant_scoped(api: str) -> None:
    assert _get(api, "/v1/tickets/G1/recommendation", ACME).status_code == 404
    assert _get(api, "/v1/tickets/T1/recommendation", GLOBEX).status_code == 404
    empty = _get(api, "/v1/routing/adoption", GLOBEX, start=f"{DAY}T00:00:00Z").json()
    assert empty["decisions"] == 0
