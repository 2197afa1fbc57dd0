"""End-to-end alert latency: event on the input topic -> alert on a live SSE client, and
-> the alert row queryable through ``GET /v1/alerts``.

Starts a local Kafka (or uses ``--bootstrap``), a temp data dir and a unique topic
prefix, runs ``cxpulse topics`` and ``cxpulse migrate``, then ``cxpulse up`` itself: API
(with the alert feed and the stream route) and the storage writer in the server process,
the flows in ``--processes`` compute processes beside it. This process connects to
``GET /v1/alerts/stream`` and produces ``--count`` ``csat.received`` events with rating 1
(each raises a coaching alert whose details carry the event's ``event_id``), one every
``--interval`` seconds, each flushed on its own; the clock starts at the delivery ack
(the event is on the input topic) and stops when the alert's SSE block is read.

Row queryable: for each alert read on the stream, ``GET /v1/alerts`` (tenant acme, its
API key) is polled every ``--poll-interval`` s until the alert's ``alert_id`` is listed
(one request per round serves every alert waiting; an alert counts as listed by a
response to a request sent after it was read on the stream). The time is when that
response was read: the flow published the row, the storage writer inserted it, and the
API's query saw it.

``--background-rate R`` adds the ticket-lifecycle workload of bench/workload.py (ten
other tenants; tickets created, assigned, answered, resolved, chats, CSAT, complaints)
at R events/s from a separate process, started before the warm-up and running through
the measurement; after the warm-up the bench settles ``--settle`` s (10 with background
load) and sends one probe, warning when its alert takes 2 s or more (the flows do not
keep up), then measures anyway.

Printed: count, p50/p95/p99/max, the share under 1 s, a split at the alert's
``fired_at`` (when the flow raised it): input topic -> flow, and flow -> client; the
row-queryable latencies from ``fired_at`` and from the event's ack.

    python -m bench.alert_latency                       # defaults, local broker
    python -m bench.alert_latency --snapshot-interval 0.5 --count 300
    python -m bench.alert_latency --count 200 --background-rate 2000
    python -m bench.alert_latency --env CXPULSE_KAFKA_BATCH_SIZE=500
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
TENANT = "acme"


# ---- background load ------------------------------------------------------------------


def produce_background(rate: float, agents: int, clients: int) -> None:
    """Sends bench/workload.py's ticket lifecycles to the settings' events topic at
    ``rate`` events/s until killed (runs as its own process: ``--background-producer``)."""
    from bench.workload import mixed_traffic
    from schemas.settings import Settings

    settings = Settings()
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5, "acks": "all"}
    )
    traffic = mixed_traffic(
        10**10,  # endless: the generator is lazy
        agents,
        clients,
        seed=11,
        start=datetime.now(UTC) - timedelta(days=3),
        late_share=0.0,
        lateness_s=settings.allowed_lateness_s,
        partitions=settings.topic_partitions,
    )
    topic = settings.events_topic
    started = time.monotonic()
    for sent, (key, value) in enumerate(traffic, 1):
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        if sent % 50 == 0:
            producer.poll(0)
            ahead = started + sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


# ---- the client side ------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when the SSE block was read
    event_id: str
    fired_at: float
    alert_id: str
    event_time: datetime


class SseClient(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="sse")
        self.url = url
        self.received: queue.Queue[Received] = queue.Queue()
        self.connected = threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None
        # called (in this thread) with every alert read, once set
        self.listener: Callable[[Received], None] | None = None

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        try:
            with httpx.stream("GET", self.url, headers=headers, timeout=60) as r:
                self.status = r.status_code
                self.connected.set()
                data: str | None = None
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and data is not None:
                        now = time.time()
                        item = json.loads(data)
                        got = Received(
                            now,
                            item["details"]["event_id"],
                            datetime.fromisoformat(item["fired_at"]).timestamp(),
                            str(item["alert_id"]),
                            datetime.fromisoformat(item["event_time"]),
                        )
                        self.received.put(got)
                        if self.listener is not None:
                            self.listener(got)
                        data = None
        except BaseException as exc:
            self.error = exc
        finally:
            self.connected.set()


class QueryablePoller(threading.Thread):
    """Polls ``GET /v1/alerts`` until every alert handed to ``add`` is listed; records
    when (``time.time()`` the listing response was read). Only alerts added before a
    request was sent count as found by its response."""

    def __init__(self, base: str, interval_s: float) -> None:
        super().__init__(daemon=True, name="queryable")
        self.base = base
        self.interval_s = interval_s
        self.found: dict[str, float] = {}  # alert_id -> listed at
        self.request_seconds: list[float] = []
        self.errors: list[str] = []
        self._pending: dict[str, datetime] = {}  # alert_id -> its event_time
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def add(self, got: Received) -> None:
        with self._lock:
            if got.alert_id not in self.found:
                self._pending[got.alert_id] = got.event_time

    def waiting(self) -> int:
        with self._lock:
            return len(self._pending)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as http:
            while not self._stop.is_set():
                with self._lock:
                    asked = dict(self._pending)
                if not asked:
                    self._stop.wait(0.005)
                    continue
                # every alert waiting is at or after the oldest one's event time
                since = min(asked.values()).astimezone(UTC) - timedelta(seconds=1)
                params: dict[str, str | int] = {
                    "kind": "coaching",
                    "since": since.replace(tzinfo=None).isoformat(),
                    "limit": 1000,
                }
                sent = time.time()
                try:
                    r = http.get("/v1/alerts", params=params)
                    now = time.time()
                    r.raise_for_status()
                    listed = {str(item["alert_id"]) for item in r.json()["items"]}
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    self.errors.append(repr(exc))
                    self._stop.wait(self.interval_s)
                    continue
                self.request_seconds.append(now - sent)
                with self._lock:
                    for alert_id in asked.keys() & listed:
                        self.found[alert_id] = now
                        self._pending.pop(alert_id, None)
                self._stop.wait(max(0.0, self.interval_s - (time.time() - sent)))


def csat_event(n: int) -> tuple[bytes, bytes, str]:
    event_id = str(uuid.uuid4())
    agent = f"agent-{n % 10}"
    event = {
        "event_id": event_id,
        "event_type": "csat.received",
        "schema_version": 1,
        "tenant_id": TENANT,
        "occurred_at": datetime.now(UTC).isoformat(),
        "source": "bench",
        "payload": {
            "survey_id": f"S-{n}",
            "ticket_id": f"T-{n}",
            "agent_id": agent,
            "client_id": f"C-{n % 7}",
            "rating": 1,
        },
    }
    return f"{TENANT}/{agent}".encode(), json.dumps(event).encode(), event_id


class Sender:
    """Produces one event at a time and records when the broker acknowledged it."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0}
        )
        self._topic = topic
        self.acked: dict[str, float] = {}

    def send(self, n: int) -> str:
        key, value, event_id = csat_event(n)

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                raise RuntimeError(f"delivery failed: {err}")
            self.acked[event_id] = time.time()

        self._producer.produce(self._topic, value, key, on_delivery=on_delivery)
        if self._producer.flush(10):
            raise RuntimeError("event not acknowledged within 10s")
        return event_id


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages ever written to ``topic`` (sum of the partitions' end offsets)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        c.close()


def sink_seconds(base: str) -> dict[str, tuple[float, float]]:
    """Per sink: (seconds spent writing, batches written) so far, from the server's
    ``cxpulse_sink_batch_seconds`` histogram; empty if it exposes no metrics."""
    out: dict[str, tuple[float, float]] = {}
    for path in ("/bench-metrics/", "/metrics"):
        try:
            r = httpx.get(base + path, timeout=5)
        except httpx.TransportError:
            continue
        if r.status_code != 200:
            continue
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for line in r.text.splitlines():
            for suffix, into in (("_sum", sums), ("_count", counts)):
                head = f"cxpulse_sink_batch_seconds{suffix}{{"
                if line.startswith(head):
                    labels, _, value = line[len(head) :].partition("} ")
                    sink = labels.partition('sink="')[2].partition('"')[0]
                    into[sink] = float(value)
        return {k: (sums[k], counts.get(k, 0.0)) for k in sums}
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux): the server and its compute processes."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return out


