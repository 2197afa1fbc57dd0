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
  all flows
  all, recovery off   all flows without a recovery store (recovery on / off is a goal)
each as ``cxpulse run <flows> --until-end`` does it (real broker, real embedded
ClickHouse, Bytewax recovery on), and print events/s, the ratios to raw consume and to
raw consume + ``json.loads``, and the late share measured (rows in ``late_events`` /
events).

The workload is sent in event-time order per partition, plus ``--late-share`` of the
events sent more than the allowed lateness (CXPULSE_ALLOWED_LATENESS_S) late; see
bench/workload.py.

    python -m bench.pipeline --events 200000 --keys 100 10000 100000 --late-share 0.01
"""

from __future__ import annotations

import argparse
import json
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
from infra.topics import ensure_topics
from schemas.settings import Settings
from sinks.clickhouse_client import open_client


@dataclass
class Result:
    name: str
    events: int
    seconds: float
    late: int | None = None  # rows in late_events; None where not measured

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def late_share(self) -> str:
        return "-" if self.late is None else f"{self.late / self.events:.2%}"


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


def pipeline(
    settings: Settings, flows: frozenset[str], n: int, name: str, *, recovery: bool = True
) -> Result:
    start = time.perf_counter()
    run_flows(settings, flows, until_end=True, recovery=recovery)
    elapsed = time.perf_counter() - start
    client = open_client(settings.dsn, settings.clickhouse_database)
    stored = int(client.query("SELECT count() FROM events").result_rows[0][0])
    assert stored == n, f"{name}: {stored} of {n} events stored"
    late = int(client.query("SELECT count() FROM late_events FINAL").result_rows[0][0])
    return Result(name, n, elapsed, late)


def _rate(r: Result) -> float:
    return r.rate


STEPS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "+agent_performance": frozenset({"ingest", "agent_performance"}),
    "+client_risk": frozenset({"ingest", "client_risk"}),
    "+live_ops": frozenset({"ingest", "live_ops"}),
    "+demand": frozenset({"ingest", "demand"}),
    "+kb": frozenset({"ingest", "kb"}),
    "all flows": frozenset(FLOW_NAMES),
    "all, recovery off": frozenset(FLOW_NAMES),  # issue #11: recovery on / off >= 0.9
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
            for name in args.steps:
                db = f"b_{uuid.uuid4().hex[:10]}"
                migrate(chdb, db, log=lambda _m: None)
                s = base.model_copy(
                    update={"clickhouse_database": db, "data_dir": work / f"{prefix}{len(results)}"}
                )
                on = name != "all, recovery off"
                results.append(pipeline(s, STEPS[name], n, name, recovery=on))
                print(
                    f"  {name}: {results[-1].rate:,.0f} events/s, late {results[-1].late_share}",
                    flush=True,
                )
            rows.append((keys, results))
    finally:
        if broker is not None:
            broker.down()

    print(
        f"\nN = {args.events} events per run; ratio = events/s / raw consume events/s "
        "(same topic, same run); ÷json = events/s / raw consume + json.loads events/s "
        "(issue #11's goals); late = rows in late_events / events; sent late = "
        "events sent more than the allowed lateness behind their partition and tenant"
    )
    print(
        f"{'agents=clients':>14} {'step':<20} {'events/s':>12} {'ratio':>7} {'÷json':>7} "
        f"{'late':>7} {'sent late':>9}"
    )
    for keys, results in rows:
        raw_rate, json_rate = results[0].rate, results[1].rate
        for r in results:
            print(
                f"{keys:>14} {r.name:<20} {r.rate:>12,.0f} {r.rate / raw_rate:>7.3f} "
                f"{r.rate / json_rate:>7.3f} {r.late_share:>7} {sent_late[keys]:>9.2%}"
            )


if __name__ == "__main__":
    main()
