"""Pipeline throughput vs raw Kafka consume, on the same topic, in one run.

For each agent count: produce N simulated events to a fresh topic, then measure
  raw      confluent-kafka consume of the whole topic (the ceiling)
  ingest   cxpulse run ingest --until-end (decode, validate, dedup, ClickHouse events)
  full     ingest + agent_performance (ticket joins, 5m/1h/1d windows, alerts)
and print events/s and each one's ratio to raw. Real broker, real embedded ClickHouse,
Bytewax recovery on: what `cxpulse run` does.

    python -m bench.pipeline --events 200000 --agents 100 10000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bench.workload import ticket_traffic
from infra.kafka_local import LocalKafka, free_port
from infra.migrate import migrate
from infra.producer import EventProducer
from infra.runner import run_flows
from infra.settings import Settings
from infra.topics import ensure_topics
from sinks.clickhouse_client import open_client


@dataclass
class Result:
    name: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def produce(settings: Settings, n: int, agents: int, seed: int) -> int:
    """Sends ``n`` events spread over exactly ``agents`` agents."""
    with EventProducer(settings.kafka_bootstrap, settings.events_topic) as producer:
        for key, value in ticket_traffic(n, agents, seed):
            producer.send(key, value)
    return n


def raw_consume(settings: Settings, n: int, batch: int) -> Result:
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
                m.value()
                got += 1
    elapsed = time.perf_counter() - start
    consumer.close()
    return Result("raw consume", got, elapsed)


def pipeline(settings: Settings, flows: frozenset[str], n: int, name: str) -> Result:
    start = time.perf_counter()
    run_flows(settings, flows, until_end=True)
    elapsed = time.perf_counter() - start
    client = open_client(settings.dsn, settings.clickhouse_database)
    stored = int(client.query("SELECT count() FROM events").result_rows[0][0])
    assert stored == n, f"{name}: {stored} of {n} events stored"
    return Result(name, n, elapsed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--agents", type=int, nargs="+", default=[100, 10_000])
    ap.add_argument("--bootstrap", help="use this Kafka instead of starting a local one")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        broker = LocalKafka(home=work / "kafka", port=free_port(), controller_port=free_port())
        broker.ensure_jars()
        bootstrap = broker.up(timeout_s=120)
    chdb = f"chdb://{work / 'clickhouse'}"
    rows: list[tuple[int, list[Result]]] = []
    try:
        for agents in args.agents:
            prefix = f"bench{uuid.uuid4().hex[:8]}."
            base = Settings(
                kafka_bootstrap=bootstrap,
                topic_prefix=prefix,
                clickhouse_dsn=chdb,
                data_dir=work / prefix,
            )
            ensure_topics(base, log=lambda _m: None)
            t0 = time.perf_counter()
            n = produce(base, args.events, agents, args.seed)
            print(
                f"[{agents} agents] produced {n} events in {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
            # best of two reads: the first also pays consumer start-up and cold fetches
            raws = [raw_consume(base, n, base.kafka_batch_size) for _ in range(2)]
            results = [max(raws, key=lambda r: r.rate)]
            for name, flows in (
                ("ingest", frozenset({"ingest"})),
                ("ingest+agent_perf", frozenset({"ingest", "agent_performance"})),
            ):
                db = f"b_{uuid.uuid4().hex[:10]}"
                migrate(chdb, db, log=lambda _m: None)
                s = base.model_copy(
                    update={"clickhouse_database": db, "data_dir": work / f"{prefix}{name}"}
                )
                results.append(pipeline(s, flows, n, name))
                print(f"  {name}: {results[-1].rate:,.0f} events/s", flush=True)
            rows.append((agents, results))
    finally:
        if broker is not None:
            broker.down()

    print(f"\nN = {args.events} events per run; ratio = events/s / raw consume events/s")
    print(f"{'agents':>8} {'step':<20} {'events/s':>12} {'ratio':>7}")
    for agents, results in rows:
        raw = results[0].rate
        for r in results:
            print(f"{agents:>8} {r.name:<20} {r.rate:>12,.0f} {r.rate / raw:>7.3f}")


if __name__ == "__main__":
    main()