def tree_cpu(pids: list[int]) -> dict[int, float]:
    return {p: cpu_seconds(p) for p in pids}


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def cxpulse(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become healthy")


def report(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(
        f"  {label:<22} p50 {pct(ms, 50):7.1f} ms  p95 {pct(ms, 95):7.1f} ms  "
        f"p99 {pct(ms, 99):7.1f} ms  max {max(ms):7.1f} ms  mean {statistics.fmean(ms):7.1f} ms"
    )


def start_background(
    args: argparse.Namespace, env: dict[str, str]
) -> list[subprocess.Popen[bytes]]:
    """The background load: ``--background-rate`` events/s of bench/workload.py, and
    ``--backfill-hours`` of simulated history (``cxpulse simulate``), each a process."""
    procs: list[subprocess.Popen[bytes]] = []
    quiet = subprocess.DEVNULL
    if args.background_rate > 0:
        cmd = [sys.executable, "-m", "bench.alert_latency"]
        cmd += ["--background-producer", str(args.background_rate)]
        cmd += ["--background-keys", str(args.background_keys)]
        procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=quiet, stderr=quiet))
    if args.backfill_hours > 0:
        cmd = [sys.executable, "-m", "infra.cli", "simulate", "--rate", "0"]
        cmd += ["--backfill-hours", str(args.backfill_hours)]
        cmd += ["--speed", str(args.background_speed)]
        procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=quiet, stderr=quiet))
    return procs


