"""Pipeline throughput vs raw Kafka consume, on the same topic, in one run.

For each key count N (N agents and N clients): produce the synthetic workload of
bench/workload.py to a fresh topic, then measure
  raw consume         confluent-kafka reading the whole topic (the ceiling)
  raw + json.loads    the same, parsing every value with ``json.loads`` (the baseline
                      issue #11's goals are ratios to)
  ingest              decode, validate, dedup, ClickHouse ``events``
  +agent_performance  ticket joins, 5m/1h/1d windows, coaching alerts
  +client_risk        SLA deadlines, ticket->client map, risk scores and alerts
  +live_ops           per-tenant queue/agent/CSAT/message state and snapshots
  +demand             hourly counts per segment, forecasts, backtests, hotspots
  +kb                 ticket texts joined with resolutions, clustering, suggestions
  +routing            per-tenant agent state, a recommendation per ticket and complaint,
                      the decision log (the workload has no agent statuses, so no agent is
                      eligible: this measures the state and log upkeep, not the scoring)
  all flows
  all, recovery off   all flows without a recovery store (recovery on / off is a goal)
  all, 1 process      ``cxpulse run --until-end --no-store --processes 1`` (all flows) as
  all, 2 processes    a subprocess, and the same with 2 compute processes (issue #11: 2
                      processes / 1 process >= 1.7)
The in-process steps run the compute the way ``cxpulse run <flows> --until-end`` does
(real broker, Bytewax recovery on; the flows publish their rows to result topics and
never open ClickHouse), timed alone; then the storage writer drains the step's result
topics into a fresh database of an embedded ClickHouse (``infra.storage.drain``), timed
apart. Printed per step: compute events/s, its ratios to raw consume and to raw consume
+ ``json.loads``, the late share measured (rows in ``late_events`` / events) and the
storage writer's rows/s.

The subprocess steps time the command's wall clock, start-up included (interpreter,
imports, topic checks, migrations of a throwaway embedded ClickHouse, compute process
start, Bytewax cluster connect, shutdown); the start-up is measured by the same command
on an empty events topic just before, and the rate is printed with and without it
subtracted. Their results are then drained and checked like the others. Every step has
its own result topics (``CXPULSE_RESULTS_PREFIX``) and data dir, so none reads another's
results or recovery store.

The workload is sent in event-time order per partition, plus ``--late-share`` of the
events sent more than the allowed lateness (CXPULSE_ALLOWED_LATENESS_S) late; see
bench/workload.py.

    python -m bench.pipeline --events 200000 --keys 100 10000 100000 --late-share 0.01
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bench.workload import WorkloadStats, mixed_traffic
from flows.config import FLOW_NAMES
from infra.kafka_local import LocalKafka, free_port
from infra.migrate import migrate
from infra.producer import EventProducer
from infra.runner import run_flows
from infra.storage import drain
from infra.topics import ensure_topics
from schemas.settings import Settings
from sinks.clickhouse_client import open_client

ROOT = Path(__file__).resolve().parents[1]
CLI_TIMEOUT_S = 900.0


@dataclass
class Result:
    name: str
    events: int
    seconds: float  # compute (subprocess steps: wall clock of the command)
    late: int | None = None  # rows in late_events; None where not measured
    startup: float | None = None  # subprocess steps: the command on an empty topic
    stored: int | None = None  # rows the storage writer stored (drain's return value)
    store_seconds: float | None = None
    cpu: float | None = None  # CPU seconds of the compute (subprocess steps: net of start-up)

    @property
    def cores(self) -> float | None:
        """Cores the compute kept busy on average (its CPU seconds / its seconds)."""
        net = self.seconds - (self.startup or 0.0)
        return None if self.cpu is None or net <= 0 else self.cpu / net

    @property
    def rate(self) -> float:
        """Compute events/s; subprocess steps: start-up subtracted (nan if nothing left)."""
        net = self.seconds - (self.startup or 0.0)
        return self.events / net if net > 0 else math.nan

    @property
    def wall_rate(self) -> float:
        return self.events / self.seconds

    @property
    def late_share(self) -> str:
        return "-" if self.late is None else f"{self.late / self.events:.2%}"

    @property
    def store_rate(self) -> float | None:
        if self.stored is None or not self.store_seconds:
            return None
        return self.stored / self.store_seconds


def produce(
    settings: Settings, n: int, agents: int, clients: int, seed: int, late_share: float
) -> WorkloadStats:
    """Sends ``n`` events spread over exactly ``agents`` agents and ``clients`` clients."""
    stats = WorkloadStats()
    traffic = mixed_traffic(
        n,
        agents,
        clients,
        seed,
        late_share=late_share,
        lateness_s=settings.allowed_lateness_s,
        partitions=settings.topic_partitions,
        stats=stats,
    )
    with EventProducer(settings.kafka_bootstrap, settings.events_topic) as producer:
        for key, value in traffic:
            producer.send(key, value)
    assert stats.events == n, f"generated {stats.events} of {n} events"
    return stats


def raw_consume(settings: Settings, n: int, batch: int, *, parse: bool = False) -> Result:
    """Read the whole topic; ``parse``: also ``json.loads`` every value, the cheapest
    Python that touches each event (the baseline the ingest goals are measured on)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": uuid.uuid4().hex,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
        }
    )
    md = consumer.list_topics(settings.events_topic, timeout=10).topics[settings.events_topic]
    consumer.assign([TopicPartition(settings.events_topic, p, 0) for p in md.partitions])
    got = 0
    start = time.perf_counter()
    while got < n:
        for m in consumer.consume(batch, 1.0):
            if m.error() is None:
                value = m.value()
                if parse and value is not None:
                    json.loads(value)
                got += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    return Result("raw + json.loads" if parse else "raw consume", got, elapsed)


