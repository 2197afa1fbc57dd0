"""Anomaly alerts on the simulator's traffic: false alarms on normal traffic, detection of
injected anomalies; tune on one seed, report the others as holdout.

Normal traffic is the simulator with its scripted stories off (the queue surges *are*
anomalies). Everything runs the pure logic, no Kafka or ClickHouse:

* **demand** (what the flow raises, :mod:`flows.demand.anomaly`): every tenant's demand
  events go through :class:`flows.demand.tenant.DemandTenant`, hours closed as event time
  passes them; counted are the segment hours judged (those with a weekly-model forecast
  made before they started) and the ``anomaly`` alerts among them. Injected: one spike a
  tenant-day, on a random queue in a random daytime hour, adding ``--spike`` x that
  hour's own demand as extra queued sessions.
* **agents** (candidates, not in the flow unless they pay off): agent facts from
  :class:`flows.agents.facts.TicketTracker`, per agent and period of ``--grains`` hours
  (1: the hourly metric asked for; 24: a day, for comparison), by fact event time:
  - handle time (:class:`HandleRule`): robust z of the period's mean log handle time
    against the agent's own trailing tickets (median and 1.4826 x MAD of the last
    ``history`` tickets before the period), scaled by sqrt(n):
    ``z = (mean_log - median) / (sigma / sqrt(n))``; needs ``min_history`` tickets of
    history and ``min_per_hour`` in the period; alert at ``z >= --z``. Injected: the
    same period with every handle time x ``--factors`` (a counterfactual: history keeps
    the real values).
  - low CSAT share (:class:`CsatRule`): binomial tail ``P(X >= low | n, p)`` with ``p``
    the agent's own trailing low share shrunk to the tenant's (a prior worth ``prior_n``
    surveys); needs ``min_csat`` surveys in the period; alert at ``p <= --alpha``.
    Injected: the same period with every rating a 1.
  False alarms are counted per agent-day (days with at least one fact of the agent).

    python -m bench.anomaly --seeds 7 11 23          # 7 tunes, the rest hold out
    python -m bench.anomaly --spike 1 --grains 1     # spikes to 2x instead of 3x

Warm-up (the first ``--warmup-days``) counts neither false alarms nor detections.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flows.agents.facts import AGENT_EVENT_TYPES, LOW_CSAT_MAX, AgentFact, FactKind, TicketTracker
from flows.demand.anomaly import AnomalyRule, Expected
from flows.demand.forecast import HOUR_MS
from flows.demand.tenant import DEMAND_EVENT_TYPES, DemandConfig, DemandTenant, demand_segments
from infra.simulator import SimConfig, Simulator
from schemas.demand import DemandHourly
from schemas.events import Event, parse_event

DAY_MS = 24 * HOUR_MS
FIRED = datetime(2030, 1, 1, tzinfo=UTC)
_NS = uuid.UUID("5d0b5a8e-0c53-4f55-9d3c-6b7c1c1f0a42")


@dataclass
class Traffic:
    start_ms: int
    end_ms: int
    demand: list[tuple[int, Event]] = field(default_factory=list)
    facts: list[AgentFact] = field(default_factory=list)


def simulate(seed: int, days: int) -> Traffic:
    """``days`` of the simulator's normal traffic (stories off), as demand events and
    agent facts."""
    sim = Simulator(SimConfig(seed=seed, stories=False))
    start = sim.config.start
    end = (start + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    tr = Traffic(int(start.timestamp() * 1000), int(start.timestamp() * 1000) + days * DAY_MS)
    tracker = TicketTracker()
    wanted = DEMAND_EVENT_TYPES | AGENT_EVENT_TYPES
    for doc in sim.events():
        if doc["occurred_at"] >= end:
            break
        if doc["event_type"] not in wanted:
            continue
        event = parse_event(json.dumps(doc))
        ts = int(event.occurred_at.timestamp() * 1000)
        if event.event_type in DEMAND_EVENT_TYPES:
            tr.demand.append((ts, event))
        if event.event_type in AGENT_EVENT_TYPES:
            tr.facts.extend(tracker.on_event(event))
    return tr


# -- demand ---------------------------------------------------------------------------------


@dataclass
class DemandScore:
    judged: int = 0  # segment hours with a forecast made before them (after warm-up)
    alerts: int = 0  # anomaly alerts on normal hours (after warm-up)
    segment_days: float = 0.0
    tenant_days: float = 0.0
    spikes: int = 0
    caught: int = 0


@dataclass(frozen=True)
class Judged:
    """One closed segment hour and the forecast made before it."""

    tenant: str
    label: str
    hour: int
    actual: int
    expected: Expected


def _queued(tenant: str, queue: str, ts: int, n: int) -> Event:
    doc = {
        "event_id": str(uuid.uuid5(_NS, f"{tenant}/{queue}/{ts}/{n}")),
        "event_type": "session.queued",
        "schema_version": 1,
        "tenant_id": tenant,
        "occurred_at": datetime.fromtimestamp(ts / 1000, UTC).isoformat().replace("+00:00", "Z"),
        "source": "bench",
        "payload": {"session_id": f"spike-{ts}-{n}", "channel": "chat", "queue": queue},
    }
    return parse_event(json.dumps(doc))


def demand_spikes(
    tr: Traffic, factor: float, warmup_days: int, seed: int
) -> list[tuple[int, Event]]:
    """One spike per tenant-day after warm-up: ``factor`` x the hour's own queue demand
    (at least 3 extra) as extra queued sessions, on a random queue, 08-17 UTC."""
    counts: dict[tuple[str, str, int], int] = defaultdict(int)
    queues: dict[str, set[str]] = defaultdict(set)
    for ts, ev in tr.demand:
        for seg_type, name in demand_segments(ev):
            if seg_type == "queue":
                counts[(ev.tenant_id, name, ts // HOUR_MS)] += 1
                queues[ev.tenant_id].add(name)
    rng = random.Random(seed)
    extra: list[tuple[int, Event]] = []
    day0 = tr.start_ms // DAY_MS + warmup_days
    for tenant in sorted(queues):
        for day in range(day0, tr.end_ms // DAY_MS):
            queue = rng.choice(sorted(queues[tenant]))
            hour = day * 24 + rng.randrange(8, 18)
            n = max(3, round(factor * counts[(tenant, queue, hour)]))
            for k in range(n):
                ts = hour * HOUR_MS + (k * HOUR_MS) // n
                extra.append((ts, _queued(tenant, queue, ts, k)))
    return extra


def run_demand(tr: Traffic, cfg: DemandConfig, extra: list[tuple[int, Event]]) -> list[Judged]:
    """Every judged segment hour of the run (the flow's logic, hours closed in order)."""
    stream = sorted([*tr.demand, *extra], key=lambda p: p[0])
    tenants: dict[str, DemandTenant] = {}
    judged: list[Judged] = []
    next_close = tr.start_ms // HOUR_MS + 1

    def close_until(hour_end: int) -> None:
        nonlocal next_close
        while next_close <= hour_end:
            hour = next_close - 1
            for t in tenants.values():
                exp = {f"{s[0]}:{s[1]}": st.expected.get(hour) for s, st in t.segments.items()}
                for out in t.close(next_close * HOUR_MS, FIRED):
                    if isinstance(out, DemandHourly):
                        e = exp.get(f"{out.segment_type}:{out.segment}")
                        if e is not None:
                            label = f"{out.segment_type}:{out.segment}"
                            judged.append(Judged(t.tenant_id, label, hour, out.events, e))
            next_close += 1

    for ts, ev in stream:
        close_until(ts // HOUR_MS)
        t = tenants.get(ev.tenant_id)
        if t is None:
            t = tenants[ev.tenant_id] = DemandTenant(ev.tenant_id, cfg)
        t.on_event(ev, ts)
    close_until(tr.end_ms // HOUR_MS)
    return judged


def score_demand(
    judged: list[Judged], extra: list[tuple[int, Event]], rule: AnomalyRule, eval_from: int
) -> DemandScore:
    spiked = {
        (ev.tenant_id, f"{seg_type}:{name}", ts // HOUR_MS)
        for ts, ev in extra
        for seg_type, name in demand_segments(ev)
    }
    score = DemandScore(spikes=len(spiked))
    tenants = set()
    for j in judged:
        if j.hour < eval_from:
            continue
        tenants.add(j.tenant)
        hit = rule.judge(j.actual, j.expected) is not None
        if (j.tenant, j.label, j.hour) in spiked:
            score.caught += hit
            continue
        score.judged += 1
        score.alerts += hit
    last = max((j.hour for j in judged), default=eval_from)
    score.tenant_days = len(tenants) * (last + 1 - eval_from) / 24
    score.segment_days = score.judged / 24
    return score


# -- agents ---------------------------------------------------------------------------------

AgentHourKey = tuple[str, str, int]  # tenant, agent, hour


@dataclass
class AgentHour:
    logs: list[float] = field(default_factory=list)  # log handle time (s) of resolutions
    ratings: list[int] = field(default_factory=list)


def agent_hours(
    tr: Traffic, grain_h: int = 1
) -> dict[tuple[str, str], list[tuple[int, AgentHour]]]:
    """Per agent, its periods of ``grain_h`` hours with facts, in time order (keyed by
    period index)."""
    by: dict[AgentHourKey, AgentHour] = defaultdict(AgentHour)
    for f in tr.facts:
        key = (f.tenant_id, f.agent_id, f.at_ms // (grain_h * HOUR_MS))
        if f.kind is FactKind.RESOLVED and f.value is not None:
            by[key].logs.append(math.log(max(f.value, 1000) / 1000))
        elif f.kind is FactKind.CSAT and f.value is not None:
            by[key].ratings.append(f.value)
        else:
            by.setdefault(key, AgentHour())  # active this hour, nothing to measure
    out: dict[tuple[str, str], list[tuple[int, AgentHour]]] = defaultdict(list)
    for (tenant, agent, hour), h in sorted(by.items()):
        out[(tenant, agent)].append((hour, h))
    return out


@dataclass(frozen=True)
class HandleRule:
    z: float
    history: int = 200  # trailing tickets kept per agent
    min_history: int = 40
    min_per_hour: int = 3


@dataclass(frozen=True)
class CsatRule:
    alpha: float
    min_csat: int = 2
    prior_n: float = 20.0


@dataclass
class AgentScore:
    agent_days: int = 0
    eligible: int = 0  # agent-hours the rule could judge (after warm-up)
    active: int = 0  # agent-hours with at least one resolution / survey (after warm-up)
    alerts: int = 0
    caught: dict[float, int] = field(default_factory=dict)  # injected factor -> detected

    def fa_per_agent_day(self) -> float:
        return self.alerts / max(self.agent_days, 1)

    def rate(self, key: float) -> float:
        return self.caught.get(key, 0) / max(self.eligible, 1)


def _agent_days(
    hours: dict[tuple[str, str], list[tuple[int, AgentHour]]], from_hour: int, grain_h: int
) -> int:
    return len({(k, h * grain_h // 24) for k, hs in hours.items() for h, _ in hs if h >= from_hour})


def score_handle(
    hours: dict[tuple[str, str], list[tuple[int, AgentHour]]],
    rule: HandleRule,
    from_hour: int,
    factors: tuple[float, ...],
    grain_h: int = 1,
) -> AgentScore:
    score = AgentScore(agent_days=_agent_days(hours, from_hour, grain_h))
    for hs in hours.values():
        hist: list[float] = []  # trailing log handle times, oldest first
        for hour, h in hs:
            n = len(h.logs)
            if hour >= from_hour and n:
                score.active += 1
            if hour >= from_hour and n >= rule.min_per_hour and len(hist) >= rule.min_history:
                med = statistics.median(hist)
                mad = statistics.median(abs(x - med) for x in hist)
                sigma = max(1.4826 * mad, 0.05)
                se = sigma / math.sqrt(n)
                z = (statistics.fmean(h.logs) - med) / se
                score.eligible += 1
                if z >= rule.z:
                    score.alerts += 1
                for f in factors:  # the same hour with every handle time x f
                    if z + math.log(f) / se >= rule.z:
                        score.caught[f] = score.caught.get(f, 0) + 1
            hist.extend(h.logs)
            del hist[: max(len(hist) - rule.history, 0)]
    return score


def score_csat(
    hours: dict[tuple[str, str], list[tuple[int, AgentHour]]],
    rule: CsatRule,
    from_hour: int,
    grain_h: int = 1,
) -> AgentScore:
    score = AgentScore(agent_days=_agent_days(hours, from_hour, grain_h))
    tenant_low: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # low, n (trailing: all)
    # agents of a tenant interleave in time: walk every agent-hour in hour order
    flat = sorted((hour, key, h) for key, hs in hours.items() for hour, h in hs)
    own: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for hour, key, h in flat:
        n = len(h.ratings)
        low = sum(1 for r in h.ratings if r <= LOW_CSAT_MAX)
        t_low, t_n = tenant_low[key[0]]
        if hour >= from_hour and n:
            score.active += 1
        if hour >= from_hour and n >= rule.min_csat and t_n:
            prior = t_low / t_n
            a_low, a_n = own[key]
            p = (a_low + rule.prior_n * prior) / (a_n + rule.prior_n)
            score.eligible += 1
            if _binom_sf(low, n, p) <= rule.alpha:
                score.alerts += 1
            if _binom_sf(n, n, p) <= rule.alpha:  # the same hour with every rating a 1
                score.caught[1.0] = score.caught.get(1.0, 0) + 1
        own[key][0] += low
        own[key][1] += n
        tenant_low[key[0]][0] += low
        tenant_low[key[0]][1] += n
    return score


def _binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


# -- report ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--warmup-days", type=int, default=9)
    ap.add_argument("--spike", type=float, default=2.0, help="extra demand: x the hour's own")
    ap.add_argument("--factors", type=float, nargs="+", default=[1.5, 2.0, 3.0])
    ap.add_argument("--z", type=float, nargs="+", default=[3.0, 3.5, 4.0])
    ap.add_argument("--alpha", type=float, nargs="+", default=[0.01, 0.001])
    ap.add_argument("--min-excess", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    ap.add_argument("--grains", type=int, nargs="+", default=[1, 24], help="agent periods, h")
    ap.add_argument("--no-demand", action="store_true")
    args = ap.parse_args(argv)
    factors = tuple(args.factors)
    for i, seed in enumerate(args.seeds):
        role = "tuning" if i == 0 else "holdout"
        t0 = time.perf_counter()
        tr = simulate(seed, args.days)
        print(
            f"\nseed {seed} ({role}): {args.days} days, warm-up {args.warmup_days} days, "
            f"{len(tr.demand)} demand events, {len(tr.facts)} agent facts "
            f"({time.perf_counter() - t0:.0f} s)"
        )
        from_hour = tr.start_ms // HOUR_MS + args.warmup_days * 24
        if not args.no_demand:
            t1 = time.perf_counter()
            extra = demand_spikes(tr, args.spike, args.warmup_days, seed)
            judged = run_demand(tr, DemandConfig(horizon_h=24), extra)
            print(f"  demand ({time.perf_counter() - t1:.0f} s):")
            for floor in args.min_excess:
                d = score_demand(judged, extra, AnomalyRule(min_excess=floor), from_hour)
                print(
                    f"    min_excess {floor:g}: {d.alerts}/{d.judged} normal segment-hours "
                    f"= {d.alerts / max(d.judged, 1):.3f}, "
                    f"{d.alerts / max(d.segment_days, 1):.2f} per segment-day, "
                    f"{d.alerts / max(d.tenant_days, 1):.1f} per tenant-day; "
                    f"+{args.spike:g}x spikes caught {d.caught}/{d.spikes}"
                )
        for grain in args.grains:
            hours = agent_hours(tr, grain)
            start = from_hour // grain
            unit = "agent-hours" if grain == 1 else f"agent-{grain}h"
            for z in args.z:
                s = score_handle(hours, HandleRule(z), start, factors, grain)
                det = ", ".join(f"x{f:g}: {s.rate(f):.2f}" for f in factors)
                print(
                    f"  [{grain}h] handle time z>={z:g}: {s.alerts} alerts = "
                    f"{s.fa_per_agent_day():.3f} per agent-day; judgeable "
                    f"{s.eligible}/{s.active} {unit}; detection {det}"
                )
            for alpha in args.alpha:
                c = score_csat(hours, CsatRule(alpha), start, grain)
                print(
                    f"  [{grain}h] low CSAT p<={alpha:g}: {c.alerts} alerts = "
                    f"{c.fa_per_agent_day():.3f} per agent-day; judgeable {c.eligible}/{c.active} "
                    f"{unit}; detection (all 1s) {c.rate(1.0):.2f}"
                )


if __name__ == "__main__":
    main()
