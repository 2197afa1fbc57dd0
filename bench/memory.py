"""Resident memory of the flows' keyed state at 100k live agents and 1M clients (#11).

A one-run printout, not a test. Every state structure is built in a fresh child
process, so numbers never mix, by feeding realistic events (JSON bytes through the
ingest validator, :func:`schemas.events.parse_event`, which also decides string sharing
as in production) to the flows' own pure logic, sharded as the flows shard it. No
Kafka and no Bytewax: the adapters add per-shard bookkeeping, not per-key state.

For each structure the printout gives
  live      the growth of ``VmRSS`` (``/proc/self/status``, after a full GC) while the
            keys are built through the logic in event-time order, warm-up excluded:
            objects plus what the allocator keeps of the garbage made on the way
            (parsed events, closed windows, emitted rows), as in a running flow;
  restored  the growth of ``VmRSS`` in another fresh process that loads the snapshots
            (:func:`flows.core.state.load_state`), as a restart from the recovery store
            does: the objects alone, densely packed (though an int or float the live
            state shares comes back as one copy per reference: pickle does not memoise
            them);
  snapshot  the bytes :func:`flows.core.state.dump_state` writes for
            ``(state, StepTime)``, the payload each adapter snapshots.

What is built, per key:

agent   ``AgentWindowAggregator`` (agent_performance, keyed by agent shard): the agent's
        open 5 min / 1 h / 1 day windows with their heap entries and row ids, from each
        live agent's last hour of ticket work (created, assigned, first response,
        resolved, CSAT) through ``TicketTracker`` (the by-ticket join; its entries are
        dropped after each ticket's last event here, being per-ticket state, see
        ``ticket``), with each tenant's watermark (newest - 60 s) closing windows every
        10 s of event time, as the flow does (live rows: once, at the end).
        ``LiveOps`` (live_ops, keyed by tenant): the agent's latest status, from its
        last half hour of ``agent.status_changed`` (plus the CSAT the flow routes there).
client  ``ClientRiskTracker`` (client_risk, keyed by client shard): the client's decayed
        factor sums, latest health reading and level, from its last 30 days (a daily
        health reading, tickets with resolutions, reopenings and CSAT, service requests,
        complaints and escalations; SLA breaches decided by ``SlaTracker`` and
        reopenings mapped by ``TicketClients``, run per batch of clients and then
        dropped as per-ticket state), signals applied in the held step's
        (event time, key) order. Every client is built; none is extrapolated.
ticket  (context: SLA state is per ticket, not per client) the by-ticket state of a
        ticket of the last day, each part in its own processes as each is kept for its
        own time: ``TicketTracker`` (agent_performance's join, kept 30 days after the
        ticket's last event), ``SlaTracker`` (client_risk: the deadline until it passes,
        then a tombstone for a day) and ``TicketClients`` (client_risk: ticket -> client,
        kept 90 days). KB ticket texts are not included. A last line estimates, and
        says so, what these would add at the client model's ticket rate.

Mixes (priorities, severities, CSAT and escalation rates, troubled clients, the agent
status machine) come from the simulator's vocabulary (:mod:`infra.simulator.vocabulary`).

    python -m bench.memory              # 100,000 agents, 1,000,000 clients, 50,000 tickets
    python -m bench.memory --quick      # 10,000 / 100,000 / 10,000
    python -m bench.memory --agents 50000 --clients 0 --tickets 0
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydantic_core

from flows.agents.facts import TicketTracker
from flows.agents.keys import agent_shard
from flows.agents.windows import AgentWindowAggregator
from flows.core.config import CoreConfig
from flows.core.sharding import shard_of
from flows.core.state import dump_state, load_state
from flows.core.stateful import StepTime
from flows.core.timeutil import to_ms
from flows.ops.cadence import Cadence
from flows.ops.live_ops import LiveOps
from flows.ops.stateful import OpsState
from flows.risk.client_risk import (
    ClientRiskTracker,
    RiskSignal,
    TicketClients,
    signals_from_event,
)
from flows.risk.flow import CLIENT_TYPES, TICKET_TYPES, client_key, direct_signals
from flows.risk.sla import SlaPolicy, SlaTracker, breach_signal
from flows.risk.stateful import TicketRiskState, signal_order
from infra.simulator.vocabulary import (
    CSAT_P,
    DWELL_MIN,
    ESCALATE_P,
    FIRST_RESPONSE_MIN,
    NEXT_STATUS,
    PRIORITY,
    SEVERITY,
    SEVERITY_TROUBLED,
    SEVERITY_UP,
    TROUBLED_P,
    Weighted,
)
from schemas.events import Event, parse_event
from schemas.risk import RiskModel
from schemas.transport import Accepted

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
SEC, MIN, HOUR, DAY = 1000, 60_000, 3_600_000, 86_400_000

# "Now" in event time: a Monday afternoon, 2.5 min into a 5-minute window.
NOW_ISO = "2026-03-02T14:32:30Z"
NOW = to_ms(datetime(2026, 3, 2, 14, 32, 30, tzinfo=UTC))
LATENESS = 60 * SEC  # CXPULSE_ALLOWED_LATENESS_S default: watermark = newest - 60 s
CLOSE_EVERY = 10 * SEC  # how often (event time) windows close behind the watermark
TENANTS = 10
RATING = Weighted([(1, 0.06), (2, 0.05), (3, 0.14), (4, 0.35), (5, 0.40)])
STATUSES = ("active", "idle", "in_call", "offline")
PRIORITIES = ("low", "normal", "high", "urgent")
TEAMS = ("billing", "technical", "onboarding", "returns")
HELPDESK = "helpdesk"  # source of ticket events
TICKET_GAP_MIN = 15.0  # mean minutes between tickets an agent picks up
HANDLE_MIN = 15.0  # mean minutes from first response to resolution
TICKETS_PER_CLIENT = 1.2  # mean tickets per client over 30 days (troubled: 3x)
SERVICE_P = 0.25  # clients with a service request in 30 days
CALM_COMPLAINT_P = 0.03  # calm clients with a complaint in 30 days
REOPEN_P = 0.03
# Resolution delay: exponential with this share of the SLA as mean (~10 % breach).
RESOLVE_SLA_SHARE = 1 / math.log(10)
SLICE = 20_000  # timeline entries decoded at a time
CLIENT_BATCH = 2_000  # clients whose events are generated, ordered and applied together

Progressed = Callable[[int], None]


def _quiet(_done: int) -> None:
    pass


# ---- measuring ----------------------------------------------------------------------------


def rss_bytes() -> int:
    """Resident set size of this process (Linux)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status: this benchmark needs Linux")


