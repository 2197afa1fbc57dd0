"""End-to-end alert latency: event on the input topic -> alert on a live SSE client.

Starts a local Kafka (or uses ``--bootstrap``), a temp data dir and a unique topic
prefix, runs ``cxpulse topics`` and ``cxpulse migrate``, then starts the flows and the
API in one server process the way ``cxpulse up`` does (flows in the main thread, uvicorn
in a thread, the alert feed as an app service). This process connects to
``GET /v1/alerts/stream`` and produces ``--count`` ``csat.received`` events with rating 1
(each raises a coaching alert whose details carry the event's ``event_id``), one every
``--interval`` seconds, each flushed on its own; the clock starts at the delivery ack
(the event is on the input topic) and stops when the alert's SSE block is read.

Printed: count, p50/p95/p99/max, the share under 1 s, and a split at the alert's
``fired_at`` (when the flow raised it): input topic -> flow, and flow -> client.

    python -m bench.alert_latency                       # defaults, local broker
    python -m bench.alert_latency --snapshot-interval 0.5 --count 300
    python -m bench.alert_latency --server cxpulse      # `python -m infra.cli up` itself
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
TENANT = "acme"


# ---- the server process ---------------------------------------------------------------


def serve(port: int) -> None:
    """What ``cxpulse up`` does, plus the alert feed: flows in the main thread, the API
    (with ``AlertFeed`` as a service and the stream route installed) in a thread."""
    import logging

    import uvicorn

    from api.alert_feed import AlertFeed
    from api.app import create_app
    from api.routers.stream import install
    from flows.config import FLOW_NAMES
    from infra.runner import run_flows
    from schemas.settings import Settings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings()
    feed = AlertFeed.from_settings(settings)
    app = create_app(settings, services=[feed])
    install(app, feed)
    from prometheus_client import make_asgi_app

    app.mount("/bench-metrics", make_asgi_app())  # sink timings, for the diagnosis
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    threading.Thread(target=server.run, name="api", daemon=True).start()
    run_flows(settings, frozenset(FLOW_NAMES), until_end=False)


# ---- the client side ------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when the SSE block was read
    event_id: str
    fired_at: float


class SseClient(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="sse")
        self.url = url
        self.received: queue.Queue[Received] = queue.Queue()
        self.connected = threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None

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
                        fired = datetime.fromisoformat(item["fired_at"]).timestamp()
                        self.received.put(Received(now, item["details"]["event_id"], fired))
                        data = None
        except BaseException as exc:
            self.error = exc
        finally:
            self.connected.set()


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
    """User + system CPU seconds of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    if args.server == "cxpulse":
        cmd = [sys.executable, "-m", "infra.cli", "up", "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "bench.alert_latency", "--serve", str(port)]
    log = (data_dir / "server.log").open("wb")
    background: subprocess.Popen[bytes] | None = None
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, server)
        if args.background_rate > 0 or args.backfill_hours > 0:
            background = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "infra.cli",
                    "simulate",
                    "--rate",
                    str(args.background_rate),
                    "--backfill-hours",
                    str(args.backfill_hours),
                    "--speed",
                    str(args.background_speed),
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
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
        print(f"flows ready ({time.monotonic() - started:.1f} s after start); measuring")
        time.sleep(args.settle)
        while not client.received.empty():
            client.received.get_nowait()

        sent: list[str] = []
        topic_before, measure_started = topic_size(bootstrap, f"{prefix}events"), time.monotonic()
        sinks_before, cpu_before = sink_seconds(base), cpu_seconds(server.pid)
        busy_before = machine_busy()
        next_at = time.monotonic()
        for n in range(args.count):
            sent.append(sender.send(n))
            next_at += args.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        elapsed = time.monotonic() - measure_started
        input_rate = (topic_size(bootstrap, f"{prefix}events") - topic_before) / elapsed
        sinks_after, cpu_after = sink_seconds(base), cpu_seconds(server.pid)
        busy_after = machine_busy()
        received: dict[str, Received] = {}
        wait_until = time.monotonic() + args.drain
        while len(received) < len(sent) and time.monotonic() < wait_until:
            try:
                r = client.received.get(timeout=0.2)
            except queue.Empty:
                continue
            received.setdefault(r.event_id, r)

        latencies = [received[e].at - sender.acked[e] for e in sent if e in received]
        to_flow = [received[e].fired_at - sender.acked[e] for e in sent if e in received]
        to_client = [received[e].at - received[e].fired_at for e in sent if e in received]
        missing = len(sent) - len(latencies)
        print(
            f"events sent {len(sent)}, alerts received {len(latencies)}, missing {missing}; "
            f"input topic rate while measuring {input_rate:.0f} events/s"
        )
        if missing:
            lost = [i for i, e in enumerate(sent) if e not in received]
            print(f"  missing: #{lost[:10]}...; stream alive {client.is_alive()}: {client.error!r}")
        if not latencies:
            return 1
        report("total (ack -> SSE)", latencies)
        report("input -> flow fired_at", to_flow)
        report("fired_at -> SSE", to_client)
        under = sum(1 for v in latencies if v < 1.0) / len(latencies)
        print(f"  under 1 s: {under:.1%}")
        busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
        print(
            f"while measuring ({elapsed:.1f} s): server process CPU "
            f"{(cpu_after - cpu_before) / elapsed:.0%} of one core; machine busy {busy:.0%} "
            f"of {os.cpu_count()} cores"
        )
        spent = {
            k: (v[0] - sinks_before.get(k, (0.0, 0.0))[0], v[1] - sinks_before.get(k, (0, 0))[1])
            for k, v in sinks_after.items()
        }
        total = sum(v[0] for v in spent.values())
        if spent:
            print(f"  flow worker time in sink writes: {total / elapsed:.0%} of wall time")
            for k, (secs, batches) in sorted(spent.items(), key=lambda kv: -kv[1][0])[:6]:
                if batches:
                    print(
                        f"    {k:<22} {secs / elapsed:5.1%}  {batches / elapsed:5.1f} batches/s"
                        f"  {secs / batches * 1000:6.1f} ms/batch"
                    )
        return 0 if missing == 0 else 1
    finally:
        if background is not None:
            background.terminate()
            background.wait(20)
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
        "--server",
        choices=["bench", "cxpulse"],
        default="bench",
        help="bench: this module's `cxpulse up` with the feed wired; cxpulse: `cxpulse up`",
    )
    parser.add_argument(
        "--background-rate",
        type=float,
        default=0.0,
        help="also run `cxpulse simulate` at this many events/s (load and state)",
    )
    parser.add_argument(
        "--backfill-hours", type=float, default=0.0, help="simulated history sent first"
    )
    parser.add_argument(
        "--background-speed",
        type=float,
        default=1.0,
        help="simulated event time per wall time once live (more: busier live traffic)",
    )
    parser.add_argument("--settle", type=float, default=2.0, help="pause after warm-up (s)")
    parser.add_argument("--drain", type=float, default=30.0, help="wait for late alerts (s)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server log)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
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
