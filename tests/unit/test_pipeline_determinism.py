"""The whole dataflow, in process: any interleaving of the input partitions, any batch
size and any epoch length give the same output rows (processing-time fields aside).

The fast twin of ``tests/e2e/test_determinism.py``: no broker, no ClickHouse, so it can
try many interleavings (and a cluster of two workers, whose exchanges and epochs vary
as two processes' would). Partitions are kept in order, as Kafka keeps them; what varies
is everything Kafka and Bytewax leave to chance.
"""

from __future__ import annotations

import json
import random
import zlib
from collections import Counter
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import cluster_main, run_main
from pydantic import BaseModel

from flows.config import FlowConfig
from flows.pipeline import build_flow
from infra.simulator import SimConfig, Simulator
from schemas.alert_rules import parse_rules
from schemas.transport import RawMessage
from tests.unit.helpers import MINIMAL_PAYLOADS, MemoryIO, envelope

PARTITIONS = 3
PROCESSING_TIME = {"fired_at", "received_at", "recorded_at", "ingested_at"}
START = datetime(2026, 3, 2, tzinfo=UTC)
# threshold rules that fire and clear in the simulated traffic (alerts and resolutions);
# sla_breaches_1h counts the client-risk flow's breaches, routed into live ops
RULES = parse_rules(
    {
        t: [
            {"metric": "queue_depth", "op": ">", "threshold": 0, "for_s": 5, "severity": "low"},
            {
                "metric": "sla_breaches_1h",
                "op": ">",
                "threshold": 0,
                "for_s": 0,
                "severity": "high",
            },
        ]
        for t in ("acme", "globex", "initech")
    }
)