def settled_rss(*, trim: bool = False) -> int:
    """RSS after a full collection; ``trim``: after glibc returned its free pages too
    (only for the restore, whose snapshot byte buffers are gone by then)."""
    gc.collect()
    if trim:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()


class Progress:
    """A progress line on stderr at most every 10 s."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total = what, max(total, 1)
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= 10.0:
            self.last = now
            pct = 100 * done / self.total
            print(
                f"    {self.what}: {done:,}/{self.total:,} ({pct:.0f} %), {now - self.start:.0f} s",
                file=sys.stderr,
                flush=True,
            )


# ---- events -------------------------------------------------------------------------------

_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


class Envelopes:
    """Envelopes as producers send them (JSON bytes), validated by the ingest parser."""

    def __init__(self, seed: int) -> None:
        self._bits = random.Random(seed).getrandbits
        self._sec = -1
        self._prefix = ""
        self.count = 0

    def _uuid4(self) -> str:
        h = "%032x" % (self._bits(128) & _V4_CLEAR | _V4_SET)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _iso(self, at_ms: int) -> str:
        sec, ms = divmod(at_ms, 1000)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._prefix}.{ms:03d}Z"

    def event(
        self,
        event_type: str,
        tenant: str,
        at_ms: int,
        payload: dict[str, Any],
        source: str,
        correlation_id: str | None = None,
    ) -> Event:
        self.count += 1
        envelope = {
            "event_id": self._uuid4(),
            "event_type": event_type,
            "schema_version": 1,
            "tenant_id": tenant,
            "occurred_at": self._iso(at_ms),
            "source": source,
            "correlation_id": correlation_id,
            "payload": payload,
        }
        return parse_event(pydantic_core.to_json(envelope))


def _expo(rng: random.Random, mean_ms: float) -> int:
    return int(rng.expovariate(1.0 / mean_ms))


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _created_payload(ticket: str, client: str, priority: str, queue: str) -> dict[str, Any]:
    return {
        "ticket_id": ticket,
        "client_id": client,
        "channel": "email",
        "queue": queue,
        "priority": priority,
        "category": queue,
        "subject": "Invoice shows a charge I do not recognise",
        "description": "Hello, my last invoice has an extra line for 49.00, please check.",
        "region": "north",
    }


def _resolved_payload(ticket: str, agent: str, queue: str) -> dict[str, Any]:
    return {
        "ticket_id": ticket,
        "agent_id": agent,
        "category": queue,
        "resolution_code": "refund",
        "resolution_text": "Refunded the duplicate charge and confirmed by email.",
    }


def _csat_payload(ticket: str, agent: str, client: str, rating: int) -> dict[str, Any]:
    return {
        "survey_id": f"csat-{ticket}",
        "ticket_id": ticket,
        "agent_id": agent,
        "client_id": client,
        "rating": rating,
        "comment": None,
    }


# ---- agents -------------------------------------------------------------------------------
#
# The agents' timeline is one event-time-sorted array of packed ints (8 bytes an event,
# allocated before the baseline), turned into events on the fly.

K_STATUS, K_CREATED, K_ASSIGNED, K_RESPONSE, K_RESOLVED, K_CSAT = range(6)
BASE = NOW - 4 * HOUR  # packed times are offsets from here (< 2**24 ms)
_AGENT_BITS, _TICKET_BITS = 21, 7
MAX_AGENTS = 1 << _AGENT_BITS
MAX_TICKETS = 1 << _TICKET_BITS
Step = tuple[int, int, int, int, int, bool]  # at, kind, agent, ticket, aux, ticket's last


def _pack(at_ms: int, kind: int, agent: int, ticket: int, aux: int, last: bool) -> int:
    x = ((at_ms - BASE) << 3 | kind) << _AGENT_BITS | agent
    return ((x << _TICKET_BITS | ticket) << 3 | aux) << 1 | int(last)


def _unpack(x: int) -> Step:
    last = bool(x & 1)
    x >>= 1
    aux = x & 7
    x >>= 3
    ticket = x & (MAX_TICKETS - 1)
    x >>= _TICKET_BITS
    agent = x & (MAX_AGENTS - 1)
    x >>= _AGENT_BITS
    return BASE + (x >> 3), x & 7, agent, ticket, aux, last


def agent_timeline(n: int, seed: int) -> npt.NDArray[np.int64]:
    """Every agent's last half hour of statuses and last hour of tickets, sorted."""
    if n >= MAX_AGENTS:
        raise SystemExit(f"--agents must be below {MAX_AGENTS:,}")
    rng = random.Random(seed)
    buf = array("q")
    for a in range(n):
        status = rng.choice(("active", "idle", "in_call"))
        t = NOW - 30 * MIN - rng.randrange(10 * MIN)
        while t <= NOW:
            buf.append(_pack(t, K_STATUS, a, 0, STATUSES.index(status), False))
            t += _expo(rng, DWELL_MIN[status] * MIN) + 30 * SEC
            status = NEXT_STATUS[status].pick(rng.random())
        t = NOW - HOUR + _expo(rng, TICKET_GAP_MIN * MIN)
        k = 0
        while t <= NOW and k < MAX_TICKETS:
            priority = PRIORITY.pick(rng.random())
            steps = [(t, K_CREATED, PRIORITIES.index(priority))]
            assigned = t + rng.randrange(5 * SEC, 3 * MIN)
            steps.append((assigned, K_ASSIGNED, 0))
            response = assigned + _expo(rng, FIRST_RESPONSE_MIN[priority] * MIN) + 30 * SEC
            steps.append((response, K_RESPONSE, 0))
            resolved = response + _expo(rng, HANDLE_MIN * MIN) + MIN
            steps.append((resolved, K_RESOLVED, 0))
            if rng.random() < CSAT_P:
                steps.append(
                    (resolved + _expo(rng, 3 * HOUR) + MIN, K_CSAT, RATING.pick(rng.random()))
                )
            kept = [s for s in steps if s[0] <= NOW]
            for j, (at, kind, aux) in enumerate(kept):
                buf.append(_pack(at, kind, a, k, aux, j == len(kept) - 1))
            k += 1
            t += _expo(rng, TICKET_GAP_MIN * MIN)
    out = np.frombuffer(buf, dtype=np.int64).copy()
    del buf
    out.sort()
    return out