def measure(args: argparse.Namespace, bootstrap: str, data_dir: Path) -> int:
    port = _free_port()
    prefix = f"lat{uuid.uuid4().hex[:8]}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
    env.update(
        CXPULSE_KAFKA_BOOTSTRAP=bootstrap,
        CXPULSE_TOPIC_PREFIX=prefix,
        CXPULSE_DATA_DIR=str(data_dir),
        CXPULSE_API_KEYS=f"{TENANT}:{KEY}",
        CXPULSE_SNAPSHOT_INTERVAL_S=str(args.snapshot_interval),
        PYTHONPATH=str(ROOT),
    )
    for pair in args.env:
        name, _, value = pair.partition("=")
        env[name] = value
    settings_shown = {k: v for k, v in sorted(env.items()) if k.startswith("CXPULSE_")}
    settings_shown.pop("CXPULSE_API_KEYS", None)
    print(f"settings: {settings_shown}")
    data_dir.mkdir(parents=True, exist_ok=True)
    cxpulse(env, "topics")
    cxpulse(env, "migrate")
    cmd = [sys.executable, "-m", "infra.cli", "up", "--port", str(port)]
    cmd += ["--processes", str(args.processes)]
    log = (data_dir / "server.log").open("wb")
    background: list[subprocess.Popen[bytes]] = []
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    poller: QueryablePoller | None = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, server)
        background = start_background(args, env)
        deadline = time.monotonic() + 60
        while True:  # the feed may still be connecting (503)
            client = SseClient(f"{base}/v1/alerts/stream?kind=coaching")
            client.start()
            client.connected.wait(30)
            if client.status == 200:
                break
            if client.status == 404:
                raise SystemExit("the server has no /v1/alerts/stream (is the feed wired?)")
            if time.monotonic() > deadline:
                raise SystemExit(f"stream answered {client.status}: {client.error}")
            time.sleep(0.5)
        sender = Sender(bootstrap, f"{prefix}events")

        # Warm-up: the flows are up (and through any backfill) once a warm-up event's
        # alert arrives within 2 s; until then send one every 2 s (give up after 300 s).
        started = time.monotonic()
        pending: dict[str, float] = {}
        caught_up = False
        while not caught_up:
            if time.monotonic() - started > 300:
                raise SystemExit("the flows did not catch up within 300 s")
            event_id = sender.send(-1)
            pending[event_id] = time.monotonic()
            until = time.monotonic() + 2.0
            while time.monotonic() < until and not caught_up:
                try:
                    got = client.received.get(timeout=0.1)
                except queue.Empty:
                    continue
                caught_up = got.event_id in pending and got.at - sender.acked[got.event_id] < 2
        settle = args.settle if args.settle is not None else (10.0 if background else 2.0)
        print(
            f"flows ready ({time.monotonic() - started:.1f} s after start); settling {settle:g} s"
        )
        time.sleep(settle)
        # under background load the flows may fall behind after the first warm-up alert:
        # one more probe says whether they still keep up (measured either way)
        probe = sender.send(-1)
        until = time.monotonic() + 60.0
        probe_s: float | None = None
        while probe_s is None and time.monotonic() < until:
            try:
                got = client.received.get(timeout=0.1)
            except queue.Empty:
                continue
            if got.event_id == probe:
                probe_s = got.at - sender.acked[probe]
        if probe_s is None:
            print("WARNING: the probe's alert did not arrive within 60 s: the flows are behind")
        elif probe_s >= 2.0:
            print(f"WARNING: the probe's alert took {probe_s:.1f} s: the flows are behind")
        else:
            print(f"probe after settling: {probe_s * 1000:.0f} ms; measuring")
        while not client.received.empty():
            client.received.get_nowait()
        poller = QueryablePoller(base, args.poll_interval)
        poller.start()
        client.listener = poller.add

        sent: list[str] = []
        topic_before, measure_started = topic_size(bootstrap, f"{prefix}events"), time.monotonic()
        pids = process_tree(server.pid)
        sinks_before, cpu_before = sink_seconds(base), tree_cpu(pids)
        busy_before = machine_busy()
        load_before = os.getloadavg()[0]
        next_at = time.monotonic()
        for n in range(args.count):
            sent.append(sender.send(n))
            next_at += args.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        elapsed = time.monotonic() - measure_started
        input_rate = (topic_size(bootstrap, f"{prefix}events") - topic_before) / elapsed
        sinks_after, cpu_after = sink_seconds(base), tree_cpu(pids)
        busy_after = machine_busy()
        load_after = os.getloadavg()[0]
        received: dict[str, Received] = {}
        wait_until = time.monotonic() + args.drain
        while len(received) < len(sent) and time.monotonic() < wait_until:
            try:
                r = client.received.get(timeout=0.2)
            except queue.Empty:
                continue
            received.setdefault(r.event_id, r)
        while poller.waiting() and time.monotonic() < wait_until:
            time.sleep(0.1)
        poller.stop()

        latencies = [received[e].at - sender.acked[e] for e in sent if e in received]
        to_flow = [received[e].fired_at - sender.acked[e] for e in sent if e in received]
        to_client = [received[e].at - received[e].fired_at for e in sent if e in received]
        listed = {
            e: poller.found[received[e].alert_id]
            for e in sent
            if e in received and received[e].alert_id in poller.found
        }
        q_fired = [at - received[e].fired_at for e, at in listed.items()]
        q_ack = [at - sender.acked[e] for e, at in listed.items()]
        q_sse = [at - received[e].at for e, at in listed.items()]
        missing = len(sent) - len(latencies)
        print(
            f"events sent {len(sent)}, alerts received {len(latencies)}, missing {missing}; "
            f"input topic rate while measuring {input_rate:.0f} events/s "
            f"(background --background-rate {args.background_rate:g})"
        )
        if missing:
            lost = [i for i, e in enumerate(sent) if e not in received]
            print(f"  missing: #{lost[:10]}...; stream alive {client.is_alive()}: {client.error!r}")
        if not latencies:
            return 1
        print("alert on the SSE stream:")
        report("total (ack -> SSE)", latencies)
        report("input -> flow fired_at", to_flow)
        report("fired_at -> SSE", to_client)
        under = sum(1 for v in latencies if v < 1.0) / len(latencies)
        print(f"  under 1 s: {under:.1%}")
        asks = poller.request_seconds
        print(
            f"alert row queryable (GET /v1/alerts lists its alert_id; polled every "
            f"{args.poll_interval * 1000:.0f} ms, {len(asks)} requests, median "
            f"{statistics.median(asks) * 1000 if asks else 0:.1f} ms each): "
            f"{len(listed)} of {len(latencies)} listed"
            + (
                f", {len(poller.errors)} failed requests: {poller.errors[:2]}"
                if poller.errors
                else ""
            )
        )
        if listed:
            report("queryable - fired_at", q_fired)
            report("queryable - event ack", q_ack)
            report("queryable - SSE read", q_sse)
        busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
        cpu = sum(cpu_after[p] - cpu_before[p] for p in pids)
        server_cpu = cpu_after[server.pid] - cpu_before[server.pid]
        print(
            f"while measuring ({elapsed:.1f} s): server + {len(pids) - 1} compute process(es) "
            f"CPU {cpu / elapsed:.0%} of one core (server process, API + storage writer: "
            f"{server_cpu / elapsed:.0%}); machine busy {busy:.0%} of {os.cpu_count()} cores; "
            f"load average (1 min) {load_before:.2f} -> {load_after:.2f}"
        )
        spent = {
            k: (v[0] - sinks_before.get(k, (0.0, 0.0))[0], v[1] - sinks_before.get(k, (0, 0))[1])
            for k, v in sinks_after.items()
        }
        total = sum(v[0] for v in spent.values())
        if spent:
            print(
                f"  storage writer time in ClickHouse inserts: {total / elapsed:.0%} of wall time"
            )
            for k, (secs, batches) in sorted(spent.items(), key=lambda kv: -kv[1][0])[:6]:
                if batches:
                    print(
                        f"    {k:<22} {secs / elapsed:5.1%}  {batches / elapsed:5.1f} batches/s"
                        f"  {secs / batches * 1000:6.1f} ms/batch"
                    )
        return 0 if missing == 0 and len(listed) == len(latencies) else 1
    finally:
        if poller is not None:
            poller.stop()
        for proc in background:
            proc.terminate()
            proc.wait(20)
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _free_port() -> int:
    from infra.kafka_local import free_port

    return free_port()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", help="use this broker instead of starting a local one")
    parser.add_argument("--count", type=int, default=200, help="events (alerts) to measure")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between events")
    parser.add_argument(
        "--snapshot-interval",
        type=float,
        default=5.0,
        help="CXPULSE_SNAPSHOT_INTERVAL_S of the server (Bytewax epoch)",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="more server env"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="compute processes (`cxpulse up --processes`)"
    )
    parser.add_argument(
        "--background-rate",
        type=float,
        default=0.0,
        help="also send bench/workload.py's ticket lifecycles at this many events/s (load)",
    )
    parser.add_argument(
        "--background-keys",
        type=int,
        default=1000,
        help="agents of the background load (clients: 10x as many)",
    )
    parser.add_argument(
        "--backfill-hours",
        type=float,
        default=0.0,
        help="also run `cxpulse simulate` with this much history first (state), then live",
    )
    parser.add_argument(
        "--background-speed",
        type=float,
        default=1.0,
        help="simulated event time per wall time once the backfill is live",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.05,
        help="seconds between GET /v1/alerts polls for the row-queryable latency",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=None,
        help="pause after warm-up (s; default 2, 10 with background load)",
    )
    parser.add_argument("--drain", type=float, default=30.0, help="wait for late alerts (s)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log)")
    parser.add_argument("--background-producer", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.background_producer is not None:
        keys = args.background_keys
        produce_background(args.background_producer, keys, keys * 10)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="cxpulse-latency-"))
    broker = None
    try:
        bootstrap = args.bootstrap
        if bootstrap is None:
            from infra.kafka_local import LocalKafka

            broker = LocalKafka(
                home=tmp / "kafka", port=_free_port(), controller_port=_free_port(), heap="512m"
            )
            broker.ensure_jars()
            bootstrap = broker.up(timeout_s=120)
        return measure(args, bootstrap, tmp / "data")
    finally:
        if broker is not None:
            broker.down()
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
