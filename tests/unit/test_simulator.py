"""The traffic simulator: deterministic, schema-valid, ordered and realistically shaped."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile
from typing import Any

import pytest
from pydantic import ValidationError

from infra.simulator import SimConfig, Simulator, demand_multiplier, invalid_samples
from schemas.events import PAYLOADS, parse_event
from schemas.risk import RISK_LEVELS, RiskLevel, RiskModel

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SLA_HOURS = {"urgent": 1, "high": 4, "normal": 24, "low": 72}  # the product's defaults

Event = dict[str, Any]


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(islice(Simulator(SimConfig()).events(), 50_000))


def test_same_seed_same_stream_different_seed_different() -> None:
    a = list(islice(Simulator(SimConfig(seed=11)).events(), 5_000))
    b = list(islice(Simulator(SimConfig(seed=11)).events(), 5_000))
    c = list(islice(Simulator(SimConfig(seed=12)).events(), 5_000))
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(c)


def test_each_events_call_replays_from_the_start() -> None:
    sim = Simulator(SimConfig(seed=3))
    assert list(islice(sim.events(), 2_000)) == list(islice(sim.events(), 2_000))


def test_events_satisfy_the_schemas(events: list[Event]) -> None:
    for event in events[:20_000]:
        parsed = parse_event(json.dumps(event))
        assert parsed.occurred_at.utcoffset() == timedelta(0)
        assert event["occurred_at"].endswith("Z")
        assert len(event["occurred_at"]) == len("2025-01-06T00:00:00.000Z")


def test_occurred_at_is_non_decreasing(events: list[Event]) -> None:
    stamps = [e["occurred_at"] for e in events]  # one fixed ISO format: sorts as text
    assert stamps == sorted(stamps)
    assert stamps[0] >= "2025-01-06T00:00:00.000Z"


def test_event_ids_are_unique(events: list[Event]) -> None:
    assert len({e["event_id"] for e in events}) == len(events)


def test_every_event_type_appears(events: list[Event]) -> None:
    # erasure requests come from `cxpulse erase` and the API, not from customer activity
    assert set(PAYLOADS) - {"client.erasure_requested"} <= {e["event_type"] for e in events}


def test_ticket_lifecycle_order(events: list[Event]) -> None:
    seen: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        kind = e["event_type"]
        if kind.startswith("ticket.") or kind == "csat.received":
            seen[e["payload"]["ticket_id"]][kind].append(e["occurred_at"])
    checked = 0
    for ticket_id, steps in seen.items():
        created = steps["ticket.created"]
        assert len(created) == 1, ticket_id
        for later in ("ticket.assigned", "ticket.first_response"):
            assert len(steps[later]) <= 1
        if steps["ticket.assigned"]:
            assert created[0] < steps["ticket.assigned"][0]
        if steps["ticket.first_response"]:
            assert steps["ticket.assigned"][0] <= steps["ticket.first_response"][0]
        if steps["ticket.resolved"]:
            first_resolved = steps["ticket.resolved"][0]
            assert steps["ticket.first_response"][0] <= first_resolved
            assert all(first_resolved <= t for t in steps["csat.received"])
            assert all(first_resolved <= t for t in steps["ticket.reopened"])
            checked += 1
        else:
            assert not steps["csat.received"]
            assert not steps["ticket.reopened"]
    assert checked > 1_000


def test_lifecycle_agents_are_consistent(events: list[Event]) -> None:
    assigned = {
        e["payload"]["ticket_id"]: e["payload"]["agent_id"]
        for e in events
        if e["event_type"] == "ticket.assigned"
    }
    for e in events:
        if e["event_type"] in ("ticket.first_response", "ticket.resolved", "csat.received"):
            p = e["payload"]
            assert p["agent_id"] == assigned[p["ticket_id"]]
            assert p["agent_id"].startswith(f"agent-{e['tenant_id']}-")


def test_realistic_mix(events: list[Event]) -> None:
    counts = Counter(e["event_type"] for e in events)
    ratings = [e["payload"]["rating"] for e in events if e["event_type"] == "csat.received"]
    low = sum(r <= 2 for r in ratings) / len(ratings)
    assert 0.03 < low < 0.15
    assert 0.02 < counts["ticket.reopened"] / counts["ticket.resolved"] < 0.09
    assert 0.3 < counts["csat.received"] / counts["ticket.resolved"] < 0.5
    assert {e["tenant_id"] for e in events} == {"acme", "globex", "initech"}
    # resolutions repeat verbatim: the vocabulary is small on purpose
    texts = Counter(
        e["payload"]["resolution_text"] for e in events if e["event_type"] == "ticket.resolved"
    )
    assert len(texts) < 40


def test_some_agents_get_low_csat_more_often(events: list[Event]) -> None:
    by_agent: dict[str, list[int]] = defaultdict(list)
    for e in events:
        if e["event_type"] == "csat.received":
            by_agent[e["payload"]["agent_id"]].append(e["payload"]["rating"])
    low_share = sorted(
        sum(r <= 2 for r in rs) / len(rs) for rs in by_agent.values() if len(rs) >= 30
    )
    assert low_share[-1] > 3 * max(low_share[len(low_share) // 2], 0.01)


def test_demand_multiplier_shape() -> None:
    monday = datetime(2025, 1, 6, tzinfo=UTC)
    assert demand_multiplier(monday.replace(hour=10)) == pytest.approx(1.0)
    assert demand_multiplier(monday.replace(hour=3)) < 0.2
    assert demand_multiplier(monday.replace(hour=15)) > 0.9
    saturday = monday + timedelta(days=5)
    assert demand_multiplier(saturday.replace(hour=10)) == pytest.approx(0.4)
    week = [monday + timedelta(minutes=7 * m) for m in range(7 * 24 * 60 // 7)]
    assert all(0 < demand_multiplier(t) <= 1.0 for t in week)
    with pytest.raises(ValueError):
        demand_multiplier(datetime(2025, 1, 6, 10))


def test_generated_volume_follows_the_profile() -> None:
    cfg = SimConfig(seed=5, tenants=1, tickets_per_hour=30.0)
    end = (cfg.start + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    by_hour: Counter[int] = Counter()
    by_weekday: Counter[int] = Counter()
    for e in takewhile(lambda e: e["occurred_at"] < end, Simulator(cfg).events()):
        if e["event_type"] == "ticket.created":
            t = datetime.fromisoformat(e["occurred_at"])
            by_hour[t.hour] += 1
            by_weekday[t.weekday()] += 1
    night = sum(by_hour[h] for h in range(6)) / 6
    assert night < 0.3 * by_hour[10]
    weekday = sum(by_weekday[d] for d in range(4)) / 4
    weekend = (by_weekday[5] + by_weekday[6]) / 2
    assert weekend < 0.6 * weekday
    assert by_hour[10] > 100


def test_invalid_samples_are_rejected_and_seeded() -> None:
    samples = invalid_samples(random.Random(1))
    assert samples == invalid_samples(random.Random(1))
    assert len(samples) >= 6
    for raw in samples:
        assert isinstance(raw, bytes)
        with pytest.raises(ValidationError):
            parse_event(raw)
    with pytest.raises(UnicodeDecodeError):
        samples[-1].decode("utf-8")


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        SimConfig(start=datetime(2025, 1, 6))
    with pytest.raises(ValueError):
        SimConfig(tickets_per_hour=0)
    assert Simulator(SimConfig(tenants=5)).tenant_ids == ("acme", "globex", "initech", "t4", "t5")


# ---- stories --------------------------------------------------------------------------


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def _days(cfg: SimConfig, days: float) -> list[Event]:
    end = _stamp(cfg.start + timedelta(days=days))
    return list(takewhile(lambda e: e["occurred_at"] < end, Simulator(cfg).events()))


@pytest.fixture(scope="module")
def three_days() -> list[Event]:
    return _days(SimConfig(), 3)


T0 = _ms(_stamp(SimConfig().start))


def _queue_depths(events: list[Event]) -> dict[tuple[str, str], list[tuple[int, int, int]]]:
    """(time, depth, oldest wait in ms) after each session event, per (tenant, queue).

    Depth counts sessions queued and not yet started or ended, as the live-ops view does.
    """
    waiting: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    where: dict[str, tuple[str, str]] = {}
    out: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for e in events:
        kind = e["event_type"]
        if not kind.startswith("session."):
            continue
        p, t = e["payload"], _ms(e["occurred_at"])
        if kind == "session.queued":
            key = where[p["session_id"]] = (e["tenant_id"], p["queue"])
            waiting[key][p["session_id"]] = t
        elif p["session_id"] in where:
            key = where.pop(p["session_id"])
            waiting[key].pop(p["session_id"], None)
        else:
            continue
        line = waiting[key]  # insertion order = queueing order: the first one waited longest
        oldest = t - next(iter(line.values())) if line else 0
        out[key].append((t, len(line), oldest))
    return out


def _peaks(
    depths: dict[tuple[str, str], list[tuple[int, int, int]]], start: int, end: int
) -> dict[str, tuple[int, int, int]]:
    """Per tenant: the deepest (depth, oldest wait, time) reached in [start, end)."""
    best: dict[str, tuple[int, int, int]] = {}
    for (tenant, _queue), series in depths.items():
        for t, depth, oldest in series:
            if start <= t < end and (depth, oldest, t) > best.get(tenant, (0, 0, 0)):
                best[tenant] = (depth, oldest, t)
    return best


def test_queue_backs_up_within_the_first_two_hours_and_drains(three_days: list[Event]) -> None:
    depths = _queue_depths(three_days)
    opening = _peaks(depths, T0, T0 + 2 * HOUR_MS + 15 * 60_000)
    assert set(opening) == {"acme", "globex", "initech"}
    for tenant, (depth, oldest, t) in opening.items():
        assert depth >= 15, tenant
        assert oldest > 15 * 60_000, tenant
        # ... and it drains: within the next hour that queue is (almost) empty again
        (key,) = [k for k, s in depths.items() if k[0] == tenant and (t, depth, oldest) in s]
        assert min(d for u, d, _ in depths[key] if t < u < t + HOUR_MS) <= 2, key


def test_queue_backs_up_every_weekday_mid_morning(three_days: list[Event]) -> None:
    depths = _queue_depths(three_days)
    first_day = {k: max(d for t, d, _ in s if t < T0 + DAY_MS) for k, s in depths.items()}
    for tenant in ("acme", "globex", "initech"):
        assert max(d for (ten, _), d in first_day.items() if ten == tenant) >= 15
    for day in range(3):  # Mon-Wed: 10:00-11:30 UTC
        morning = T0 + day * DAY_MS + 10 * HOUR_MS
        for tenant, (depth, oldest, _) in _peaks(depths, morning, morning + 90 * 60_000).items():
            assert depth >= 15, (day, tenant)
            assert oldest > 15 * 60_000, (day, tenant)
    # the rest of the day stays calm: no backlog outside the story windows
    assert max(_peaks(depths, T0 + 3 * HOUR_MS, T0 + 10 * HOUR_MS).values())[0] < 10


def _risk_levels(events: list[Event], tenant: str, client: str) -> list[tuple[int, RiskLevel]]:
    """The client's risk level after each of its signals, by the product's risk model."""
    model = RiskModel()
    signals: list[tuple[int, str]] = []
    health: list[tuple[int, float]] = []
    tickets: dict[str, tuple[int, str]] = {}
    resolved: dict[str, int] = {}
    for e in events:
        if e["tenant_id"] != tenant:
            continue
        p, kind, t = e["payload"], e["event_type"], _ms(e["occurred_at"])
        if kind == "ticket.created" and p["client_id"] == client:
            tickets[p["ticket_id"]] = (t, p["priority"])
        elif kind == "ticket.resolved" and p["ticket_id"] in tickets:
            resolved.setdefault(p["ticket_id"], t)
        elif kind == "ticket.reopened" and p["ticket_id"] in tickets:
            signals.append((t, "reopenings"))
        elif p.get("client_id") != client:
            continue
        elif kind == "complaint.created":
            signals.append((t, f"complaints_{p['severity']}"))
        elif kind == "complaint.escalated":
            signals.append((t, "escalations"))
        elif kind == "csat.received" and p["rating"] <= 2:
            signals.append((t, "low_csat"))
        elif kind == "client.health_updated":
            health.append((t, p["health_score"]))
    for ticket, (created, priority) in tickets.items():
        deadline = created + SLA_HOURS[priority] * HOUR_MS
        if resolved.get(ticket, deadline + 1) > deadline:
            signals.append((deadline, "sla_breaches"))
    levels: list[tuple[int, RiskLevel]] = []
    for at in sorted({t for t, _ in signals} | {t for t, _ in health}):
        counts: dict[str, float] = defaultdict(float)
        for t, factor in signals:
            if t <= at:
                counts[factor] += model.decay(at - t)
        latest = [h for t, h in health if t <= at]
        score = model.score(model.contributions(counts, latest[-1] if latest else None))
        levels.append((at, score.risk_level))
    return levels


def test_a_client_slides_into_risk(three_days: list[Event]) -> None:
    clients = Simulator(SimConfig()).at_risk_clients
    assert clients == {t: f"client-{t}-1" for t in ("acme", "globex", "initech")}
    for tenant, client in clients.items():
        mine = [
            e
            for e in three_days
            if e["tenant_id"] == tenant and e["payload"].get("client_id") == client
        ]
        for e in mine:
            parse_event(json.dumps(e))
        start = _ms(mine[0]["occurred_at"])
        assert start < T0 + 6 * HOUR_MS  # a demo with a 24 h backfill sees it begin
        health = [e["payload"]["health_score"] for e in mine if e["event_type"].startswith("cl")]
        assert health[:5] == [80.0, 72.0, 66.0, 45.0, 25.0]
        complaints = [e["payload"] for e in mine if e["event_type"] == "complaint.created"]
        assert [c["severity"] for c in complaints[:3]] == ["medium", "high", "critical"]
        escalated = [e["payload"] for e in mine if e["event_type"] == "complaint.escalated"]
        assert escalated[0]["severity"] == "critical"
        assert escalated[0]["complaint_id"] == complaints[1]["complaint_id"]
        assert [e["payload"]["rating"] for e in mine if e["event_type"] == "csat.received"][:2] == [
            1,
            1,
        ]
        ticket_ids = {
            e["payload"]["ticket_id"] for e in mine if e["event_type"] == "ticket.created"
        }
        reopened = [
            e
            for e in three_days
            if e["event_type"] == "ticket.reopened"
            and e["tenant_id"] == tenant
            and e["payload"]["ticket_id"] in ticket_ids
        ]
        assert len(reopened) >= 1
        # the risk level only climbs, through every level in order, within ~2.5 days
        arc = [
            (t, lv)
            for t, lv in _risk_levels(three_days, tenant, client)
            if t < start + 60 * HOUR_MS
        ]
        ranks = [RISK_LEVELS.index(lv) for _, lv in arc]
        assert ranks == sorted(ranks)
        firsts = {lv: (t - start) / HOUR_MS for t, lv in reversed(arc)}
        assert list(firsts) == list(reversed(RISK_LEVELS))
        assert firsts["low"] < 1 < 5 < firsts["medium"] < 8 < 16 < firsts["high"] < 20
        assert 36 < firsts["critical"] < 40


def test_every_tenant_breaches_an_urgent_ticket_every_day(three_days: list[Event]) -> None:
    created: dict[str, tuple[str, int]] = {}
    resolved: dict[str, int] = {}
    for e in three_days:
        p = e["payload"]
        if e["event_type"] == "ticket.created" and p["priority"] == "urgent":
            created[p["ticket_id"]] = (e["tenant_id"], _ms(e["occurred_at"]))
        elif e["event_type"] == "ticket.resolved" and p["ticket_id"] in created:
            resolved.setdefault(p["ticket_id"], _ms(e["occurred_at"]))
    late: Counter[tuple[str, int]] = Counter()
    in_time: Counter[tuple[str, int]] = Counter()
    for ticket, (tenant, t) in created.items():
        if ticket in resolved and t < T0 + 2 * DAY_MS + 20 * HOUR_MS:
            took = resolved[ticket] - t
            day = (t - T0) // DAY_MS
            if took > 2 * HOUR_MS:  # well after the 1 h SLA
                late[tenant, day] += 1
            elif took <= HOUR_MS:
                in_time[tenant, day] += 1
    for tenant in ("acme", "globex", "initech"):
        for day in range(3):
            assert late[tenant, day] >= 1, (tenant, day)
            assert in_time[tenant, day] >= 1, (tenant, day)


def test_stories_switch_off_together_and_one_by_one() -> None:
    plain = SimConfig(stories=False)
    assert Simulator(plain).at_risk_clients == {}
    flags_off = SimConfig(
        story_queue_surge=False,
        story_client_at_risk=False,
        story_urgent_breach=False,
        story_complaint_wave=False,
        story_demand_spike=False,
        story_csat_burst=False,
        story_message_flood=False,
        story_staff_gap=False,
    )
    a = list(islice(Simulator(plain).events(), 5_000))
    assert a == list(islice(Simulator(flags_off).events(), 5_000))
    assert a != list(islice(Simulator(SimConfig()).events(), 5_000))
    # without the surge story, queues never back up
    day = _queue_depths(_days(SimConfig(story_queue_surge=False), 1))
    assert max(d for series in day.values() for _, d, _ in series) < 15
    assert Simulator(SimConfig(story_client_at_risk=False)).at_risk_clients == {}
    assert Simulator(SimConfig(clients_per_tenant=1)).at_risk_clients == {}
    assert list(islice(Simulator(SimConfig(clients_per_tenant=1, tenants=1)).events(), 3_000))
