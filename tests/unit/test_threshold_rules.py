"""Threshold rules (issue #12): the rule model's validation and the rules file
(schemas.alert_rules), and their evaluation on live-ops state (flows.ops.rules):
episodes, ``for_s`` at its exact boundary, clearing, re-firing, scope, every metric."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flows.core.timeutil import from_ms
from flows.ops.live_ops import LiveOps
from flows.ops.rules import RuleEvaluator, RuleOut, threshold_alert_id
from schemas.alert_lifecycle import AlertAction, AlertStateChange
from schemas.alert_rules import (
    MAX_RULES_PER_TENANT,
    Rule,
    RuleChange,
    RulesFileError,
    RuleSpec,
    load_rules_file,
    parse_rules,
)
from schemas.events import Event
from schemas.results import Alert
from tests.unit.helpers import MINUTE_MS, SECOND_MS, T0_MS, make_event

FIRED = datetime(2030, 1, 1, tzinfo=UTC)


def ev(event_type: str, ms: int, eid: str | None = None, **payload: Any) -> Event:
    return make_event(event_type, payload, occurred_at=from_ms(T0_MS + ms), event_id=eid)


def queued(sid: str, ms: int, queue: str = "billing") -> Event:
    return ev("session.queued", ms, session_id=sid, channel="chat", queue=queue)


def started(sid: str, ms: int, queue: str = "billing") -> Event:
    return ev("session.started", ms, session_id=sid, channel="chat", queue=queue, agent_id="a1")


def rule(metric: str = "queue_depth", **kw: Any) -> Rule:
    body: dict[str, Any] = {
        "rule_id": "r1",
        "metric": metric,
        "op": ">",
        "threshold": 1,
        "for_s": 0,
        "severity": "high",
    }
    body.update(kw)
    return Rule.model_validate(body)


class Run:
    """A LiveOps state and an evaluator, fed events in order, evaluated after each."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = list(rules)
        self.ops = LiveOps("t1")
        self.ev = RuleEvaluator("t1")
        self.out: list[RuleOut] = []

    def apply(self, *events: Event) -> list[RuleOut]:
        got: list[RuleOut] = []
        for e in events:
            self.ops.on_event(e)
            assert self.ops.as_of_ms is not None
            got.extend(self.ev.evaluate(self.rules, self.ops, self.ops.as_of_ms, FIRED))
        self.out.extend(got)
        return got

    def at(self, ms: int) -> list[RuleOut]:
        got = self.ev.evaluate(self.rules, self.ops, T0_MS + ms, FIRED)
        self.out.extend(got)
        return got

    def alerts(self) -> list[Alert]:
        return [o for o in self.out if isinstance(o, Alert)]

    def resolves(self) -> list[AlertAction]:
        return [o for o in self.out if isinstance(o, AlertAction)]


# ---- evaluation and episodes -------------------------------------------------------------


def test_fires_once_per_episode_with_details_and_deterministic_id() -> None:
    run = Run(rule(threshold=1, for_s=60))
    run.apply(queued("s1", 0), queued("s2", 10 * SECOND_MS))  # depth 2 > 1 from 10 s
    assert run.alerts() == []
    run.apply(queued("s3", 30 * SECOND_MS))
    assert run.alerts() == []
    got = run.at(70 * SECOND_MS)  # held exactly 60 s: the boundary fires
    assert len(got) == 1
    alert = got[0]
    assert isinstance(alert, Alert)
    assert alert.kind == "threshold"
    assert alert.severity == "high"
    assert alert.subject_type == "rule"
    assert alert.subject_id == "r1"
    assert alert.event_time == from_ms(T0_MS + 70 * SECOND_MS)
    assert alert.alert_id == threshold_alert_id("t1", "r1", T0_MS + 10 * SECOND_MS)
    d = alert.details
    assert d["rule_id"] == "r1"
    assert d["metric_name"] == "queue_depth"
    assert d["scope"] == {}
    assert d["threshold"] == 1
    assert d["actual_value"] == 3
    assert d["since"] == from_ms(T0_MS + 10 * SECOND_MS).isoformat()
    run.apply(queued("s4", 80 * SECOND_MS))
    run.at(200 * SECOND_MS)
    assert len(run.alerts()) == 1  # still the same episode: no second alert


