"""The simulator's routing world (issue #15): agents with category strengths and an
auto-assigner that follows the routing recommendation with ``routing_follow_p``, judged
by the product's own routing state (flows/routing/tenant.py) fed the simulated stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from statistics import mean

import pytest

from flows.core.timeutil import to_ms
from flows.routing.tenant import RoutingTenant
from infra.simulator import SimConfig, Simulator
from schemas.events import parse_event
from schemas.routing import RoutingDecision, RoutingModel

FIRED = datetime(2026, 3, 2, tzinfo=UTC)
HOURS = 12


def decisions(follow_p: float) -> list[RoutingDecision]:
    sim = Simulator(SimConfig(routing_follow_p=follow_p, category_strengths=True, stories=False))
    tenants: dict[str, RoutingTenant] = {}
    latest: dict[tuple[str, str], RoutingDecision] = {}
    end: int | None = None
    for doc in sim.events():
        e = parse_event(json.dumps(doc))
        ms = to_ms(e.occurred_at)
        end = ms + HOURS * 3_600_000 if end is None else end
        if ms > end:
            break
        t = tenants.setdefault(e.tenant_id, RoutingTenant(e.tenant_id, RoutingModel()))
        t.on_watermark(ms, FIRED)
        for out in t.on_event(e, ms, FIRED):
            if isinstance(out, RoutingDecision):
                latest[out.tenant_id, out.ticket_id] = out
    return list(latest.values())


def top_share(ds: list[RoutingDecision]) -> float:
    auto = [d for d in ds if d.assigned_by == "auto"]
    return sum(d.adoption == "top" for d in auto) / len(auto)


def test_the_default_stream_has_no_strengths_and_ignores_the_recommendation() -> None:
    cfg = SimConfig()
    assert (cfg.routing_follow_p, cfg.category_strengths) == (0.0, False)
    with pytest.raises(ValueError, match="routing_follow_p"):
        SimConfig(routing_follow_p=1.5)


def test_the_assigner_follows_the_recommendation_with_its_probability() -> None:
    followed, random_pick = decisions(0.7), decisions(0.0)
    assert len(followed) > 500
    # the flow's recommendation is what the simulator followed: ~0.7 of auto assignments
    assert 0.6 <= top_share(followed) <= 0.8
    assert top_share(random_pick) < 0.25
    # specialists resolve faster: followed assignments have shorter handle times
    handle = {
        kind: mean(
            d.handle_time_s
            for d in followed
            if d.handle_time_s is not None and (d.adoption != "outside") == (kind == "followed")
        )
        for kind in ("followed", "not")
    }
    assert handle["followed"] < handle["not"]
