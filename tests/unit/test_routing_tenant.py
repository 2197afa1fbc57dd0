"""One tenant's routing state (flows/routing/tenant.py): eligibility in event time,
workload, decisions and their outcomes, the no-eligible-agent episode and its one alert,
and no client data in the state; then the whole dataflow in process, deterministic
whatever the batching."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bytewax.testing import run_main

from flows.config import FlowConfig
from flows.core.timeutil import to_ms
from flows.pipeline import build_flow
from flows.routing.tenant import RoutingOut, RoutingTenant
from schemas.alert_lifecycle import AlertAction, AlertStateChange
from schemas.results import Alert
from schemas.routing import RoutingDecision, RoutingModel, RoutingRecommendation
from schemas.transport import RawMessage
from tests.unit.helpers import at, envelope, make_event, to_bytes

FIRED = datetime(2026, 3, 2, tzinfo=UTC)
MODEL = RoutingModel(unroutable_alert_after_s=300)


def ev(event_type: str, seconds: float, **payload: Any) -> tuple[str, dict[str, Any], float]:
    return event_type, payload, seconds


def status(agent: str, state: str, s: float, team: str = "billing") -> tuple[str, Any, float]:
    return ev("agent.status_changed", s, agent_id=agent, status=state, team=team)


def created(ticket: str, s: float, category: str = "billing", queue: str = "billing") -> Any:
    return ev(
        "ticket.created",
        s,
        ticket_id=ticket,
        client_id="client-secret-42",
        channel="email",
        queue=queue,
        priority="normal",
        category=category,
        subject="Invoice question",
        description="Please check",
        region="north",
    )


def assigned(ticket: str, agent: str, s: float, by: str = "auto") -> Any:
    return ev("ticket.assigned", s, ticket_id=ticket, agent_id=agent, assigned_by=by)


def resolved(ticket: str, agent: str, s: float, category: str = "billing") -> Any:
    return ev(
        "ticket.resolved",
        s,
        ticket_id=ticket,
        agent_id=agent,
        category=category,
        resolution_code="fixed",
        resolution_text="Done",
    )


def feed(*events: Any, tenant: RoutingTenant | None = None) -> tuple[RoutingTenant, list[Any]]:
    t = tenant or RoutingTenant("t1", MODEL)
    out: list[RoutingOut] = []
    for event_type, payload, s in events:
        e = make_event(event_type, payload, occurred_at=at(s))
        ms = to_ms(e.occurred_at)
        out.extend(t.on_watermark(ms, FIRED))  # decisions fall due before the event
        out.extend(t.on_event(e, ms, FIRED))
    return t, out


def recs(out: list[Any]) -> list[RoutingRecommendation]:
    return [o for o in out if isinstance(o, RoutingRecommendation)]


def decisions(out: list[Any]) -> list[RoutingDecision]:
    return [o for o in out if isinstance(o, RoutingDecision)]


def test_ranking_overloaded_below_free_expert_above_novice_offline_absent() -> None:
    _, out = feed(
        status("busy", "active", 0),
        status("free", "idle", 1),
        status("expert", "active", 2),
        status("gone", "offline", 3),
        *[assigned(f"w{i}", "busy", 10 + i) for i in range(3)],
        *[resolved(f"old{i}", "expert", 20 + i) for i in range(5)],
        created("T1", 100),
    )
    (rec,) = recs(out)
    assert rec.candidate_agent_ids == ["expert", "free", "busy"]
    assert rec.eligible_agents == 3
    assert rec.reason == ""
    doc = rec.candidates[2]
    assert dict((f.name, f.contribution) for f in doc.factors)["workload"] == -3.0


def test_eligibility_is_the_status_at_the_creations_event_time() -> None:
    t, out = feed(status("a", "active", 0), created("T1", 10), status("a", "offline", 20))
    assert recs(out)[0].candidate_agent_ids == ["a"]
    _, out = feed(created("T2", 30), tenant=t)
    assert recs(out)[0].candidate_agent_ids == []
    assert recs(out)[0].reason == "no_eligible_agent"


def test_a_tenant_that_never_reports_agent_statuses_is_not_alerted() -> None:
    """No status ever: nothing to rank, said so, and no "no eligible agent" episode (a
    tenant that does not track statuses is not an outage)."""
    t, out = feed(created("T1", 10), created("T2", 100))
    assert [r.reason for r in recs(out)] == ["no_agent_status"] * 2
    assert t.on_watermark(to_ms(at(4000)), FIRED) == []
    assert not [o for o in out if isinstance(o, Alert)]


def test_a_resent_creation_is_not_routed_twice() -> None:
    _, out = feed(status("a", "active", 0), created("T1", 10), created("T1", 11))
    assert len(recs(out)) == 1


def test_decisions_top_top_n_outside_and_their_outcomes() -> None:
    t, out = feed(
        status("a", "active", 0),
        status("b", "active", 1),
        status("c", "active", 2),
        status("d", "active", 3),
        *[resolved(f"x{i}", "a", 5 + i) for i in range(3)],  # a tops, b, c next
        created("T1", 100),
        created("T2", 101),
        created("T3", 102),
    )
    top3 = recs(out)[0].candidate_agent_ids
    assert top3[0] == "a"
    _, out = feed(
        assigned("T1", "a", 200),
        assigned("T2", top3[1], 201, by="manual"),
        assigned("T3", "zed", 202, by="manual"),
        assigned("T1", "b", 250),  # a reassignment: the decision stays the first one
        ev("ticket.first_response", 260, ticket_id="T1", agent_id="b"),
        resolved("T1", "b", 400),
        ev(
            "csat.received",
            500,
            survey_id="s1",
            ticket_id="T1",
            agent_id="b",
            client_id="client-secret-42",
            rating=2,
        ),
        ev("ticket.reopened", 600, ticket_id="T1"),
        tenant=t,
    )
    ds = decisions(out)
    first = {d.ticket_id: d for d in ds if d.version == 1}
    assert [
        (first[k].adoption, first[k].rank, first[k].assigned_by) for k in ("T1", "T2", "T3")
    ] == [
        ("top", 1, "auto"),
        ("top_n", 2, "manual"),
        ("outside", 0, "manual"),
    ]
    last = ds[-1]
    assert (last.ticket_id, last.version, last.agent_id) == ("T1", 5, "a")
    assert last.first_response_s == 160.0  # response - creation
    assert last.handle_time_s == 150.0  # resolution - the last assignment before it
    assert (last.csat, last.reopened) == (2, True)
    assert len({d.decision_id for d in ds if d.ticket_id == "T1"}) == 1


def test_workload_follows_assignments_resolutions_and_reopenings() -> None:
    t, _ = feed(
        status("a", "active", 0),
        assigned("T1", "a", 1),
        assigned("T2", "a", 2),
        resolved("T1", "a", 3),
        ev("ticket.reopened", 4, ticket_id="T1"),
        assigned("T2", "b", 5),
    )
    assert t.agents["a"].open == {"T1"}
    assert t.agents["b"].open == {"T2"}


def test_no_eligible_agent_one_alert_per_episode_resolved_when_one_logs_in() -> None:
    t, out = feed(status("a", "offline", 0), created("T1", 10), created("T2", 100))
    assert [r.reason for r in recs(out)] == ["no_eligible_agent"] * 2
    assert not [o for o in out if isinstance(o, Alert)]
    out = t.on_watermark(to_ms(at(309)), FIRED)
    assert out == []  # 299 s: not yet
    out = t.on_watermark(to_ms(at(400)), FIRED)
    (alert,) = out
    assert isinstance(alert, Alert)
    assert (alert.kind, alert.severity, alert.event_time) == (
        "routing_unavailable",
        "high",
        at(310),
    )
    assert alert.details == {
        "reason": "no_eligible_agent",
        "since": at(10).isoformat(),
        "for_s": 300.0,
        "unroutable_subjects": 2,
    }
    assert t.on_watermark(to_ms(at(900)), FIRED) == []  # one alert per episode
    _, out = feed(status("a", "active", 1000), tenant=t)
    action, change = out
    assert isinstance(action, AlertAction)
    assert isinstance(change, AlertStateChange)
    assert (action.alert_id, action.action, action.actor) == (alert.alert_id, "resolve", "system")
    # a new episode, a new alert
    _, out = feed(status("a", "offline", 1100), created("T3", 1200), tenant=t)
    out = t.on_watermark(to_ms(at(1500)), FIRED)
    assert [a.alert_id for a in out if isinstance(a, Alert)] != [alert.alert_id]
    assert len(out) == 1


def test_an_episode_that_ends_before_its_time_raises_nothing() -> None:
    t, out = feed(created("T1", 10), status("a", "idle", 200), created("T2", 400))
    assert t.on_watermark(to_ms(at(2000)), FIRED) == []
    assert recs(out)[1].candidate_agent_ids == ["a"]


def test_the_state_holds_no_client_id() -> None:
    """The attack: a client's id in routing state would outlive its erasure. Routing
    keeps ticket, agent and category ids only."""
    t, _ = feed(
        status("a", "active", 0),
        created("T1", 10),
        assigned("T1", "a", 20),
        ev(
            "csat.received",
            30,
            survey_id="s1",
            ticket_id="T1",
            agent_id="a",
            client_id="client-secret-42",
            rating=5,
        ),
        ev(
            "complaint.created",
            40,
            complaint_id="K1",
            client_id="client-secret-42",
            severity="high",
            category="billing",
            description="Awful",
            ticket_id="T1",
        ),
    )
    assert b"client-secret-42" not in pickle.dumps(t)


def test_old_tickets_are_forgotten() -> None:
    t, _ = feed(status("a", "active", 0), created("T1", 1), assigned("T1", "a", 2))
    t.on_watermark(to_ms(at(31 * 86_400)), FIRED)
    assert t.tickets == {}
    assert t.agents["a"].open == set()


# ---- the whole dataflow in process -------------------------------------------------------


def _messages() -> list[RawMessage]:
    docs = []
    for tenant in ("acme", "globex"):
        for i, (event_type, payload, s) in enumerate(
            [
                status("a1", "active", 0),
                status("a2", "idle", 1),
                assigned("W1", "a1", 5),
                created("T1", 10),
                status("a2", "offline", 11),
                created("T2", 20),
                assigned("T1", "a1", 30),
                assigned("T2", "a1", 31),
                resolved("T1", "a1", 400),
                created("T3", 500),
            ]
        ):
            doc = envelope(event_type, payload, occurred_at=at(s), tenant=tenant)
            docs.append(RawMessage("ev", i % 2, len(docs), f"{tenant}/{i}".encode(), to_bytes(doc)))
    by_part = [[m for m in docs if m.partition == p] for p in (0, 1)]
    return [
        RawMessage("ev", p, off, m.key, m.value)
        for p, part in enumerate(by_part)
        for off, m in enumerate(part)
    ]


def _run(batch: int) -> dict[str, list[Any]]:
    from tests.unit.helpers import MemoryIO

    cfg = FlowConfig(
        input_partitions=2,
        idle_advance=False,
        provisional=False,
        shards=2,
        flows=frozenset({"ingest", "routing"}),
        max_past_s=None,
    )
    io = MemoryIO(_messages(), batch)
    run_main(build_flow(cfg, io), epoch_interval=timedelta(seconds=10))
    return io.out


@pytest.fixture(scope="module")
def runs() -> list[dict[str, list[Any]]]:
    return [_run(1), _run(7), _run(500)]


def test_the_flow_recommends_and_logs_per_tenant(runs: list[dict[str, list[Any]]]) -> None:
    out = runs[-1]
    got = {
        (r.tenant_id, r.subject_id): r.candidate_agent_ids for r in out["routing_recommendations"]
    }
    assert got == {
        (t, k): v
        for t in ("acme", "globex")
        for k, v in {"T1": ["a2", "a1"], "T2": ["a1"], "T3": ["a1"]}.items()
    }
    assert out["routing_topic"] == out["routing_recommendations"]
    latest: dict[tuple[str, str], RoutingDecision] = {}
    for d in out["routing_decisions"]:
        latest[d.tenant_id, d.ticket_id] = d
    assert {k: (d.adoption, d.handle_time_s) for k, d in latest.items()} == {
        (t, k): v
        for t in ("acme", "globex")
        for k, v in {"T1": ("top_n", 370.0), "T2": ("top", None)}.items()
    }


def test_the_flow_gives_the_same_rows_whatever_the_batching(
    runs: list[dict[str, list[Any]]],
) -> None:
    keys = ("routing_recommendations", "routing_decisions")

    def rows(out: dict[str, list[Any]]) -> dict[str, list[str]]:
        return {k: sorted(r.model_dump_json() for r in out.get(k, [])) for k in keys}

    first = rows(runs[0])
    assert first["routing_recommendations"]
    assert all(rows(r) == first for r in runs[1:])