def test_for_s_one_ms_short_does_not_fire() -> None:
    run = Run(rule(threshold=0, for_s=60))
    run.apply(queued("s1", 0))
    assert run.at(60 * SECOND_MS - 1) == []
    assert len(run.at(60 * SECOND_MS)) == 1


def test_for_s_zero_fires_at_the_first_point() -> None:
    run = Run(rule(threshold=0, for_s=0))
    assert len(run.apply(queued("s1", 5))) == 1


def test_clearing_before_for_s_ends_the_episode_without_alert() -> None:
    run = Run(rule(threshold=0, for_s=60))
    run.apply(queued("s1", 0), started("s1", 30 * SECOND_MS))  # cleared at 30 s
    run.apply(queued("s2", 40 * SECOND_MS))  # a new episode from 40 s
    assert run.at(90 * SECOND_MS) == []  # 50 s, not 90 s: the first episode ended
    got = run.at(100 * SECOND_MS)
    assert len(got) == 1
    assert isinstance(got[0], Alert)
    assert got[0].details["since"] == from_ms(T0_MS + 40 * SECOND_MS).isoformat()
    assert run.resolves() == []  # nothing fired before, nothing resolved


def test_clearing_resolves_and_a_new_episode_fires_again() -> None:
    run = Run(rule(threshold=0, for_s=0))
    run.apply(queued("s1", 0))
    got = run.apply(started("s1", MINUTE_MS))
    first = run.alerts()[0]
    assert [type(o) for o in got] == [AlertAction, AlertStateChange]
    action, change = got
    assert isinstance(action, AlertAction)
    assert isinstance(change, AlertStateChange)
    assert (action.action, action.actor, action.alert_id) == ("resolve", "system", first.alert_id)
    assert action.at == from_ms(T0_MS + MINUTE_MS)
    assert (change.state, change.kind, change.severity) == ("resolved", "threshold", "high")
    run.apply(queued("s2", 2 * MINUTE_MS))
    alerts = run.alerts()
    assert len(alerts) == 2
    assert alerts[1].alert_id != first.alert_id
    assert alerts[1].alert_id == threshold_alert_id("t1", "r1", T0_MS + 2 * MINUTE_MS)


def test_replay_gives_identical_output() -> None:
    events = [queued("s1", 0), queued("s2", 1000), started("s1", 90_000), queued("s3", 200_000)]
    runs = [Run(rule(threshold=1, for_s=30)) for _ in range(2)]
    for r in runs:
        r.apply(*events)
        r.at(400_000)
    assert runs[0].out == runs[1].out
    assert runs[0].out


def test_points_only_move_forward() -> None:
    run = Run(rule(threshold=0, for_s=0))
    run.apply(queued("s1", MINUTE_MS))
    assert run.at(0) == []  # an earlier point is skipped


def test_removed_or_changed_rule_ends_its_episode() -> None:
    run = Run(rule(threshold=0, for_s=0))
    run.apply(queued("s1", 0))
    run.rules = []
    got = run.at(1000)
    assert [type(o) for o in got] == [AlertAction, AlertStateChange]
    run.rules = [rule(threshold=0, for_s=0)]
    assert len(run.at(2000)) == 1  # a new episode
    run.rules = [rule(threshold=0, for_s=0, severity="low")]  # same id, changed
    got = run.at(3000)
    assert [type(o) for o in got] == [AlertAction, AlertStateChange, Alert]


def test_evaluator_pickles() -> None:
    run = Run(rule(threshold=0, for_s=100))
    run.apply(queued("s1", 0))
    back = pickle.loads(pickle.dumps(run.ev))
    assert back == run.ev


# ---- scope and metrics -------------------------------------------------------------------


