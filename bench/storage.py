"""Storage writer vs bare clickhouse-connect columnar inserts, on the same batches.

For each table and batch size: build ``--batches`` batches of realistic result rows with
the project's row types (``events`` from the synthetic workload of bench/workload.py,
parsed and wrapped as the ingest flow does; agent windows, client risk scores with
their factors, alerts with JSON details), then, on a fresh migrated database of the
embedded engine, time alternately
  bare    ``client.insert(table, columns, column_names=..., column_oriented=True)`` of
          columns built beforehand (untimed): the ceiling for a Python writer
  writer  what the storage writer does with the same rows read from their result
          topic: the messages (encoded beforehand by the flows' ``RowCodec``, untimed)
          decoded into columns, then ``ClickHouseWriter.write_columns`` (the insert,
          metrics)
and print rows/s of each and the ratio writer / bare (the goal of issue #11 is >= 0.8).
Rates are medians over the batches; the two are interleaved so background merges and
machine load hit both alike. The garbage collector is tuned as ``cxpulse run`` tunes it
(:func:`infra.runner.tune_gc`): with the default thresholds, collections walking the
batches held in memory cost more than the conversion itself and swamp the comparison.

    python -m bench.storage --sizes 1000 10000 --batches 7
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.workload import mixed_traffic
from infra.migrate import migrate
from infra.runner import tune_gc
from schemas.events import parse_event
from schemas.results import AgentWindow, Alert
from schemas.risk import ClientRisk, RiskFactor
from schemas.transport import Accepted
from sinks.clickhouse_client import open_client
from sinks.clickhouse_sink import ClickHouseWriter
from sinks.result_rows import RowCodec
from sinks.tables import AGENT_PERFORMANCE, ALERTS, CLIENT_RISK, EVENTS, TableSpec

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # every batch within one month: one partition


def events(n: int, rng: random.Random) -> list[Accepted]:
    """Validated events as the ingest flow hands them to the ``events`` sink."""
    seed = rng.randrange(1 << 30)
    traffic = mixed_traffic(n, agents=2000, clients=20000, seed=seed, late_share=0.0)
    now = datetime.now(UTC)
    return [Accepted(parse_event(value), i % 3, i, now) for i, (_key, value) in enumerate(traffic)]


def agent_windows(n: int, rng: random.Random) -> list[AgentWindow]:
    """Window rows of 5m/1h/1d windows with every counter filled in."""
    out = []
    for i in range(n):
        window = ("5m", "1h", "1d")[i % 3]
        size = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
        start = T0 + timedelta(minutes=5 * rng.randrange(288 * 20))
        assigned = rng.randrange(1, 40)
        csat = rng.randrange(0, 10)
        out.append(
            AgentWindow(
                row_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                version=2 * rng.randrange(1, 100) + 1,
                is_final=True,
                tenant_id=f"tenant-{rng.randrange(10)}",
                agent_id=f"agent-{rng.randrange(10_000)}",
                window=window,
                window_start=start,
                window_end=start + size[window],
                tickets_assigned=assigned,
                tickets_resolved=rng.randrange(0, assigned + 1),
                handle_time_sum_s=rng.uniform(60, 36_000),
                handle_time_count=rng.randrange(1, 40),
                first_response_sum_s=rng.uniform(10, 9_000),
                first_response_count=rng.randrange(1, 40),
                csat_sum=csat * rng.randrange(1, 6),
                csat_count=csat,
                low_csat_count=rng.randrange(0, csat + 1),
            )
        )
    return out


_FACTORS = ("complaints", "escalations", "low_csat", "sla_breaches", "reopens", "health")


def client_risks(n: int, rng: random.Random) -> list[ClientRisk]:
    """Risk scores with one to five factors each (two parallel array columns)."""
    out = []
    for _ in range(n):
        names = rng.sample(_FACTORS, rng.randrange(1, 6))
        p = rng.random()
        out.append(
            ClientRisk(
                risk_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                tenant_id=f"tenant-{rng.randrange(10)}",
                client_id=f"client-{rng.randrange(100_000)}",
                version=rng.randrange(1, 50),
                scored_at=T0 + timedelta(seconds=rng.randrange(86_400 * 20)),
                churn_probability=p,
                risk_level=("low", "medium", "high", "critical")[min(3, int(p * 4))],
                factors=[RiskFactor(name=f, contribution=rng.uniform(0, 2)) for f in names],
                trigger_event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            )
        )
    return out


def alerts(n: int, rng: random.Random) -> list[Alert]:
    """Coaching, SLA and risk alerts with small JSON details."""
    out = []
    for _ in range(n):
        at = T0 + timedelta(seconds=rng.randrange(86_400 * 20))
        kind = rng.choice(("coaching", "sla_breach", "client_risk"))
        out.append(
            Alert(
                alert_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                tenant_id=f"tenant-{rng.randrange(10)}",
                kind=kind,
                severity=rng.choice(("low", "medium", "high", "critical")),
                subject_type="agent" if kind == "coaching" else "client",
                subject_id=f"agent-{rng.randrange(10_000)}",
                title=f"{kind} for subject {rng.randrange(10_000)}",
                details={
                    "rating": rng.randrange(1, 6),
                    "ticket_id": f"tk-{rng.randrange(1_000_000)}",
                    "comment": "waited too long for an answer",
                },
                event_time=at,
                fired_at=at + timedelta(milliseconds=rng.randrange(500)),
            )
        )
    return out


GENERATORS: dict[str, tuple[TableSpec[Any], Callable[[int, random.Random], list[Any]]]] = {
    "events": (EVENTS, events),
    "agent_performance": (AGENT_PERFORMANCE, agent_windows),
    "client_risk": (CLIENT_RISK, client_risks),
    "alerts": (ALERTS, alerts),
}


def columns_of_rows(spec: TableSpec[Any], items: Sequence[Any]) -> list[list[Any]]:
    """The batch as one list per column (built once, outside the timed bare insert)."""
    rows = [spec.to_row(item) for item in items]
    return [list(column) for column in zip(*rows, strict=True)] if rows else []


def _rate(rows: int, seconds: list[float]) -> float:
    return rows / statistics.median(seconds)


def measure(
    client: Any,
    opener: Callable[[], Any],
    spec: TableSpec[Any],
    batches: list[list[Any]],
) -> tuple[float, float]:
    """Median rows/s of the bare columnar insert and of the writer, interleaved (the
    first batch warms both up, untimed)."""
    writer: ClickHouseWriter[Any] = ClickHouseWriter(opener, spec)
    writer.setup()
    codec = RowCodec(spec)
    names = list(spec.columns)
    prepared = [columns_of_rows(spec, b) for b in batches]
    messages = [[value for _, value, _ in codec.encode_batch(b)] for b in batches]

    def store(values: list[bytes]) -> None:
        columns, bad = codec.decode_batch(values)
        if bad:
            raise RuntimeError(f"{spec.table}: {len(bad)} messages of a valid batch not rows")
        writer.write_columns(columns)

    # one untimed round of each: first-insert costs (parts, caches) are not the rate
    client.insert(spec.table, prepared[0], column_names=names, column_oriented=True)
    store(messages[0])
    bare: list[float] = []
    ours: list[float] = []
    for values, columns in zip(messages[1:], prepared[1:], strict=True):
        started = time.perf_counter()
        client.insert(spec.table, columns, column_names=names, column_oriented=True)
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        store(values)
        ours.append(time.perf_counter() - started)
    if writer.rows_dead_lettered:
        raise RuntimeError(f"{spec.table}: the writer dead-lettered rows of a valid batch")
    writer.close()
    size = len(batches[0])
    return _rate(size, bare), _rate(size, ours)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storage",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=sorted(GENERATORS),
        default=list(GENERATORS),
        help="tables to measure (default: all four)",
    )
    parser.add_argument(
        "--sizes", nargs="+", type=int, default=[1000, 10_000], help="rows per batch"
    )
    parser.add_argument(
        "--batches", type=int, default=7, help="timed batches per table and size (median)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dsn", default=None, help="ClickHouse DSN (default: embedded engine in a temp dir)"
    )
    args = parser.parse_args(argv)
    if args.batches < 1 or any(s < 1 for s in args.sizes):
        parser.error("--batches and --sizes must be positive")

    with tempfile.TemporaryDirectory(prefix="cxpulse-bench-storage-") as tmp:
        dsn = args.dsn or f"chdb://{Path(tmp) / 'clickhouse'}"
        database = f"bench_{uuid.uuid4().hex[:10]}"
        migrate(dsn, database, log=lambda _m: None)
        opener = partial(open_client, dsn, database)
        client = opener()
        rng = random.Random(args.seed)
        results: list[tuple[str, int, float, float]] = []
        for table in args.tables:
            spec, make = GENERATORS[table]
            for size in args.sizes:
                print(f"{table}: generating {args.batches + 1} x {size} rows ...", file=sys.stderr)
                batches = [make(size, rng) for _ in range(args.batches + 1)]
                tune_gc()  # as the flows run: the batches are long-lived, like flow state
                print(f"{table}: inserting {size}-row batches ...", file=sys.stderr, flush=True)
                bare, ours = measure(client, opener, spec, batches)
                results.append((table, size, bare, ours))
                print(
                    f"{table:<18} {size:>7,} rows  bare {bare:>10,.0f}/s  "
                    f"writer {ours:>10,.0f}/s  ratio {ours / bare:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
        client.close()

    print()
    print(f"{'table':<18} {'batch':>7}  {'bare rows/s':>12}  {'writer rows/s':>13}  ratio")
    for table, size, bare, ours in results:
        print(f"{table:<18} {size:>7,}  {bare:>12,.0f}  {ours:>13,.0f}  {ours / bare:5.2f}")
    ratios = [ours / bare for _, _, bare, ours in results]
    mean = statistics.geometric_mean(ratios)
    print(f"\nwriter / bare: min {min(ratios):.2f}, geometric mean {mean:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
