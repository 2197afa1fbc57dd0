"""The simulator's alerting stories (``infra.simulator.stories`` 4-8): each one moves the
figure its alerts watch, by the product's own semantics where the product has them
(live-ops state, demand anomalies), seeded like the rest of the stream."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import takewhile
from typing import Any

import pytest

from flows.demand.tenant import DemandConfig, DemandTenant
from flows.ops.live_ops import LIVE_OPS_EVENT_TYPES, LiveOps
from infra.simulator import SimConfig, Simulator
from schemas.events import parse_event
from schemas.ops import OpsSnapshot
from schemas.results import Alert

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 24 * HOUR_MS
TENANTS = ("acme", "globex", "initech")
START = SimConfig().start  # Monday 2025-01-06 00:00 UTC
T0 = int(START.timestamp() * 1000)

QUIET = (
    "queue_surge",
    "client_at_risk",
    "urgent_breach",
    "complaint_wave",
    "csat_burst",
    "message_flood",
    "staff_gap",
)

Event = dict[str, Any]


def _ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def _until(cfg: SimConfig, days: float) -> list[Event]:
    end = (cfg.start + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return list(takewhile(lambda e: e["occurred_at"] < end, Simulator(cfg).events()))


@pytest.fixture(scope="module")
def three_days() -> list[Event]:
    return _until(SimConfig(), 3)


def _slot(day: int, hour: int, tenant: str, step_min: int = 10) -> int:
    """Start of a daily story of ``tenant`` on ``day``: ``hour`` + (i % 4) * step."""
    return T0 + day * DAY_MS + hour * HOUR_MS + TENANTS.index(tenant) * step_min * MIN_MS


WAVE = {(d, t): _slot(d, 13, t) for d in range(3) for t in TENANTS}
FLOOD = {(d, t): _slot(d, 16, t) for d in range(3) for t in TENANTS}
GAP = {(d, t): _slot(d, 15, t, step_min=5) for d in range(3) for t in TENANTS}
PROBES = sorted(
    {a + m * MIN_MS for a in WAVE.values() for m in (-1, 45)}
    | {a + m * MIN_MS for a in FLOOD.values() for m in (0, 45)}
    | {a + m * MIN_MS for a in GAP.values() for m in (-5, 15, 45)}
)


@pytest.fixture(scope="module")
def live(three_days: list[Event]) -> dict[tuple[str, int], OpsSnapshot]:
    """Every tenant's live-ops snapshot at each probe time (events up to it applied)."""
    states = {t: LiveOps(t) for t in TENANTS}
    out: dict[tuple[str, int], OpsSnapshot] = {}
    todo = list(PROBES)

    def take(at: int) -> None:
        for tenant, ops in states.items():
            out[tenant, at] = ops.snapshot(at, board=False)

    for e in three_days:
        while todo and _ms(e["occurred_at"]) > todo[0]:
            take(todo.pop(0))
        if e["event_type"] in LIVE_OPS_EVENT_TYPES:
            states[e["tenant_id"]].on_event(parse_event(json.dumps(e)))
    for at in todo:
        take(at)
    return out


def test_a_complaint_wave_raises_escalations_and_open_complaints(
    three_days: list[Event], live: dict[tuple[str, int], OpsSnapshot]
) -> None:
    for day in range(3):
        for tenant in TENANTS:
            start = _slot(day, 13, tenant)
            mine = [e for e in three_days if e["tenant_id"] == tenant]
            created = Counter(
                e["payload"]["severity"]
                for e in mine
                if e["event_type"] == "complaint.created"
                and start <= _ms(e["occurred_at"]) < start + 41 * MIN_MS
            )
            # the wave's ten, whatever random complaints land beside them
            wave = Counter({"critical": 2, "high": 3, "medium": 3, "low": 2})
            assert created >= wave, (day, tenant, created)
            escalated = Counter(
                e["payload"]["severity"]
                for e in mine
                if e["event_type"] == "complaint.escalated"
                and start + 60 * MIN_MS <= _ms(e["occurred_at"]) < start + 104 * MIN_MS
            )
            assert escalated >= Counter({"high": 1, "critical": 1}), (day, tenant, escalated)
    for (day, tenant), at in WAVE.items():
        before = sum(live[tenant, at - MIN_MS].open_complaints.values())
        after = sum(live[tenant, at + 45 * MIN_MS].open_complaints.values())
        assert after - before >= 8, (day, tenant)  # ten opened, a couple resolved meanwhile