def test_queue_scope() -> None:
    billing = rule(rule_id="billing", threshold=0, scope={"queue": "billing"})
    sales = rule(rule_id="sales", threshold=2, scope={"queue": "sales"})
    total = rule(rule_id="all", threshold=2)
    run = Run(billing, sales, total)
    run.apply(queued("s1", 0, "sales"), queued("s2", 1, "sales"))
    assert run.alerts() == []
    run.apply(queued("s3", 2, "billing"))
    assert sorted(a.subject_id for a in run.alerts()) == ["all", "billing"]
    assert next(a for a in run.alerts() if a.subject_id == "billing").details["scope"] == {
        "queue": "billing"
    }


@pytest.mark.parametrize(
    ("metric", "threshold", "op", "expected"),
    [
        ("queue_oldest_wait_s", 59.0, ">", 60.0),
        ("queue_avg_wait_s", 44.0, ">", 45.0),  # waits 60 s and 30 s
    ],
)
def test_wait_metrics(metric: str, threshold: float, op: str, expected: float) -> None:
    run = Run(rule(metric, threshold=threshold, op=op, scope={"queue": "billing"}))
    run.apply(queued("s1", 0), queued("s2", 30 * SECOND_MS), queued("x", 0, "sales"))
    assert run.at(59 * SECOND_MS) == []  # 59 s oldest; (59 + 29) / 2 = 44 s average
    got = run.at(60 * SECOND_MS)
    assert len(got) == 1
    assert isinstance(got[0], Alert)
    assert got[0].details["actual_value"] == expected


def test_wait_metrics_of_an_empty_queue_are_zero() -> None:
    run = Run(rule("queue_oldest_wait_s", op="<", threshold=1, scope={"queue": "none"}))
    got = run.apply(queued("s1", 0))
    assert isinstance(got[0], Alert)
    assert got[0].details["actual_value"] == 0


def test_agents_available_counts_active_and_idle() -> None:
    run = Run(rule("agents_available", op="<", threshold=2, for_s=0))
    run.apply(ev("agent.status_changed", 0, agent_id="a1", status="active", team="t"))
    run.apply(ev("agent.status_changed", 1, agent_id="a2", status="idle", team="t"))
    # 1 available after the first event: fired; 2 after the second: resolved
    assert len(run.alerts()) == 1
    assert len(run.resolves()) == 1
    run.apply(ev("agent.status_changed", 2, agent_id="a1", status="in_call", team="t"))
    assert len(run.alerts()) == 2
    assert run.alerts()[1].details["actual_value"] == 1


def test_messages_last_hour() -> None:
    run = Run(rule("messages_last_hour", threshold=2))
    for i in range(3):
        run.apply(ev("message.sent", i * 1000, session_id="s", sender="customer", kind="text"))
    assert len(run.alerts()) == 1
    assert run.alerts()[0].details["actual_value"] == 3
    run.at(61 * MINUTE_MS + 1)  # the hour slid past them
    assert len(run.resolves()) == 1


def csat(rating: int, ms: int) -> Event:
    return ev(
        "csat.received",
        ms,
        survey_id=f"sv{ms}",
        ticket_id="tk",
        agent_id="a1",
        client_id="c1",
        rating=rating,
    )


def test_low_csat_share_1h() -> None:
    run = Run(rule("low_csat_share_1h", threshold=0.5, for_s=0))
    run.apply(csat(5, 0), csat(1, 1000))  # 1/2 is not > 0.5
    assert run.alerts() == []
    run.apply(csat(2, 2000))  # 2/3
    assert len(run.alerts()) == 1
    assert run.alerts()[0].details["actual_value"] == pytest.approx(2 / 3)


def test_low_csat_share_without_ratings_never_holds() -> None:
    run = Run(rule("low_csat_share_1h", op="<", threshold=0.5))
    run.apply(queued("s1", 0))
    assert run.out == []


def complaint(cid: str, ms: int, severity: str) -> Event:
    return ev(
        "complaint.created",
        ms,
        complaint_id=cid,
        client_id="c1",
        severity=severity,
        category="billing",
        description="d",
    )