def store(settings: Settings, result: Result) -> Result:
    """Drain the step's result topics into its database (timed), check that every event
    was stored and count the late ones; fills in ``result``."""
    start = time.perf_counter()
    result.stored = drain(settings)
    result.store_seconds = time.perf_counter() - start
    client = open_client(settings.dsn, settings.clickhouse_database)
    stored = int(client.query("SELECT count() FROM events").result_rows[0][0])
    assert stored == result.events, f"{result.name}: {stored} of {result.events} events stored"
    result.late = int(client.query("SELECT count() FROM late_events FINAL").result_rows[0][0])
    return result


def pipeline(
    settings: Settings, flows: frozenset[str], n: int, name: str, *, recovery: bool = True
) -> Result:
    """Compute in this process (timed), then the storage writer (timed apart)."""
    start, cpu = time.perf_counter(), time.process_time()
    run_flows(settings, flows, until_end=True, recovery=recovery)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return store(settings, Result(name, n, elapsed, cpu=cpu))


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment of a ``cxpulse`` subprocess with the bench's settings: broker,
    topic and results prefixes, its own data dir and the embedded ClickHouse under it
    (compute never opens it; ``run`` without ``--addresses`` migrates it). Other
    CXPULSE_* variables pass through, as they reached the bench's own settings."""
    env = dict(os.environ)
    env.update(
        CXPULSE_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        CXPULSE_TOPIC_PREFIX=settings.topic_prefix,
        CXPULSE_RESULTS_PREFIX=settings.results_prefix,
        CXPULSE_DATA_DIR=str(settings.data_dir),
        CXPULSE_CLICKHOUSE_DSN="",
        CXPULSE_CLICKHOUSE_DATABASE=settings.clickhouse_database,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


def children_cpu() -> float:
    """CPU seconds of every finished (waited-for) child process tree so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_run(settings: Settings, processes: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (all its processes) of ``cxpulse run --until-end
    --no-store --processes N`` (all flows)."""
    ensure_topics(settings, log=lambda _m: None)  # result topics too
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "infra.cli", "run", "--until-end", "--no-store"]
    cmd += ["--processes", str(processes)]
    start, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(
        cmd, env=cli_env(settings), cwd=ROOT, capture_output=True, timeout=CLI_TIMEOUT_S
    )
    elapsed, cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(cmd[1:])} exited {done.returncode}:\n{tail}")
    return elapsed, cpu