def _low_share_1h(events: list[Event], tenant: str, at: int) -> float:
    ratings: list[int] = [
        e["payload"]["rating"]
        for e in events
        if e["event_type"] == "csat.received"
        and e["tenant_id"] == tenant
        and at - HOUR_MS < _ms(e["occurred_at"]) <= at
    ]
    return sum(r <= 2 for r in ratings) / len(ratings)


def test_a_low_csat_burst_lifts_the_hourly_low_share(three_days: list[Event]) -> None:
    for day in range(3):
        for tenant in TENANTS:
            start = _slot(day, 14, tenant)
            assert _low_share_1h(three_days, tenant, start + 50 * MIN_MS) >= 0.3, (day, tenant)
            lows = [
                e["payload"]["agent_id"]
                for e in three_days
                if e["event_type"] == "csat.received"
                and e["tenant_id"] == tenant
                and e["payload"]["rating"] <= 2
                and start + 25 * MIN_MS <= _ms(e["occurred_at"]) < start + 45 * MIN_MS
            ]
            # one agent's botched afternoon: ten low ratings of the same agent
            assert Counter(lows).most_common(1)[0][1] >= 10, (day, tenant)


def test_a_message_flood_and_a_staff_gap_move_the_live_figures(
    live: dict[tuple[str, int], OpsSnapshot],
) -> None:
    def messages(tenant: str, at: int) -> int:
        return sum(live[tenant, at].messages_last_hour.values())

    def available(tenant: str, at: int) -> int:
        by = live[tenant, at].agents_by_status
        return by["active"] + by["idle"]

    for (day, tenant), at in FLOOD.items():
        before, during = messages(tenant, at), messages(tenant, at + 45 * MIN_MS)
        assert during > max(2 * before, 500), (day, tenant, before, during)
    for (day, tenant), at in GAP.items():  # Mon-Wed: a full afternoon shift around it
        before = available(tenant, at - 5 * MIN_MS)
        during = available(tenant, at + 15 * MIN_MS)
        after = available(tenant, at + 45 * MIN_MS)
        assert during <= 2 < min(before, after), (day, tenant, before, during, after)


def test_a_demand_spike_is_an_anomaly_once_the_weekly_model_forecasts() -> None:
    quiet: dict[str, Any] = {f"story_{n}": False for n in QUIET}  # only the spike: fewer events
    small = SimConfig(tenants=1, tickets_per_hour=20.0, agents_per_tenant=6, clients_per_tenant=60)
    cfg = replace(small, **quiet)
    demand = DemandTenant("acme", DemandConfig(horizon_h=2))
    anomalies: list[Alert] = []
    fired = datetime(2026, 1, 1, tzinfo=UTC)
    for e in _until(cfg, 8 + 8 / 24):
        ts = _ms(e["occurred_at"])
        demand.on_event(parse_event(json.dumps(e)), ts)
        out = demand.close(ts - MIN_MS, fired)
        anomalies += [a for a in out if isinstance(a, Alert) and a.kind == "anomaly"]
    spike = START + timedelta(days=8, hours=6)
    region = cfg.regions[(T0 // DAY_MS + 8) % len(cfg.regions)]
    got = {(a.subject_id, a.details["hour"], a.details["direction"]) for a in anomalies}
    for segment in (f"region:{region}", "service_type:repair"):
        assert (segment, spike.isoformat(), "above") in got, anomalies
    (repair,) = [a for a in anomalies if a.subject_id == "service_type:repair"]
    assert repair.details["hour"] == spike.isoformat()  # and no other hour of that segment
    assert repair.details["actual_value"] >= 30  # the floor (2.5 x 6 an hour is less)


def test_the_alerting_stories_switch_off_one_by_one() -> None:
    def counts(**off: Any) -> Counter[str]:
        cfg = replace(SimConfig(tenants=1), **off)
        return Counter(e["event_type"] for e in _until(cfg, 1))

    every = counts()
    assert every["complaint.escalated"] > counts(story_complaint_wave=False)["complaint.escalated"]
    assert every["csat.received"] > counts(story_csat_burst=False)["csat.received"]
    assert every["message.sent"] > counts(story_message_flood=False)["message.sent"] + 400
    assert every["agent.status_changed"] != counts(story_staff_gap=False)["agent.status_changed"]