def _steps(timeline: npt.NDArray[np.int64]) -> Iterator[Step]:
    for i in range(0, len(timeline), SLICE):
        for x in timeline[i : i + SLICE].tolist():
            yield _unpack(x)


def _agent_names(a: int, k: int) -> tuple[str, str, str]:
    tenant = f"t{a % TENANTS}"
    return tenant, f"agent-{tenant}-{a // TENANTS + 1}", f"tkt-{tenant}-{a:07d}-{k:03d}"


def _agent_event(env: Envelopes, at: int, kind: int, a: int, k: int, aux: int) -> Event:
    tenant, agent, ticket = _agent_names(a, k)
    queue = TEAMS[a % len(TEAMS)]
    if kind == K_STATUS:
        payload = {"agent_id": agent, "status": STATUSES[aux], "team": queue}
        return env.event("agent.status_changed", tenant, at, payload, "workforce")
    client = f"client-{tenant}-{(a * 7919 + k * 104_729) % 100_000 + 1}"
    if kind == K_CREATED:
        created = _created_payload(ticket, client, PRIORITIES[aux], queue)
        return env.event("ticket.created", tenant, at, created, "helpdesk", ticket)
    if kind == K_ASSIGNED:
        assigned = {"ticket_id": ticket, "agent_id": agent, "assigned_by": "auto"}
        return env.event("ticket.assigned", tenant, at, assigned, "helpdesk", ticket)
    if kind == K_RESPONSE:
        response = {"ticket_id": ticket, "agent_id": agent}
        return env.event("ticket.first_response", tenant, at, response, "helpdesk", ticket)
    if kind == K_RESOLVED:
        resolved = _resolved_payload(ticket, agent, queue)
        return env.event("ticket.resolved", tenant, at, resolved, "helpdesk", ticket)
    csat = _csat_payload(ticket, agent, client, aux)
    return env.event("csat.received", tenant, at, csat, "survey", ticket)