def processes_of(name: str) -> int | None:
    """``all, N process(es)`` -> N; None for the in-process steps."""
    head, _, tail = name.partition(", ")
    if head != "all" or not tail.endswith(("process", "processes")):
        return None
    return int(tail.split()[0])


def _rate(r: Result) -> float:
    return r.rate


STEPS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "+agent_performance": frozenset({"ingest", "agent_performance"}),
    "+client_risk": frozenset({"ingest", "client_risk"}),
    "+live_ops": frozenset({"ingest", "live_ops"}),
    "+demand": frozenset({"ingest", "demand"}),
    "+kb": frozenset({"ingest", "kb"}),
    "+routing": frozenset({"ingest", "routing"}),
    "all flows": frozenset(FLOW_NAMES),
    "all, recovery off": frozenset(FLOW_NAMES),  # issue #11: recovery on / off >= 0.9
    "all, 1 process": frozenset(FLOW_NAMES),  # `cxpulse run --processes 1` subprocess
    "all, 2 processes": frozenset(FLOW_NAMES),  # issue #11: 2 / 1 process >= 1.7
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument(
        "--keys",
        type=int,
        nargs="+",
        default=[100, 10_000, 100_000],
        help="agent and client counts to run at (each run uses N of both)",
    )
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=list(STEPS))
    ap.add_argument("--bootstrap", help="use this Kafka instead of starting a local one")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument(
        "--late-share",
        type=float,
        default=0.01,
        help="share of events sent more than the allowed lateness late (default 0.01)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data, logs)")
    args = ap.parse_args()
    if not 0 <= args.late_share < 1:
        ap.error("--late-share must be in [0, 1)")

    work = Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        broker = LocalKafka(home=work / "kafka", port=free_port(), controller_port=free_port())
        broker.ensure_jars()
        bootstrap = broker.up(timeout_s=120)
    chdb = f"chdb://{work / 'clickhouse'}"
    rows: list[tuple[int, list[Result]]] = []
    sent_late: dict[int, float] = {}
    try:
        for keys in args.keys:
            prefix = f"bench{uuid.uuid4().hex[:8]}."
            base = Settings(
                kafka_bootstrap=bootstrap,
                topic_prefix=prefix,
                clickhouse_dsn=chdb,
                data_dir=work / prefix,
            )
            ensure_topics(base, log=lambda _m: None)
            t0 = time.perf_counter()
            stats = produce(base, args.events, keys, keys, args.seed, args.late_share)
            n = stats.events
            sent_late[keys] = stats.late_share
            print(
                f"[{keys} agents and clients] produced {n} events in "
                f"{time.perf_counter() - t0:.1f}s, {stats.late} ({stats.late_share:.2%}) "
                f"sent more than {base.allowed_lateness_s:g}s late",
                flush=True,
            )
            # best of two reads: the first also pays consumer start-up and cold fetches
            batch = base.kafka_batch_size
            raws = [raw_consume(base, n, batch) for _ in range(2)]
            parsed = [raw_consume(base, n, batch, parse=True) for _ in range(2)]
            results = [max(raws, key=_rate), max(parsed, key=_rate)]
            print(f"  raw consume: {results[0].rate:,.0f} events/s", flush=True)
            print(f"  raw + json.loads: {results[1].rate:,.0f} events/s", flush=True)
            # an empty events topic (own prefix) for the subprocess steps' start-up
            empty = base.model_copy(update={"topic_prefix": f"{prefix}empty."})
            ensure_topics(empty, log=lambda _m: None)
            for name in args.steps:
                i = len(results)
                db = f"b_{uuid.uuid4().hex[:10]}"
                migrate(chdb, db, log=lambda _m: None)
                s = base.model_copy(
                    update={
                        "clickhouse_database": db,
                        "data_dir": work / f"{prefix}{i}",
                        "results_prefix": f"{prefix}r{i}.",
                    }
                )
                ensure_topics(s, log=lambda _m: None)  # the step's own result topics
                processes = processes_of(name)
                if processes is None:
                    on = name != "all, recovery off"
                    results.append(pipeline(s, STEPS[name], n, name, recovery=on))
                else:
                    startup, startup_cpu = cli_run(
                        empty.model_copy(
                            update={
                                "data_dir": work / f"{prefix}{i}-empty",
                                "results_prefix": f"{prefix}r{i}empty.",
                            }
                        ),
                        processes,
                    )
                    wall, cpu = cli_run(s, processes)
                    cpu -= startup_cpu
                    results.append(store(s, Result(name, n, wall, startup=startup, cpu=cpu)))
                r = results[-1]
                extra = (
                    ""
                    if r.startup is None
                    else (
                        f" (wall {r.wall_rate:,.0f} events/s: {r.seconds:.1f}s, "
                        f"start-up {r.startup:.1f}s)"
                    )
                )
                print(
                    f"  {name}: {r.rate:,.0f} events/s{extra}, {r.cores or 0:.2f} cores, "
                    f"late {r.late_share}; writer {r.stored} rows in {r.store_seconds:.1f}s",
                    flush=True,
                )
            rows.append((keys, results))
    finally:
        if broker is not None:
            broker.down()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nN = {args.events} events per run; events/s = compute only (subprocess steps: "
        "events / (wall - start-up), wall = the command's wall clock incl. start-up); "
        "ratio = events/s / raw consume events/s (same topic, same run); ÷json = events/s "
        "/ raw consume + json.loads events/s (issue #11's goals); late = rows in "
        "late_events / events; sent late = events sent more than the allowed lateness "
        "behind their partition and tenant; writer rows/s = rows the storage writer "
        "stored from the step's result topics / its drain time; cores = CPU seconds of the "
        "compute (all its processes; subprocess steps: less the start-up run's) / its "
        "seconds"
    )
    print(
        f"{'agents=clients':>14} {'step':<20} {'events/s':>12} {'ratio':>7} {'÷json':>7} "
        f"{'late':>7} {'sent late':>9} {'wall ev/s':>10} {'start-up':>8} {'cores':>6} "
        f"{'writer rows/s':>13}"
    )
    for keys, results in rows:
        raw_rate, json_rate = results[0].rate, results[1].rate
        for r in results:
            wall_col = "-" if r.startup is None else f"{r.wall_rate:,.0f}"
            startup_col = "-" if r.startup is None else f"{r.startup:.1f}s"
            writer = "-" if r.store_rate is None else f"{r.store_rate:,.0f}"
            cores = "-" if r.cores is None else f"{r.cores:.2f}"
            print(
                f"{keys:>14} {r.name:<20} {r.rate:>12,.0f} {r.rate / raw_rate:>7.3f} "
                f"{r.rate / json_rate:>7.3f} {r.late_share:>7} {sent_late[keys]:>9.2%} "
                f"{wall_col:>10} {startup_col:>8} {cores:>6} {writer:>13}"
            )
    print()
    for keys, results in rows:
        by = {r.name: r for r in results}
        json_rate = results[1].rate
        if "all flows" in by:
            w = by["all flows"]
            print(
                f"[{keys}] storage writer, drain of 'all flows': {w.stored:,} rows in "
                f"{w.store_seconds:.1f}s = {w.store_rate or 0:,.0f} rows/s"
            )
        if "ingest" in by:
            print(f"[{keys}] ingest ÷ raw+json.loads: {by['ingest'].rate / json_rate:.3f}")
        if "all flows" in by:
            print(f"[{keys}] all flows ÷ raw+json.loads: {by['all flows'].rate / json_rate:.3f}")
        if "all flows" in by and "all, recovery off" in by:
            on, off = by["all flows"].rate, by["all, recovery off"].rate
            print(f"[{keys}] recovery on ÷ off: {on / off:.3f} (issue #11 goal >= 0.9)")
        if "all, 1 process" in by and "all, 2 processes" in by:
            one, two = by["all, 1 process"], by["all, 2 processes"]
            print(
                f"[{keys}] 2 processes ÷ 1 process: {two.rate / one.rate:.3f} start-up "
                f"subtracted, {two.wall_rate / one.wall_rate:.3f} wall clock "
                "(issue #11 goal >= 1.7)"
            )


if __name__ == "__main__":
    main()
