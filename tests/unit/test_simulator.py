"""The traffic simulator: deterministic, schema-valid, ordered and realistically shaped."""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile

import pytest
from pydantic import ValidationError

from infra.simulator import SimConfig, Simulator, demand_multiplier, invalid_samples
from schemas.events import PAYLOADS, parse_event


@pytest.fixture(scope="module")
def events() -> list[dict]:
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


def test_events_satisfy_the_schemas(events: list[dict]) -> None:
    for event in events[:20_000]:
        parsed = parse_event(json.dumps(event))
        assert parsed.occurred_at.utcoffset() == timedelta(0)
        assert event["occurred_at"].endswith("Z")
        assert len(event["occurred_at"]) == len("2025-01-06T00:00:00.000Z")


def test_occurred_at_is_non_decreasing(events: list[dict]) -> None:
    stamps = [e["occurred_at"] for e in events]  # one fixed ISO format: sorts as text
    assert stamps == sorted(stamps)
    assert stamps[0] >= "2025-01-06T00:00:00.000Z"


def test_event_ids_are_unique(events: list[dict]) -> None:
    assert len({e["event_id"] for e in events}) == len(events)


def test_every_event_type_appears(events: list[dict]) -> None:
    assert set(PAYLOADS) <= {e["event_type"] for e in events}


def test_ticket_lifecycle_order(events: list[dict]) -> None:
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


def test_lifecycle_agents_are_consistent(events: list[dict]) -> None:
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


def test_realistic_mix(events: list[dict]) -> None:
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


def test_some_agents_get_low_csat_more_often(events: list[dict]) -> None:
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