def build_agent_windows(
    timeline: npt.NDArray[np.int64], shards: int, env: Envelopes, progress: Progressed
) -> list[object]:
    """Ticket events -> ``TicketTracker`` facts -> per-shard window aggregators, closing
    windows behind each tenant's watermark every 10 s of event time.

    Live rows (which empty the set of changed windows) are taken once, at the end, shard
    by shard: a tailing flow takes them every 5 s of wall time, so its set holds a few
    seconds of changes; taking them that often here would double the run time for
    garbage (one row per window per fact), without changing what is kept."""
    tracker = TicketTracker()
    aggs: dict[str, AgentWindowAggregator] = {}
    newest: dict[str, int] = {}
    next_close = BASE

    def close() -> None:
        for tenant, top in newest.items():
            for agg in aggs.values():
                agg.close_due(tenant, top - LATENESS)

    for i, (at, kind, a, k, aux, last) in enumerate(_steps(timeline)):
        if i % 1000 == 0:
            progress(i)
        if kind == K_STATUS:
            continue
        if at >= next_close:
            close()
            next_close = at - at % CLOSE_EVERY + CLOSE_EVERY
        event = _agent_event(env, at, kind, a, k, aux)
        tenant = event.tenant_id
        newest[tenant] = max(newest.get(tenant, at), at)
        for fact in tracker.on_event(event):
            shard = agent_shard(shards, fact)
            agg = aggs.get(shard)
            if agg is None:
                agg = aggs[shard] = AgentWindowAggregator()
            if agg.add(fact, NOW) is not None:
                raise AssertionError("a fact in event-time order came late")
        if last:  # per-ticket state: built under "ticket", not here
            tracker.tickets.pop((tenant, _agent_names(a, k)[2]), None)
    close()
    for agg in aggs.values():
        agg.provisional()
    return list(aggs.values())


def describe_windows(states: list[Any], n: int) -> str:
    names = [key[2] for agg in states for key in agg.windows]
    per = {w: names.count(w) / n for w in ("5m", "1h", "1d")}
    return (
        f"{len(names) / n:.2f} open windows/agent (5m {per['5m']:.2f}, 1h {per['1h']:.2f}, "
        f"1d {per['1d']:.2f}) in {len(states)} shard states"
    )


def build_agent_status(
    timeline: npt.NDArray[np.int64], shards: int, env: Envelopes, progress: Progressed
) -> list[object]:
    """Statuses (and CSAT, which the flow routes there too) -> ``LiveOps`` per tenant."""
    ops: dict[str, OpsState] = {}
    for i, (at, kind, a, k, aux, _) in enumerate(_steps(timeline)):
        if i % 1000 == 0:
            progress(i)
        if kind not in (K_STATUS, K_CSAT):
            continue
        event = _agent_event(env, at, kind, a, k, aux)
        state = ops.get(event.tenant_id)
        if state is None:
            state = ops[event.tenant_id] = OpsState(LiveOps(event.tenant_id), Cadence(60_000))
        assert state.ops is not None
        state.ops.on_event(event)
    return list(ops.values())


def describe_status(states: list[Any], n: int) -> str:
    entries = sum(len(s.ops.agents) for s in states)
    return f"{entries:,} status entries in {len(states)} tenant states"


# ---- clients ------------------------------------------------------------------------------

Spec = tuple[int, str, dict[str, Any], str, str | None]  # at, type, payload, source, corr