def test_open_complaints_with_and_without_severity_scope() -> None:
    crit = rule("open_complaints", rule_id="crit", threshold=0, scope={"severity": "critical"})
    every = rule("open_complaints", rule_id="all", threshold=1)
    run = Run(crit, every)
    run.apply(complaint("k1", 0, "low"))
    assert run.alerts() == []
    run.apply(complaint("k2", 1, "critical"))
    assert sorted(a.subject_id for a in run.alerts()) == ["all", "crit"]
    run.apply(ev("complaint.resolved", 2, complaint_id="k2", client_id="c1", agent_id="a"))
    assert len(run.resolves()) == 2


# ---- the rule model and the rules file ---------------------------------------------------


def test_derived_rule_id_is_stable_and_per_tenant() -> None:
    spec = RuleSpec(metric="queue_depth", op=">", threshold=3, for_s=300, severity="high")
    a, b = spec.for_tenant("acme"), spec.for_tenant("acme")
    assert a.rule_id == b.rule_id
    assert a.rule_id.startswith("r-")
    assert spec.for_tenant("globex").rule_id != a.rule_id
    other = spec.model_copy(update={"threshold": 4}).for_tenant("acme")
    assert other.rule_id != a.rule_id


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"metric": "nope"}, "unknown metric"),
        ({"metric": "sla_breaches_1h", "scope": {"priority": "asap"}}, "scope priority"),
        ({"op": ">="}, "op"),
        ({"threshold": float("inf")}, "threshold"),
        ({"threshold": 1e13}, "threshold"),
        ({"for_s": -1}, "for_s"),
        ({"for_s": 8 * 86_400}, "for_s"),
        ({"severity": "urgent"}, "severity"),
        ({"scope": {"team": "x"}}, "scope key 'team'"),
        ({"scope": {"queue": "x" * 129}}, "scope queue"),
        ({"metric": "agents_available", "scope": {"queue": "b"}}, "does not apply"),
        ({"metric": "open_complaints", "scope": {"severity": "huge"}}, "scope severity"),
        ({"rule_id": "x" * 65}, "rule_id"),
        ({"rule_id": "bad id!"}, "rule_id"),
        ({"rule_id": ""}, "rule_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_rules_are_refused(change: dict[str, Any], why: str) -> None:
    body = {"metric": "queue_depth", "op": ">", "threshold": 3, "for_s": 300, "severity": "high"}
    with pytest.raises(ValidationError, match=why):
        RuleSpec.model_validate({**body, **change})


def test_rules_file(tmp_path: Path) -> None:
    doc = {
        "acme": [
            {
                "rule_id": "billing-backlog",
                "metric": "queue_depth",
                "scope": {"queue": "billing"},
                "op": ">",
                "threshold": 3,
                "for_s": 300,
                "severity": "high",
            },
            {
                "metric": "agents_available",
                "op": "<",
                "threshold": 2,
                "for_s": 60,
                "severity": "low",
            },
        ]
    }
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc))
    rules = load_rules_file(path)
    assert next(r.rule_id for r in rules["acme"]) == "billing-backlog"
    assert rules["acme"][1].rule_id.startswith("r-")
    assert load_rules_file(None) == {}


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ([], "tenant id -> list of rules"),
        ({"acme": {}}, "tenant id -> list of rules"),
        ({"bad tenant": []}, "not a tenant id"),
        ({"acme": [{"metric": "queue_depth"}]}, "tenant acme, rule #1"),
        (
            {
                "acme": [
                    {"rule_id": "x", **r}
                    for r in [
                        dict(metric="queue_depth", op=">", threshold=1, for_s=0, severity="low")
                    ]
                    * 2
                ]
            },
            "duplicate x",
        ),
        (
            {
                "acme": [
                    {
                        "metric": "queue_depth",
                        "op": ">",
                        "threshold": i,
                        "for_s": 0,
                        "severity": "low",
                    }
                    for i in range(MAX_RULES_PER_TENANT + 1)
                ]
            },
            "at most 100",
        ),
    ],
)
def test_bad_rules_files_are_refused_with_where(doc: Any, why: str) -> None:
    with pytest.raises(RulesFileError, match=why):
        parse_rules(doc)


