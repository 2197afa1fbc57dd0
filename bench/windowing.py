"""Windowing alone, in memory: cxpulse's sharded aggregator vs Bytewax's window operators.

Same facts, same three window sizes (5 min, 1 h, 1 day), at several agent counts, so
the cost of key cardinality shows without Kafka or ClickHouse in the way. Bytewax's
``fold_window`` keeps a window state machine per key; the aggregator keeps one per
shard (see flows/agents/windows.py).

    python -m bench.windowing --facts 200000 --agents 100 10000 100000
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
from bytewax.testing import TestingSink, TestingSource, run_main

from flows.agents.facts import AgentFact, FactKind
from flows.agents.keys import agent_shard
from flows.agents.stateful import AgentWindowLogic
from flows.config import FlowConfig
from flows.core.timeutil import from_ms, to_ms
from infra.runner import tune_gc

ALIGN = datetime(2020, 1, 1, tzinfo=UTC)
SIZES = (timedelta(minutes=5), timedelta(hours=1), timedelta(days=1))


def facts(n: int, agents: int, seed: int = 1) -> list[AgentFact]:
    rng = random.Random(seed)
    t0 = to_ms(datetime.now(UTC) - timedelta(days=3))
    kinds = (FactKind.ASSIGNED, FactKind.RESOLVED, FactKind.FIRST_RESPONSE, FactKind.CSAT)
    eid = uuid.uuid4()
    return [
        AgentFact(
            "t1",
            f"agent-{rng.randrange(agents)}",
            kinds[i % 4],
            t0 + i * 250,
            rng.randint(1, 5) if i % 4 == 3 else 60_000,
            eid,
            "bench",
        )
        for i in range(n)
    ]


def _fact_time(f: AgentFact) -> datetime:
    return from_ms(f.at_ms)


def _agent_key(f: AgentFact) -> str:
    return f"{f.tenant_id}/{f.agent_id}"


def _new_acc() -> list[int]:
    return [0, 0]


def _fold(acc: list[int], f: AgentFact) -> list[int]:
    acc[0] += 1
    acc[1] += f.value or 0
    return acc


def _merge(a: list[int], b: list[int]) -> list[int]:
    return [a[0] + b[0], a[1] + b[1]]


def builtin_flow(items: list[AgentFact], out: list[object]) -> Dataflow:
    flow = Dataflow("builtin")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(items, 5000)), _agent_key)
    for size in SIZES:
        clock = EventClock(_fact_time, wait_for_system_duration=timedelta(seconds=60))
        win = fold_window(
            f"w{size.seconds}", keyed, clock, TumblingWindower(size, ALIGN), _new_acc, _fold, _merge
        )
        op.output(f"out{size.seconds}", win.down, TestingSink(out))
    return flow


def sharded_flow(items: list[AgentFact], out: list[object], shards: int) -> Dataflow:
    cfg = FlowConfig(shards=shards, idle_advance=False, provisional=False, input_partitions=1)
    flow = Dataflow("sharded")
    keyed = op.key_on(
        "key", op.input("in", flow, TestingSource(items, 5000)), partial(agent_shard, shards)
    )
    win = op.stateful_batch("windows", keyed, partial(AgentWindowLogic, cfg))
    op.output("out", win, TestingSink(out))
    return flow


def timed(build: Callable[[list[object]], Dataflow], n: int) -> tuple[float, int]:
    out: list[object] = []
    flow = build(out)
    start = time.perf_counter()
    run_main(flow)  # type: ignore[no-untyped-call]
    return n / (time.perf_counter() - start), len(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--facts", type=int, default=200_000)
    ap.add_argument("--agents", type=int, nargs="+", default=[100, 10_000, 100_000])
    ap.add_argument("--shards", type=int, default=32)
    args = ap.parse_args()
    tune_gc()
    print(f"{args.facts} facts, windows 5m+1h+1d; events/s (rows emitted)")
    print(f"{'agents':>8} {'bytewax fold_window':>22} {'cxpulse sharded':>20} {'speed-up':>9}")
    for agents in args.agents:
        items = facts(args.facts, agents)
        b_rate, b_rows = timed(partial(builtin_flow, items), args.facts)
        s_rate, s_rows = timed(partial(sharded_flow, items, shards=args.shards), args.facts)
        print(
            f"{agents:>8} {b_rate:>14,.0f} ({b_rows:>6}) {s_rate:>11,.0f} ({s_rows:>6}) "
            f"{s_rate / b_rate:>8.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