def _client_specs(rng: random.Random, idx: int, policy: SlaPolicy) -> tuple[str, list[Spec]]:
    """One client's last 30 days, drawn like the simulator's world."""
    tenant = f"t{idx % TENANTS}"
    client = f"client-{tenant}-{idx // TENANTS + 1}"
    troubled = rng.random() < TROUBLED_P
    base = rng.uniform(30, 55) if troubled else rng.uniform(65, 95)
    health = round(min(max(base + rng.gauss(0.0, 2.0), 0.0), 100.0), 1)
    out: list[Spec] = [
        (
            NOW - rng.randrange(DAY),
            "client.health_updated",
            {"client_id": client, "health_score": health},
            "crm",
            None,
        )
    ]
    for k in range(_poisson(rng, TICKETS_PER_CLIENT * (3 if troubled else 1))):
        ticket = f"tkt-{tenant}-{idx:08d}-{k:02d}"
        agent = f"agent-{tenant}-{rng.randrange(1, 10_001)}"
        queue = TEAMS[rng.randrange(len(TEAMS))]
        priority = PRIORITY.pick(rng.random())
        created = NOW - rng.randrange(30 * DAY)
        payload = _created_payload(ticket, client, priority, queue)
        out.append((created, "ticket.created", payload, "helpdesk", ticket))
        sla_ms = policy.sla_ms(tenant, priority)
        resolved = created + _expo(rng, sla_ms * RESOLVE_SLA_SHARE) + MIN
        payload = _resolved_payload(ticket, agent, queue)
        out.append((resolved, "ticket.resolved", payload, "helpdesk", ticket))
        if rng.random() < REOPEN_P:
            at = resolved + _expo(rng, 8 * HOUR) + 5 * MIN
            out.append((at, "ticket.reopened", {"ticket_id": ticket}, "helpdesk", ticket))
        if rng.random() < CSAT_P:
            at = resolved + _expo(rng, 3 * HOUR) + MIN
            payload = _csat_payload(ticket, agent, client, RATING.pick(rng.random()))
            out.append((at, "csat.received", payload, "survey", ticket))
    if rng.random() < SERVICE_P:
        request = {
            "request_id": f"srv-{tenant}-{idx:08d}",
            "client_id": client,
            "region": "north",
            "service_type": "installation",
            "urgency": "normal",
        }
        out.append((NOW - rng.randrange(30 * DAY), "service.requested", request, "field", None))
    complaints = _poisson(rng, 2.0) if troubled else int(rng.random() < CALM_COMPLAINT_P)
    for c in range(complaints):
        complaint = f"cmp-{tenant}-{idx:08d}-{c:02d}"
        severity = (SEVERITY_TROUBLED if troubled else SEVERITY).pick(rng.random())
        at = NOW - rng.randrange(30 * DAY)
        opened = {
            "complaint_id": complaint,
            "client_id": client,
            "severity": severity,
            "category": "billing",
            "description": "Charged twice and nobody answers my emails.",
        }
        out.append((at, "complaint.created", opened, "complaints", None))
        if rng.random() < ESCALATE_P[severity]:
            at += _expo(rng, 4 * HOUR) + 10 * MIN
            up = {"complaint_id": complaint, "client_id": client, "severity": SEVERITY_UP[severity]}
            out.append((at, "complaint.escalated", up, "complaints", None))
        at += _expo(rng, 20 * HOUR) + 30 * MIN
        done = {"complaint_id": complaint, "client_id": client, "agent_id": f"agent-{tenant}-1"}
        out.append((at, "complaint.resolved", done, "complaints", None))
    return tenant, [s for s in out if s[0] <= NOW]


def build_clients(
    n: int, shards: int, seed: int, env: Envelopes, progress: Progressed
) -> list[object]:
    """Per batch of clients: the ticket side (SLA deadlines, ticket -> client) and the
    direct signals, then every signal in (event time, key) order into its client shard."""
    rng = random.Random(seed)
    policy, model = SlaPolicy(), RiskModel()  # FlowConfig's defaults
    trackers: dict[str, ClientRiskTracker] = {}
    ingested = datetime.now(UTC)
    for start in range(0, n, CLIENT_BATCH):
        progress(start)
        specs: list[tuple[int, int, str, Spec]] = []
        for idx in range(start, min(n, start + CLIENT_BATCH)):
            tenant, mine = _client_specs(rng, idx, policy)
            specs.extend((s[0], len(specs) + j, tenant, s) for j, s in enumerate(mine))
        specs.sort()
        ticket_side = TicketRiskState(SlaTracker(policy), TicketClients())
        signals: list[RiskSignal] = []
        for offset, (at, _, tenant, (_, event_type, payload, source, corr)) in enumerate(specs):
            event = env.event(event_type, tenant, at, payload, source, corr)
            if event_type in TICKET_TYPES:
                ticket_side.sla.on_event(event)
                signals.extend(ticket_side.clients.on_event(event))
                signals.extend(signals_from_event(event, ticket_side.clients.clients))
            elif event_type in CLIENT_TYPES:
                signals.extend(direct_signals(Accepted(event, 0, offset, ingested)))
        for t in range(TENANTS):
            breaches = ticket_side.sla.due(f"t{t}", NOW - LATENESS)
            signals.extend(breach_signal(b) for b in breaches)
        del ticket_side, specs
        signals.sort(key=signal_order)
        for signal in signals:
            shard = client_key(shards, signal)
            tracker = trackers.get(shard)
            if tracker is None:
                tracker = trackers[shard] = ClientRiskTracker(model)
            tracker.on_signal(signal)
        del signals
    return list(trackers.values())


def describe_clients(states: list[Any], n: int) -> str:
    clients = [c for t in states for c in t.clients.values()]
    health = sum(1 for c in clients if c.health is not None)
    with_sums = sum(1 for c in clients if c.sums)
    sums = sum(len(c.sums) for c in clients)
    return (
        f"{len(clients):,} clients: {health / n:.0%} with a health reading, {with_sums / n:.0%} "
        f"with factor sums ({sums / n:.2f} sums/client), in {len(states)} shard states"
    )


# ---- tickets (context) ----------------------------------------------------------------------


