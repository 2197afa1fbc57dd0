"""Demand state of a tenant (flows/demand/tenant.py): hours, snapshots, refits, hotspots."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from bench.seasonal_demand import seasonal_series
from flows.demand.forecast import COLD_CANDIDATES, HOUR_MS, MODEL_COLD, WEEKLY_CANDIDATES
from flows.demand.tenant import (
    DemandConfig,
    DemandOutput,
    DemandTenant,
    HotspotRule,
    demand_segments,
)
from schemas.demand import BacktestRow, DemandHourly, ForecastSnapshot
from schemas.results import Alert
from tests.unit.helpers import T0, T0_MS, make_event

FIRED = datetime(2030, 1, 1, tzinfo=UTC)
H0 = T0_MS // HOUR_MS


def ticket(minute_ms: int, queue: str = "billing", region: str = "north", n: int = 0) -> object:
    return make_event(
        "ticket.created",
        {
            "ticket_id": f"tk-{minute_ms}-{n}",
            "client_id": "c1",
            "channel": "email",
            "queue": queue,
            "priority": "normal",
            "category": "billing",
            "subject": "s",
            "description": "d",
            "region": region,
        },
        occurred_at=datetime.fromtimestamp(minute_ms / 1000, UTC),
    )


def feed(tenant: DemandTenant, counts: np.ndarray, first_hour: int) -> list[DemandOutput]:
    """Counts as ticket.created events spread over each hour; close after each hour."""
    out: list[DemandOutput] = []
    for i, c in enumerate(counts):
        start = (first_hour + i) * HOUR_MS
        for k in range(int(c)):
            ts = start + (k * HOUR_MS) // max(int(c), 1)
            out.extend(tenant.on_event(ticket(ts, n=k), ts))  # type: ignore[arg-type]
        out.extend(tenant.close(start + HOUR_MS, FIRED))
    return out


def of(rows: list[DemandOutput], kind: type) -> list[Any]:
    return [r for r in rows if isinstance(r, kind)]


def test_segments_of_each_demand_event() -> None:
    assert demand_segments(ticket(T0_MS)) == (("queue", "billing"), ("region", "north"))  # type: ignore[arg-type]
    svc = make_event(
        "service.requested",
        {
            "request_id": "r1",
            "client_id": "c1",
            "region": "south",
            "service_type": "install",
            "urgency": "low",
        },
    )
    assert demand_segments(svc) == (("region", "south"), ("service_type", "install"))
    queued = make_event(
        "session.queued", {"session_id": "s1", "channel": "chat", "queue": "returns"}
    )
    assert demand_segments(queued) == (("queue", "returns"),)
    started = make_event(
        "session.started", {"session_id": "s1", "channel": "chat", "queue": "returns"}
    )
    assert demand_segments(started) == ()


def test_hours_close_on_the_watermark_with_zeros_and_a_snapshot() -> None:
    t = DemandTenant("t1", DemandConfig(horizon_h=48))
    t.on_event(ticket(T0_MS + 5 * 60_000), T0_MS + 5 * 60_000)  # type: ignore[arg-type]
    assert t.close(T0_MS + HOUR_MS - 1, FIRED) == []  # hour not over yet
    out = t.close(T0_MS + 2 * HOUR_MS, FIRED)
    hourly = of(out, DemandHourly)
    assert [(h.segment, h.hour_start, h.events) for h in hourly] == [
        ("billing", T0, 1),
        ("north", T0, 1),
        ("billing", datetime(2025, 1, 6, 1, tzinfo=UTC), 0),
        ("north", datetime(2025, 1, 6, 1, tzinfo=UTC), 0),
    ]
    snaps = [p for p in of(out, ForecastSnapshot) if p.segment == "billing"]
    # one snapshot per closed hour, each 48 h long, from the hour after the one in progress
    assert len(snaps) == 2
    last = snaps[-1]
    assert last.generated_at == datetime(2025, 1, 6, 2, tzinfo=UTC)
    assert last.first_target == datetime(2025, 1, 6, 3, tzinfo=UTC)
    assert last.target_start(47) == datetime(2025, 1, 8, 2, tzinfo=UTC)
    assert len(last.predicted) == len(last.lower_80) == len(last.upper_95) == 48
    assert {p.model for p in snaps} == {MODEL_COLD}


def test_a_late_event_re_emits_its_hour_with_the_higher_count() -> None:
    t = DemandTenant("t1", DemandConfig(horizon_h=1))
    t.on_event(ticket(T0_MS), T0_MS)  # type: ignore[arg-type]
    t.close(T0_MS + HOUR_MS, FIRED)
    late = t.on_event(ticket(T0_MS + 10, n=1), T0_MS + 10)  # type: ignore[arg-type]
    assert [(h.segment_type, h.events) for h in late] == [("queue", 2), ("region", 2)]
    assert list(t.segments[("queue", "billing")].counts) == [2]
    # a segment first seen late gets zeros up to the open hour
    t.close(T0_MS + 3 * HOUR_MS, FIRED)
    t.on_event(ticket(T0_MS + HOUR_MS, queue="new"), T0_MS + HOUR_MS)  # type: ignore[arg-type]
    assert list(t.segments[("queue", "new")].counts) == [1, 0]


def test_refits_on_the_grid_switch_to_weekly_and_publish_every_candidate() -> None:
    s = seasonal_series(9 * 24, peak=30.0, seed=3)
    t = DemandTenant("t1", DemandConfig(horizon_h=24))
    out = feed(t, s.counts, s.first_hour)
    backtests = [b for b in of(out, BacktestRow) if b.segment == "billing"]
    assert {b.generated_at.hour for b in backtests} == {0}  # daily, UTC-aligned
    refits: dict[datetime, list[BacktestRow]] = {}
    for b in backtests:
        refits.setdefault(b.generated_at, []).append(b)
    for rows in refits.values():
        chosen = [r for r in rows if r.selected]
        assert len(chosen) == 1, "one chosen model per refit"
        assert len({r.model for r in rows}) == len(rows)
        assert chosen[0].mae == min(r.mae for r in rows)  # the lowest backtest MASE
        assert {r.baseline for r in rows} == {rows[0].baseline}  # scored on the same targets
    first, last = refits[min(refits)], refits[max(refits)]
    assert {r.model for r in first} == set(COLD_CANDIDATES)
    assert {r.model for r in last} == set(WEEKLY_CANDIDATES)
    chosen = next(r for r in last if r.selected)
    assert (chosen.origins, chosen.points, chosen.baseline) == (1, 24, "seasonal_naive_168h")
    assert of(out, ForecastSnapshot)[-1].model == chosen.model


def test_hotspot_alerts_once_per_episode() -> None:
    rule = HotspotRule(absolute={"queue:billing": 3.5}, horizon_h=24, min_level=1.0)
    t = DemandTenant("t1", DemandConfig(horizon_h=24, hotspot=rule))
    # a day of 5/h in hours 8-11 and 1/h otherwise, for two days
    day = np.array([5 if 8 <= h < 12 else 1 for h in range(24)])
    out = feed(t, np.concatenate([day, day]), H0)
    alerts = of(out, Alert)
    assert alerts, "hot hours forecast above the threshold must alert"
    assert all(a.kind == "demand_hotspot" and a.subject_id == "queue:billing" for a in alerts)
    starts = [a.details["target_start"] for a in alerts]
    assert len(starts) == len(set(starts))
    # one alert per day's hot block, however many hourly snapshots saw it coming
    assert len(alerts) <= 3
    assert alerts[0].details["rule"] == "absolute"
    assert alerts[0].details["threshold"] == 3.5


def test_ratio_hotspots_need_a_week_of_history() -> None:
    rule = HotspotRule(ratio=1.0, min_level=0.0)
    t = DemandTenant("t1", DemandConfig(horizon_h=24, hotspot=rule))
    s = seasonal_series(6 * 24, peak=30.0, seed=4)
    assert of(feed(t, s.counts, s.first_hour), Alert) == []


def test_outputs_do_not_depend_on_how_often_hours_are_closed() -> None:
    s = seasonal_series(3 * 24, peak=10.0, seed=6)
    cfg = DemandConfig(horizon_h=6)
    a = DemandTenant("t1", cfg)
    rows_a = feed(a, s.counts, s.first_hour)
    b = DemandTenant("t1", cfg)
    rows_b: list[DemandOutput] = []
    for i, c in enumerate(s.counts):
        start = (s.first_hour + i) * HOUR_MS
        for k in range(int(c)):
            ts = start + (k * HOUR_MS) // max(int(c), 1)
            rows_b.extend(b.on_event(ticket(ts, n=k), ts))  # type: ignore[arg-type]
        if i == 40:  # a crash/restart: state round-trips through pickle
            b = pickle.loads(pickle.dumps(b))
    rows_b.extend(b.close((s.first_hour + len(s.counts)) * HOUR_MS, FIRED))
    assert rows_a == rows_b


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="horizon_h"):
        DemandConfig(horizon_h=337)
    with pytest.raises(ValueError, match="type:segment"):
        HotspotRule(absolute={"billing": 5})
    with pytest.raises(ValueError, match="max_history_h"):
        DemandConfig(max_history_h=100)


def test_quiet_segments_retire_and_segments_are_capped() -> None:
    t = DemandTenant("t1", DemandConfig(horizon_h=1, retire_after_h=3, max_segments=3))
    t.on_event(ticket(T0_MS, queue="a", region="r"), T0_MS)  # type: ignore[arg-type]
    t.on_event(ticket(T0_MS + 1, queue="b", region="r"), T0_MS + 1)  # type: ignore[arg-type]
    t.close(T0_MS + HOUR_MS, FIRED)
    # queue b is the cap's third segment (sorted: queue a, queue b, region r)
    assert sorted(t.segments) == [("queue", "a"), ("queue", "b"), ("region", "r")]
    t.on_event(ticket(T0_MS + HOUR_MS, queue="c", region="r"), T0_MS + HOUR_MS)  # type: ignore[arg-type]
    t.close(T0_MS + 2 * HOUR_MS, FIRED)
    assert ("queue", "c") not in t.segments
    assert t.untracked_events == 1
    # three quiet hours later only the region (still busy) is left
    for h in range(2, 5):
        ts = T0_MS + h * HOUR_MS
        t.on_event(ticket(ts, queue="c", region="r", n=h), ts)  # type: ignore[arg-type]
        t.close(ts + HOUR_MS, FIRED)
    assert ("queue", "a") not in t.segments
    assert ("region", "r") in t.segments
