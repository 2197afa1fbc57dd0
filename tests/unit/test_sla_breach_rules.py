"""``sla_breaches_1h`` (issue #12): the client-risk flow's SLA breaches, handed to the
live-ops flow by the pipeline as facts, counted over the hour of event time ending at
each evaluation point; a rule on it fires and clears."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from flows.core.timeutil import from_ms
from flows.ops.live_ops import HOUR_MS, LiveOps
from flows.ops.rules import RecentBreaches, RuleEvaluator
from schemas.alert_lifecycle import AlertAction
from schemas.alert_rules import Rule, RuleSpec, SlaBreachFact
from schemas.results import Alert
from tests.unit.helpers import MINUTE_MS, T0_MS

FIRED = datetime(2030, 1, 1, tzinfo=UTC)


def breach(ticket: str, ms: int, priority: str = "urgent", queue: str = "billing") -> SlaBreachFact:
    return SlaBreachFact("t1", ticket, priority, queue, T0_MS + ms)


def rule(**kw: Any) -> Rule:
    body: dict[str, Any] = {
        "rule_id": "sla",
        "metric": "sla_breaches_1h",
        "op": ">",
        "threshold": 1,
        "for_s": 0,
        "severity": "high",
        **kw,
    }
    return Rule.model_validate(body)


# ---- the metric over a sliding hour ---------------------------------------------------------


def test_count_over_a_sliding_hour_with_scopes() -> None:
    b = RecentBreaches()
    b.add(breach("k1", 0))
    b.add(breach("k2", 10 * MINUTE_MS, priority="high"))
    b.add(breach("k3", 20 * MINUTE_MS, queue="tech"))
    b.add(breach("k1", 0))  # a ticket breaches once
    assert b.count(T0_MS - 1, None, None) == 0
    assert b.count(T0_MS, None, None) == 1  # the breach time itself counts
    assert b.count(T0_MS + 30 * MINUTE_MS, None, None) == 3
    assert b.count(T0_MS + 30 * MINUTE_MS, "urgent", None) == 2
    assert b.count(T0_MS + 30 * MINUTE_MS, None, "tech") == 1
    assert b.count(T0_MS + 30 * MINUTE_MS, "urgent", "billing") == 1
    assert b.count(T0_MS + HOUR_MS - 1, None, None) == 3
    assert b.count(T0_MS + HOUR_MS, None, None) == 2  # exactly an hour old: out
    assert b.count(T0_MS + HOUR_MS + 20 * MINUTE_MS, None, None) == 0


def test_forgetting_keeps_what_later_points_count() -> None:
    b = RecentBreaches()
    for i in range(120):
        b.add(breach(f"k{i}", i * MINUTE_MS))
    at = T0_MS + 119 * MINUTE_MS
    before = b.count(at, None, None)
    b.forget_before(at)
    assert len(b.entries) == 60 == before == b.count(at, None, None)
    assert pickle.loads(pickle.dumps(b)) == b


def test_validation_accepts_the_metric_with_priority_and_queue_scopes() -> None:
    r = rule(scope={"priority": "urgent", "queue": "billing"})
    assert r.scope == {"priority": "urgent", "queue": "billing"}
    with pytest.raises(ValidationError, match="scope priority"):
        rule(scope={"priority": "asap"})
    with pytest.raises(ValidationError, match="does not apply"):
        rule(scope={"severity": "high"})
    spec = RuleSpec.model_validate({**rule().model_dump(), "rule_id": None})
    assert spec.for_tenant("t1").metric == "sla_breaches_1h"


# ---- a rule on it fires and clears ----------------------------------------------------------


def test_rule_fires_and_clears_as_breaches_enter_and_leave_the_hour() -> None:
    ops, ev, b = LiveOps("t1"), RuleEvaluator("t1"), RecentBreaches()
    r = rule(threshold=1, for_s=60)  # more than one breach in the hour, for a minute

    def at(ms: int) -> list[Any]:
        return ev.evaluate([r], ops, T0_MS + ms, FIRED, b)

    b.add(breach("k1", 0))
    assert at(MINUTE_MS) == []  # 1 breach: does not hold
    b.add(breach("k2", 5 * MINUTE_MS))
    assert at(5 * MINUTE_MS) == []  # holds from here, not yet for 60 s
    got = at(6 * MINUTE_MS)
    assert len(got) == 1
    assert isinstance(got[0], Alert)
    alert = got[0]
    assert alert.details["metric_name"] == "sla_breaches_1h"
    assert alert.details["actual_value"] == 2
    assert alert.details["since"] == from_ms(T0_MS + 5 * MINUTE_MS).isoformat()
    assert at(HOUR_MS - 1) == []  # still both in the hour, same episode
    got = at(HOUR_MS)  # k1 is an hour old: 1 breach, the episode ends
    assert isinstance(got[0], AlertAction)
    assert (got[0].action, got[0].actor, got[0].alert_id) == ("resolve", "system", alert.alert_id)
    assert got[0].at == from_ms(T0_MS + HOUR_MS)


def test_without_breaches_the_metric_is_zero() -> None:
    ev = RuleEvaluator("t1")
    got = ev.evaluate([rule(op="<", threshold=1)], LiveOps("t1"), T0_MS, FIRED)
    assert len(got) == 1
    assert isinstance(got[0], Alert)
    assert got[0].details["actual_value"] == 0


# ---- the live-ops step ------------------------------------------------------------------------


def test_step_holds_breaches_in_event_time_and_stays_bounded() -> None:
    from flows.config import FlowConfig
    from flows.ops.stateful import LiveOpsLogic

    plain = LiveOpsLogic(FlowConfig(), None)
    assert plain.tick_sources() == 1
    logic = LiveOpsLogic(FlowConfig(), None, breach_sources=4)
    assert logic.tick_sources() == 5  # the clock and every ticket-risk shard
    fact = breach("k1", 0)
    assert logic.tenant_of(fact) == "t1"
    assert logic.order_of(fact) == (T0_MS, "sla_breach/k1")
    for i in range(200):  # breaches over 200 minutes of event time, no event
        assert list(logic.on_item(breach(f"k{i}", i * MINUTE_MS))) == []
    # at most an hour (and a snapshot interval) of them
    interval = int(FlowConfig().ops_snapshot_interval_s * 1000)
    assert len(logic.state.breaches.entries) <= 61 + interval // MINUTE_MS
    assert pickle.loads(pickle.dumps(logic.state)).breaches == logic.state.breaches


# ---- the whole dataflow: client risk's breaches reach a live-ops rule ---------------------


def _flow_run(flows: frozenset[str]) -> dict[str, list[Any]]:
    from bytewax.testing import run_main

    from flows.config import FlowConfig
    from flows.pipeline import build_flow
    from schemas.alert_rules import parse_rules
    from tests.unit.helpers import MINIMAL_PAYLOADS, MemoryIO, envelope, raw_message, to_bytes

    created = dict(MINIMAL_PAYLOADS["ticket.created"], priority="urgent")  # SLA 1 h
    docs = [
        envelope("ticket.created", dict(created, ticket_id=f"k{i}"), occurred_at=from_ms(T0_MS))
        for i in range(2)
    ]
    docs += [  # activity every 10 min for 3 h: evaluation points
        envelope(
            "session.queued",
            {"session_id": f"s{i}", "channel": "chat", "queue": "billing"},
            occurred_at=from_ms(T0_MS + i * 10 * MINUTE_MS),
        )
        for i in range(1, 19)
    ]
    io = MemoryIO([raw_message(to_bytes(d), offset=i) for i, d in enumerate(docs)], 3)
    rules = {
        "t1": [
            {
                "rule_id": "sla",
                "metric": "sla_breaches_1h",
                "scope": {"priority": "urgent"},
                "op": ">",
                "threshold": 1,
                "for_s": 0,
                "severity": "high",
            }
        ]
    }
    cfg = FlowConfig(
        input_partitions=1,
        idle_advance=False,
        provisional=False,
        flows=flows,
        max_past_s=None,  # fixed test dates
        alert_rules=parse_rules(rules),
    )
    run_main(build_flow(cfg, io))
    return io.out


def test_pipeline_routes_client_risk_breaches_into_a_live_ops_rule() -> None:
    out = _flow_run(frozenset({"ingest", "client_risk", "live_ops"}))
    breaches = [a for a in out["alerts"] if a.kind == "sla_breach"]
    assert len(breaches) == 2  # both breach at T0 + 1 h
    fired = [a for a in out["alerts"] if a.kind == "threshold"]
    assert len(fired) == 1
    assert fired[0].details["actual_value"] == 2
    # the first point after the breaches: the event at T0 + 70 min
    assert fired[0].event_time == from_ms(T0_MS + 70 * MINUTE_MS)
    resolved = [a for a in out["alert_actions"] if a.alert_id == fired[0].alert_id]
    # cleared at the first point an hour or more after the breach time (T0 + 2 h)
    assert [(a.action, a.at) for a in resolved] == [("resolve", from_ms(T0_MS + 120 * MINUTE_MS))]


def test_without_client_risk_the_rule_sees_no_breaches() -> None:
    out = _flow_run(frozenset({"ingest", "live_ops"}))
    assert [a for a in out.get("alerts", []) if a.kind == "threshold"] == []


def test_client_risk_without_live_ops_still_runs() -> None:
    out = _flow_run(frozenset({"ingest", "client_risk"}))
    assert len([a for a in out["alerts"] if a.kind == "sla_breach"]) == 2