def _ticket_specs(rng: random.Random, idx: int, policy: SlaPolicy) -> tuple[str, list[Spec]]:
    """One ticket of the last day: created, assigned, first response, resolved, reopened."""
    tenant = f"t{idx % TENANTS}"
    ticket = f"tkt-{tenant}-{idx:08d}"
    client = f"client-{tenant}-{rng.randrange(1, 100_001)}"
    agent = f"agent-{tenant}-{rng.randrange(1, 10_001)}"
    queue = TEAMS[rng.randrange(len(TEAMS))]
    priority = PRIORITY.pick(rng.random())
    created = NOW - rng.randrange(DAY)
    assigned = created + rng.randrange(5 * SEC, 3 * MIN)
    response = assigned + _expo(rng, FIRST_RESPONSE_MIN[priority] * MIN) + 30 * SEC
    resolved = created + _expo(rng, policy.sla_ms(tenant, priority) * RESOLVE_SLA_SHARE) + MIN
    resolved = max(resolved, response + MIN)
    assignment = {"ticket_id": ticket, "agent_id": agent, "assigned_by": "auto"}
    out: list[Spec] = [
        (
            created,
            "ticket.created",
            _created_payload(ticket, client, priority, queue),
            HELPDESK,
            ticket,
        ),
        (assigned, "ticket.assigned", assignment, HELPDESK, ticket),
        (
            response,
            "ticket.first_response",
            {"ticket_id": ticket, "agent_id": agent},
            HELPDESK,
            ticket,
        ),
        (resolved, "ticket.resolved", _resolved_payload(ticket, agent, queue), HELPDESK, ticket),
    ]
    if rng.random() < REOPEN_P:
        at = resolved + _expo(rng, 8 * HOUR) + 5 * MIN
        out.append((at, "ticket.reopened", {"ticket_id": ticket}, HELPDESK, ticket))
    return tenant, [s for s in out if s[0] <= NOW]


def _ticket_events(
    n: int, seed: int, env: Envelopes, policy: SlaPolicy, progress: Progressed
) -> Iterator[tuple[str, str, Event]]:
    """(tenant, ticket, event) of ``n`` tickets, each ticket's events in order."""
    rng = random.Random(seed)
    for idx in range(n):
        if idx % 1000 == 0:
            progress(idx)
        tenant, specs = _ticket_specs(rng, idx, policy)
        for at, event_type, payload, source, ticket in specs:
            event = env.event(event_type, tenant, at, payload, source, ticket)
            yield tenant, str(ticket), event


def build_ticket_facts(
    n: int, shards: int, seed: int, env: Envelopes, progress: Progressed
) -> list[object]:
    """The agent_performance join, one ``TicketTracker`` per ticket shard."""
    trackers: dict[str, TicketTracker] = {}
    for tenant, ticket, event in _ticket_events(n, seed, env, SlaPolicy(), progress):
        shard = shard_of(shards, tenant, ticket)
        tracker = trackers.get(shard)
        if tracker is None:
            tracker = trackers[shard] = TicketTracker()
        tracker.on_event(event)
    return list(trackers.values())


def describe_ticket_facts(states: list[Any], n: int) -> str:
    return f"{sum(len(t.tickets) for t in states):,} tickets joined in {len(states)} shard states"


def _ticket_risk(
    n: int, shards: int, seed: int, env: Envelopes, progress: Progressed, *, sla: bool
) -> list[object]:
    """One half of the client_risk ticket step (``TicketRiskLogic.on_item``) per ticket
    shard: ``sla``: the deadlines, decided by the watermark (now - 60 s); otherwise the
    ticket -> client map (and the reopen signals it yields)."""
    policy = SlaPolicy()
    states: dict[str, TicketRiskState] = {}
    for tenant, ticket, event in _ticket_events(n, seed, env, policy, progress):
        shard = shard_of(shards, tenant, ticket)
        state = states.get(shard)
        if state is None:
            state = states[shard] = TicketRiskState(SlaTracker(policy))
        if sla:
            state.sla.on_event(event)
        else:
            state.clients.on_event(event)
            signals_from_event(event, state.clients.clients)
    for state in states.values():
        for t in range(TENANTS):
            state.sla.due(f"t{t}", NOW - LATENESS)
    return list(states.values())


def describe_sla(states: list[Any], n: int) -> str:
    open_ = sum(len(s.sla.open) for s in states)
    done = sum(len(s.sla.done) for s in states)
    return f"{open_:,} open deadlines, {done:,} decided (tombstones)"


def describe_ticket_clients(states: list[Any], n: int) -> str:
    return f"{sum(len(s.clients.clients) for s in states):,} ticket->client entries"


# ---- one structure per child process --------------------------------------------------------


@dataclass(frozen=True)
class Structure:
    kind: str  # the key it is counted per
    name: str  # what it is (the step)
    prepare: Callable[[int, int], Any]  # (n, seed) -> input allocated before the baseline
    build: Callable[[Any, int, Envelopes, Progressed], list[object]]
    describe: Callable[[list[Any], int], str]