def test_unreadable_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text("{not json")
    with pytest.raises(RulesFileError, match="rules file"):
        load_rules_file(path)
    with pytest.raises(RulesFileError, match="rules file"):
        load_rules_file(tmp_path / "missing.json")


# ---- the whole dataflow: file rules and the API's rules from the rules topic --------------


def _flow_run(rules_file: dict[str, Any], changes: list[RuleChange]) -> dict[str, list[Any]]:
    from bytewax.testing import run_main

    from flows.config import FlowConfig
    from flows.pipeline import build_flow
    from tests.unit.helpers import MemoryIO, envelope, raw_message, to_bytes

    docs = [
        envelope(
            "session.queued",
            {"session_id": f"s{i}", "channel": "chat", "queue": "billing"},
            occurred_at=from_ms(T0_MS + i * MINUTE_MS),
            tenant=tenant,
        )
        for tenant in ("t1", "t2")
        for i in range(3)
    ]
    docs.sort(key=lambda d: d["occurred_at"])
    io = MemoryIO([raw_message(to_bytes(d), offset=i) for i, d in enumerate(docs)], 100)
    io.rules = [
        raw_message(c.model_dump_json().encode(), topic="rules", offset=i)
        for i, c in enumerate(changes)
    ] + [raw_message(b"not json", topic="rules", offset=len(changes))]
    cfg = FlowConfig(
        input_partitions=1,
        idle_advance=False,
        provisional=False,
        flows=frozenset({"ingest", "live_ops"}),
        max_past_s=None,  # fixed test dates
        alert_rules=parse_rules(rules_file),
    )
    run_main(build_flow(cfg, io))
    return io.out


def _change(tenant: str, rid: str, version: int, **kw: Any) -> RuleChange:
    return RuleChange(
        tenant_id=tenant,
        rule_id=rid,
        rule=None
        if kw.get("deleted")
        else rule(rule_id=rid, **{k: v for k, v in kw.items() if k != "deleted"}),
        version=version,
    )


def test_flow_evaluates_file_and_api_rules_per_tenant() -> None:
    out = _flow_run(
        {
            "t1": [
                {
                    "rule_id": "file",
                    "metric": "queue_depth",
                    "op": ">",
                    "threshold": 2,
                    "for_s": 0,
                    "severity": "low",
                }
            ]
        },
        [
            _change("t1", "api", 1, threshold=1),
            _change("t2", "gone", 1, threshold=0),
            _change("t2", "gone", 2, deleted=True),  # deleted: never evaluated
            _change("t2", "late", 5, threshold=5),
            _change("t2", "late", 3, threshold=0),  # an older version never wins
        ],
    )
    fired = sorted((a.tenant_id, a.subject_id) for a in out["alerts"] if a.kind == "threshold")
    assert fired == [("t1", "api"), ("t1", "file")]
    assert sorted((a.tenant_id, a.subject_id) for a in out["alert_feed_topic"]) == fired


def test_api_rule_changes_keep_the_latest_and_stay_bounded() -> None:
    from flows.config import FlowConfig
    from flows.ops.stateful import LiveOpsLogic

    logic = LiveOpsLogic(FlowConfig(), None)
    for i in range(MAX_RULES_PER_TENANT + 5):  # beyond the API's bound: ignored
        logic.on_rule_change(_change("t1", f"r{i}", 1, threshold=i))
    assert len(logic.state.api_rules) == MAX_RULES_PER_TENANT
    logic.on_rule_change(_change("t1", "r0", 3, threshold=7))
    logic.on_rule_change(_change("t1", "r0", 2, threshold=9))  # older: ignored
    assert logic.state.api_rules["r0"][1].threshold == 7
    for i in range(MAX_RULES_PER_TENANT):  # deletions forget: created and deleted ids
        logic.on_rule_change(_change("t1", f"r{i}", 4, deleted=True))  # leave nothing
    assert logic.state.api_rules == {}
    logic.on_rule_change(_change("t1", "new", 5, threshold=1))
    assert [r.rule_id for r in logic.rules_of("t1")] == ["new"]