def _partitions(n: int) -> list[list[RawMessage]]:
    """``n`` simulated events (plus late ones and a poison pill), per partition in order."""
    sim = Simulator(SimConfig(seed=3, start=START, tickets_per_hour=40.0))
    events = []
    for i, e in enumerate(sim.events()):
        if i >= n:
            break
        events.append(e)
    rng = random.Random(5)
    early = [e for e in events[: n // 2] if e["event_type"].startswith(("ticket.", "csat."))]
    late = [dict(e, event_id=f"{e['event_id'][:-4]}beef") for e in rng.sample(early, 15)]
    raws = [json.dumps(e).encode() for e in [*events, *late]] + [b'{"not": json']
    parts: list[list[RawMessage]] = [[] for _ in range(PARTITIONS)]
    for raw in raws:
        try:
            doc = json.loads(raw)
            key = f"{doc['tenant_id']}/{doc['payload'].get('ticket_id', doc['event_id'])}"
        except ValueError:
            key = "poison"
        p = zlib.crc32(key.encode()) % PARTITIONS
        parts[p].append(RawMessage("ev", p, len(parts[p]), key.encode(), raw))
    return parts


def _interleave(parts: list[list[RawMessage]], seed: int) -> list[RawMessage]:
    rng = random.Random(seed)
    queues = [list(p) for p in parts]
    out: list[RawMessage] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        take = rng.randint(1, 50)
        out.extend(q[:take])
        del q[:take]
    return out


def _plain(item: Any) -> Any:
    if isinstance(item, BaseModel):
        d = item.model_dump(mode="json")
    elif is_dataclass(item) and not isinstance(item, type):
        d = json.loads(json.dumps(asdict(item), default=str))
    else:
        return repr(item)
    return json.dumps({k: v for k, v in d.items() if k not in PROCESSING_TIME}, sort_keys=True)


def _execute(flow: Dataflow, epoch_ms: int, workers: int) -> None:
    """Run in process; ``workers`` > 1: a Bytewax cluster of that many workers (threads
    exchanging items between the keyed steps, each closing epochs as it goes), as
    processes would."""
    epoch = timedelta(milliseconds=epoch_ms)
    if workers == 1:
        run_main(flow, epoch_interval=epoch)
    else:
        cluster_main(flow, [], 0, epoch_interval=epoch, worker_count_per_proc=workers)


def _run(
    messages: list[RawMessage], batch_size: int, epoch_ms: int, workers: int = 1
) -> dict[str, Counter[str]]:
    cfg = FlowConfig(
        input_partitions=PARTITIONS,
        idle_advance=False,
        provisional=False,
        shards=4,
        alert_rules=RULES,
    )
    io = MemoryIO(messages, batch_size)
    _execute(build_flow(cfg, io), epoch_ms, workers)
    return {name: Counter(_plain(x) for x in rows) for name, rows in io.out.items()}


@pytest.fixture(scope="module")
def parts() -> list[list[RawMessage]]:
    return _partitions(4000)


@pytest.fixture(scope="module")
def expected(parts: list[list[RawMessage]]) -> dict[str, Counter[str]]:
    return _run(_interleave(parts, 0), 5000, 10_000)


def test_the_reference_run_produces_every_kind_of_output(expected: dict[str, Counter[str]]) -> None:
    # erasures: an erasure's intermediate rows depend on arrival order by design (which of
    # the client's events beat it to a shard); what is left after it (nothing of the
    # client) is tested in tests/integration/test_erasure.py
    empty = {k for k, v in expected.items() if not v} - {"demand_backtest", "erasures"}
    assert not empty, {k: sum(v.values()) for k, v in expected.items()}
    assert sum(expected["late_events"].values()) > 0
    assert sum(expected["dead_letters"].values()) >= 1
    sla_rule_alerts = [
        r for r in expected["alerts"] if '"metric_name": "sla_breaches_1h"' in r
    ]  # the breaches reach the live-ops rules
    assert sla_rule_alerts


@pytest.mark.parametrize(
    ("seed", "batch_size", "epoch_ms", "workers"),
    [(1, 1, 0, 1), (2, 7, 1, 1), (3, 100, 0, 1), (4, 5000, 0, 1), (5, 13, 5, 1), (6, 100, 0, 2)],
)
def test_same_rows_for_any_interleaving_batch_size_epochs_and_workers(
    parts: list[list[RawMessage]],
    expected: dict[str, Counter[str]],
    seed: int,
    batch_size: int,
    epoch_ms: int,
    workers: int,
) -> None:
    got = _run(_interleave(parts, seed), batch_size, epoch_ms, workers)
    for name, rows in expected.items():
        if name == "events":  # same events; their offsets differ by interleaving only
            assert sum(got[name].values()) == sum(rows.values())
            continue
        diff = (got[name] - rows) + (rows - got[name])
        assert not diff, (name, list(diff)[:3])


# ---- joins that wait: resolutions without (or before) their assignment ---------------------

ZETA = "zeta"  # a tenant of its own: its event time is its own
Z0 = datetime(2026, 3, 2, 8, tzinfo=UTC)
AGENT_ONLY = frozenset({"ingest", "agent_performance"})


def _z(event_type: str, ticket: str, when: datetime, agent: str = "z-ag") -> dict[str, Any]:
    payload: dict[str, Any] = {"ticket_id": ticket}
    if event_type == "ticket.created":
        payload = {
            **MINIMAL_PAYLOADS["ticket.created"],
            "ticket_id": ticket,
        }
    elif event_type == "ticket.assigned":
        payload = {"ticket_id": ticket, "agent_id": agent, "assigned_by": "auto"}
    elif event_type == "ticket.first_response":
        payload = {"ticket_id": ticket, "agent_id": agent}
    elif event_type == "ticket.resolved":
        payload = {**MINIMAL_PAYLOADS["ticket.resolved"], "ticket_id": ticket, "agent_id": agent}
    return envelope(event_type, payload, occurred_at=when, tenant=ZETA)


def _waiting_joins() -> list[dict[str, Any]]:
    """Two days of one tenant's tickets (every partition moves its clock on) with the joins
    that wait, in each ticket's partition order: resolutions whose assignment never comes,
    comes later in event time, comes later in the partition but stamped earlier (within the
    lateness, and beyond it), first responses before their ticket's creation (which comes,
    stamped before or after them, or never), on window edges; and a resolution whose ticket
    expires (30 days) before an assignment stamped before it arrives."""
    m = timedelta(minutes=1)
    ms = timedelta(milliseconds=1)
    out: list[tuple[datetime, int, dict[str, Any]]] = []  # (send order time, tie, event)

    def send(order: datetime, event: dict[str, Any]) -> None:
        out.append((order, len(out), event))

    for i in range(2 * 24 * 6):  # a ticket every 10 minutes, resolved in 4
        t = Z0 + 10 * m * i
        send(t, _z("ticket.created", f"N{i}", t))
        send(t + m, _z("ticket.assigned", f"N{i}", t + m, f"z-ag{i % 3}"))
        send(t + 4 * m, _z("ticket.resolved", f"N{i}", t + 4 * m, f"z-ag{i % 3}"))
    for h in range(1, 30):  # on window edges, an hour apart
        edge = Z0 + timedelta(hours=h)
        for j, r in enumerate((edge - ms, edge, edge + 5 * m - ms)):
            k = f"{h}-{j}"
            send(r, _z("ticket.resolved", f"U{k}", r))  # never assigned
            send(r, _z("ticket.resolved", f"A{k}", r))  # assigned after it was resolved
            send(r + 2 * m, _z("ticket.assigned", f"A{k}", r + 2 * m))
            send(r, _z("ticket.resolved", f"O{k}", r))  # assignment stamped before, sent after
            send(r + ms, _z("ticket.assigned", f"O{k}", r - m / 6))
            send(r, _z("ticket.resolved", f"L{k}", r))  # ... sent beyond the lateness
            send(r + 2 * timedelta(hours=1), _z("ticket.assigned", f"L{k}", r - m))
            send(r, _z("ticket.first_response", f"F{k}", r))  # created before, sent after
            send(r + ms, _z("ticket.created", f"F{k}", r - 3 * m))
            send(r, _z("ticket.first_response", f"S{k}", r))  # created after (skewed clocks)
            send(r + ms, _z("ticket.created", f"S{k}", r + m / 3))
            send(r, _z("ticket.first_response", f"G{k}", r))  # never created
            send(r, _z("ticket.first_response", f"H{k}", r))  # created before, beyond lateness
            send(r + 2 * timedelta(hours=1), _z("ticket.created", f"H{k}", r - 2 * m))
    far = Z0 + timedelta(days=31)
    send(Z0 + 30 * m, _z("ticket.resolved", "X1", Z0 + 30 * m))  # its ticket expires ...
    for i in range(40):  # ... while the tenant's clock moves a month on, on every partition
        t = far + m * i
        send(t, _z("ticket.created", f"M{i}", t))
    send(far + 50 * m, _z("ticket.assigned", "X1", Z0 + 20 * m))  # ... before this arrives
    return [e for _, _, e in sorted(out, key=lambda o: (o[0], o[1]))]


def _by_partition(docs: list[dict[str, Any]]) -> list[list[RawMessage]]:
    parts: list[list[RawMessage]] = [[] for _ in range(PARTITIONS)]
    for doc in docs:
        key = f"{doc['tenant_id']}/{doc['payload']['ticket_id']}"
        p = zlib.crc32(key.encode()) % PARTITIONS
        parts[p].append(RawMessage("ev", p, len(parts[p]), key.encode(), json.dumps(doc).encode()))
    return parts


def _run_agents(
    messages: list[RawMessage], batch_size: int, epoch_ms: int, workers: int = 1
) -> dict[str, Any]:
    """The agent-performance flow alone, as :func:`_run` runs the whole dataflow."""
    cfg = FlowConfig(
        input_partitions=PARTITIONS,
        idle_advance=False,
        provisional=False,
        shards=4,
        flows=AGENT_ONLY,
    )
    io = MemoryIO(messages, batch_size)
    _execute(build_flow(cfg, io), epoch_ms, workers)
    return {name: Counter(_plain(x) for x in rows) for name, rows in io.out.items()}


@pytest.fixture(scope="module")
def waiting() -> list[list[RawMessage]]:
    return _by_partition(_waiting_joins())


@pytest.fixture(scope="module")
def waiting_expected(waiting: list[list[RawMessage]]) -> dict[str, Any]:
    return _run_agents(_interleave(waiting, 0), 5000, 10_000)


def test_resolutions_that_wait_for_their_assignment_are_counted_once_and_on_time(
    waiting_expected: dict[str, Any],
) -> None:
    """Every resolution counts (with a handle time when an assignment at or before it is
    known in time); only events beyond the lateness are late records."""
    finals = [json.loads(r) for r in waiting_expected["agent_performance"] if '"5m"' in r]
    z = [r for r in finals if r["tenant_id"] == ZETA and r["is_final"]]
    resolved = sum(r["tickets_resolved"] for r in z)
    edges = 29 * 3
    assert resolved == 2 * 24 * 6 + 4 * edges + 1  # N, U, A, O, L and X1
    timed = sum(r["handle_time_count"] for r in z)
    assert timed == 2 * 24 * 6 + edges  # N and O (A: assigned after; L: too late)
    responses = sum(r["first_response_count"] for r in z)
    assert responses == edges  # F (S: skewed clocks; G: never created; H: too late)
    late = [json.loads(r) for r in waiting_expected["late_events"]]
    assert {r["event_type"] for r in late} == {"ticket.assigned"}  # a creation is no fact
    assert len(late) == edges + 1  # L's assignments and X1's


@pytest.mark.parametrize(
    ("seed", "batch_size", "epoch_ms", "workers"),
    [(1, 1, 0, 1), (2, 7, 1, 1), (3, 100, 0, 1), (4, 5000, 0, 1), (5, 13, 5, 1), (6, 100, 0, 2)],
)
def test_waiting_joins_give_the_same_rows_for_any_batching_and_workers(
    waiting: list[list[RawMessage]],
    waiting_expected: dict[str, Any],
    seed: int,
    batch_size: int,
    epoch_ms: int,
    workers: int,
) -> None:
    got = _run_agents(_interleave(waiting, seed), batch_size, epoch_ms, workers)
    for name, rows in waiting_expected.items():
        if name == "events":
            continue
        diff = (got[name] - rows) + (rows - got[name])
        assert not diff, (name, sorted(diff)[:3])