def _nothing(n: int, seed: int) -> tuple[int, int]:
    return n, seed


def _clients(given: tuple[int, int], shards: int, env: Envelopes, p: Progressed) -> list[object]:
    return build_clients(given[0], shards, given[1], env, p)


def _facts(given: tuple[int, int], shards: int, env: Envelopes, p: Progressed) -> list[object]:
    return build_ticket_facts(given[0], shards, given[1], env, p)


def _sla(given: tuple[int, int], shards: int, env: Envelopes, p: Progressed) -> list[object]:
    return _ticket_risk(given[0], shards, given[1], env, p, sla=True)


def _map(given: tuple[int, int], shards: int, env: Envelopes, p: Progressed) -> list[object]:
    return _ticket_risk(given[0], shards, given[1], env, p, sla=False)


JOIN_NAME = "agent_performance ticket join (kept 30 d)"
SLA_NAME = "client_risk SLA deadline (to deadline + 1 d)"
MAP_NAME = "client_risk ticket->client (kept 90 d)"
STRUCTURES: dict[str, Structure] = {
    s.name: s
    for s in (
        Structure(
            "agent",
            "agent_performance windows",
            agent_timeline,
            build_agent_windows,
            describe_windows,
        ),
        Structure(
            "agent", "live_ops agent status", agent_timeline, build_agent_status, describe_status
        ),
        Structure("client", "client_risk scorer entry", _nothing, _clients, describe_clients),
        Structure("ticket", JOIN_NAME, _nothing, _facts, describe_ticket_facts),
        Structure("ticket", SLA_NAME, _nothing, _sla, describe_sla),
        Structure("ticket", MAP_NAME, _nothing, _map, describe_ticket_clients),
    )
}


@dataclass
class Measured:
    kind: str
    name: str
    keys: int
    rss_before: int
    rss_after: int
    snapshot: int
    events: int
    seconds: float
    detail: str
    restored: int = 0


def child_build(name: str, n: int, shards: int, seed: int, out_dir: Path) -> Measured:
    """Build ``n`` keys of one structure, measure, and write its snapshots to ``out_dir``."""
    s = STRUCTURES[name]
    s.build(s.prepare(50, seed + 1), shards, Envelopes(0), _quiet)  # imports, caches, paths
    given = s.prepare(n, seed)
    env = Envelopes(seed)
    before = settled_rss()
    started = time.perf_counter()
    states = s.build(given, shards, env, Progress(name, n if s.kind != "agent" else len(given)))
    seconds = time.perf_counter() - started
    after = settled_rss()
    snapshot = 0
    for i, state in enumerate(states):
        data = dump_state((state, StepTime()))
        (out_dir / f"{i:04d}.snapshot").write_bytes(data)
        snapshot += len(data)
    detail = s.describe(states, n)
    return Measured(s.kind, name, n, before, after, snapshot, env.count, seconds, detail)


def child_restore(in_dir: Path) -> int:
    """RSS growth from loading the snapshots in ``in_dir``, as a restart does."""
    before = settled_rss(trim=True)
    payloads = [load_state("bench", p.read_bytes()) for p in sorted(in_dir.iterdir())]
    after = settled_rss(trim=True)
    del payloads
    return after - before


def _child(args: list[str]) -> str:
    cmd = [sys.executable, "-m", "bench.memory", *args]
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def measure(name: str, n: int, shards: int, seed: int) -> Measured:
    """Build in one fresh interpreter, restore its snapshots in another."""
    with tempfile.TemporaryDirectory(prefix="cxpulse-memory-") as tmp:
        args = ["--build", name, "--n", str(n), "--shards", str(shards), "--seed", str(seed)]
        m = Measured(**json.loads(_child([*args, "--dir", tmp])))
        m.restored = int(_child(["--restore", tmp]))
    return m


# ---- the printout -------------------------------------------------------------------------------


def _mib(b: int) -> str:
    return f"{b / MIB:,.1f}"


def table(rows: list[Measured]) -> list[str]:
    head = (
        f"{'key':<7}{'keys':>10}  {'state (step)':<44}{'RSS before':>11}{'RSS after':>10}"
        f"{'live MiB':>10}{'live B/key':>11}{'restored MiB':>13}{'restored B/key':>15}"
        f"{'snapshot B/key':>15}"
    )
    lines = [head, "-" * len(head)]
    kinds = list(dict.fromkeys(m.kind for m in rows))
    for kind in kinds:
        mine = [m for m in rows if m.kind == kind]
        for i, m in enumerate(mine):
            live = m.rss_after - m.rss_before
            lines.append(
                f"{kind if i == 0 else '':<7}{f'{m.keys:,}' if i == 0 else '':>10}  "
                f"{m.name:<44}{_mib(m.rss_before):>11}{_mib(m.rss_after):>10}{_mib(live):>10}"
                f"{live / m.keys:>11,.0f}{_mib(m.restored):>13}{m.restored / m.keys:>15,.0f}"
                f"{m.snapshot / m.keys:>15,.0f}"
            )
        if len(mine) > 1:
            keys = mine[0].keys
            live = sum(m.rss_after - m.rss_before for m in mine)
            restored = sum(m.restored for m in mine)
            snapshot = sum(m.snapshot for m in mine)
            lines.append(
                f"{'':<17}  {'total':<44}{'':>21}{_mib(live):>10}{live / keys:>11,.0f}"
                f"{_mib(restored):>13}{restored / keys:>15,.0f}{snapshot / keys:>15,.0f}"
            )
    return lines


def ticket_estimate(rows: list[Measured], clients: int) -> str | None:
    """What the per-ticket state would add for ``clients`` at this client model's ticket
    rate, from the measured live bytes per ticket (an estimate, said so)."""
    live = {m.name: (m.rss_after - m.rss_before) / m.keys for m in rows}
    if clients <= 0 or not all(n in live for n in (JOIN_NAME, SLA_NAME, MAP_NAME)):
        return None
    per_day = clients * TICKETS_PER_CLIENT * (1 + 2 * TROUBLED_P) / 30
    policy = SlaPolicy()
    weights = dict(zip(PRIORITY.items, PRIORITY.cum, strict=True))
    mean_sla_h, last = 0.0, 0.0
    for priority, cum in weights.items():
        mean_sla_h += (cum - last) / PRIORITY.total * policy.hours_for("t0", priority)
        last = cum
    held = {JOIN_NAME: 30 * per_day, SLA_NAME: (1 + mean_sla_h / 24) * per_day}
    held[MAP_NAME] = 90 * per_day
    mib = sum(held[n] * live[n] for n in held) / MIB
    scores = next((m.rss_after - m.rss_before for m in rows if m.kind == "client"), 0) / MIB
    return (
        f"estimate, not measured: at this client model's {per_day * 30 / clients:.2f} tickets "
        f"per client per 30 days, {clients:,} clients keep ~{held[JOIN_NAME] / 1e6:.2f}M "
        f"tickets in the join, ~{held[MAP_NAME] / 1e6:.2f}M in the ticket->client map and "
        f"~{held[SLA_NAME] / 1e6:.2f}M in SLA state: ~{mib:,.0f} MiB at the live B/key "
        f"above (their own risk scores: {scores:,.0f} MiB)"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--agents", type=int, default=100_000, help="live agents (default 100000)")
    p.add_argument("--clients", type=int, default=1_000_000, help="clients (default 1000000)")
    p.add_argument("--tickets", type=int, default=50_000, help="tickets of the last day (0: skip)")
    p.add_argument(
        "--quick", action="store_true", help="10,000 agents, 100,000 clients, 10,000 tickets"
    )
    p.add_argument("--shards", type=int, default=CoreConfig().shards, help="state shards per step")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--build", choices=sorted(STRUCTURES), help=argparse.SUPPRESS)
    p.add_argument("--restore", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.build:
        # as ``cxpulse run`` does; imported here only: it pulls in every flow (1 s, 100 MB)
        from infra.runner import tune_gc

        tune_gc()
        print(json.dumps(asdict(child_build(args.build, args.n, args.shards, args.seed, args.dir))))
        return
    if args.restore:
        print(child_restore(args.restore))
        return
    if args.quick:
        args.agents, args.clients, args.tickets = 10_000, 100_000, 10_000
    counts = {"agent": args.agents, "client": args.clients, "ticket": args.tickets}
    started = time.perf_counter()
    load = os.getloadavg()[0]
    rows: list[Measured] = []
    for name, s in STRUCTURES.items():
        n = counts[s.kind]
        if n > 0:
            print(f"{s.kind}: {name}, {n:,} keys (fresh processes) ...", file=sys.stderr)
            rows.append(measure(name, n, args.shards, args.seed))
    total = time.perf_counter() - started
    print(
        "Keyed-state memory of the flows (#11): VmRSS growth of a fresh process building N keys "
        "(live) and of another loading their snapshots (restored)"
    )
    print(
        f"{os.cpu_count()} CPUs, load {load:.2f} at start; {args.shards} shards, {TENANTS} "
        f"tenants; event time now {NOW_ISO}; Python {sys.version.split()[0]}; 1 MiB = 2**20 B"
    )
    print()
    print("\n".join(table(rows)))
    print()
    for m in rows:
        print(
            f"{m.kind}/{m.name}: {m.keys:,} keys built through the logic (measured, not "
            f"extrapolated) from {m.events:,} events in {m.seconds:.0f} s; {m.detail}"
        )
    estimate = ticket_estimate(rows, args.clients)
    if estimate:
        print(estimate)
    print(f"total run time {total:.0f} s (imports, warm-ups, snapshots and restores included)")


if __name__ == "__main__":
    main()
