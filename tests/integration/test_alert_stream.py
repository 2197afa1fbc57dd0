"""``GET /v1/alerts/stream`` on a real broker and a real uvicorn server.

Alerts are produced to the alerts topic exactly as the flows' sink encodes them
(``encode_alert``); clients read the Server-Sent Events with httpx in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from confluent_kafka import Producer
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.alert_events import parse_event_id
from api.alert_feed import AlertFeed
from api.app import create_app
from api.routers.stream import install
from infra.kafka_local import free_port
from schemas.results import Alert, AlertKind, AlertSeverity
from schemas.settings import Settings
from sinks.kafka_sink import encode_alert

pytestmark = pytest.mark.integration

ACME = {"Authorization": "Bearer key-acme"}
GLOBEX = {"Authorization": "Bearer key-globex"}
HEARTBEAT_S = 0.3


def make_alert(tenant: str, n: int, kind: AlertKind, severity: AlertSeverity) -> Alert:
    now = datetime.now(UTC)
    return Alert(
        alert_id=uuid.uuid4(),
        tenant_id=tenant,
        kind=kind,
        severity=severity,
        subject_type="agent",
        subject_id=f"A{n}",
        title=f"alert {n}",
        details={"n": n},
        event_time=now,
        fired_at=now,
    )


def produce(settings: Settings, alerts: list[Alert]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 0})
    for a in alerts:
        key, value, headers = encode_alert(a)
        producer.produce(settings.alerts_topic, value, key, headers=list(headers))
    assert producer.flush(10) == 0


@dataclass
class Stream:
    """One SSE client in a thread: events (id, AlertItem JSON) and heartbeats."""

    url: str
    headers: dict[str, str]
    params: list[tuple[str, str]] = field(default_factory=list)
    events: queue.Queue[tuple[str, dict[str, Any]]] = field(default_factory=queue.Queue)
    pings: int = 0
    status: int | None = None
    content_type: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> Stream:
        threading.Thread(target=self._run, daemon=True).start()
        assert self.connected.wait(10), "stream did not connect"
        return self

    def _run(self) -> None:
        try:
            with httpx.stream(
                "GET",
                self.url,
                headers=self.headers,
                params=tuple(self.params),
                timeout=10,
            ) as r:
                self.status = r.status_code
                self.content_type = r.headers.get("content-type", "")
                self.response_headers = dict(r.headers)
                self.connected.set()
                if r.status_code != 200:
                    return
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith(":"):
                        self.pings += 1
                    elif line == "":
                        if fields.get("event") == "alert":
                            self.events.put((fields["id"], json.loads(fields["data"])))
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
        except BaseException as exc:
            self.error = exc
        finally:
            self.connected.set()
            self.done.set()

    def take(self, n: int, timeout_s: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < n:
            try:
                out.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"got {len(out)} of {n} events: {out}") from None
        return out

    def assert_quiet(self, wait_s: float = 0.5) -> None:
        time.sleep(wait_s)
        assert self.events.empty(), f"unexpected events: {self.events.get_nowait()}"

    def close(self) -> None:
        self.stop.set()  # the next heartbeat at the latest ends the read loop
        assert self.done.wait(5)


@contextlib.contextmanager
def serve(settings: Settings, feed: AlertFeed) -> Iterator[str]:
    app = create_app(settings, kafka_check=lambda: None, services=[feed])
    install(app, feed)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "server exited"
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1/alerts/stream"
    finally:
        server.should_exit = True
        thread.join(10)


def sse_clients() -> float:
    return REGISTRY.get_sample_value("cxpulse_sse_clients") or 0.0


def wait_for(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def ns(events: list[tuple[str, dict[str, Any]]]) -> list[int]:
    return [e[1]["details"]["n"] for e in events]


def test_stream_filters_isolation_heartbeats_and_buffer_resume(settings: Settings) -> None:
    feed = AlertFeed.from_settings(settings, heartbeat_s=HEARTBEAT_S)
    with serve(settings, feed) as url:
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.get(url, headers=ACME, params={"min_severity": "urgent"}).status_code == 422
        assert httpx.get(url, headers={**ACME, "Last-Event-ID": "x"}).status_code == 400

        clients_before = sse_clients()
        acme = Stream(url, ACME).start()
        globex = Stream(url, GLOBEX).start()
        kinds = Stream(url, ACME, [("kind", "sla_breach"), ("kind", "client_risk")]).start()
        severe = Stream(url, ACME, [("min_severity", "high")]).start()
        assert acme.status == 200
        assert acme.content_type.startswith("text/event-stream")
        assert acme.response_headers["cache-control"] == "no-cache"
        assert acme.response_headers["x-accel-buffering"] == "no"
        wait_for(lambda: feed.subscriber_count == 4)
        assert sse_clients() == clients_before + 4

        plan: list[tuple[str, AlertKind, AlertSeverity]] = [
            ("acme", "coaching", "medium"),  # 0
            ("globex", "coaching", "high"),  # 1
            ("acme", "sla_breach", "critical"),  # 2
            ("acme", "client_risk", "low"),  # 3
            ("acme", "coaching", "high"),  # 4
            ("globex", "sla_breach", "low"),  # 5
            ("acme", "anomaly", "info"),  # 6
        ]
        alerts = [make_alert(t, n, k, s) for n, (t, k, s) in enumerate(plan)]
        produce(settings, alerts)

        got = acme.take(5)
        assert ns(got) == [0, 2, 3, 4, 6]
        assert got[0][1] == json.loads(alerts[0].model_dump_json()) | {
            "event_time": alerts[0].event_time.isoformat(),
            "fired_at": alerts[0].fired_at.isoformat(),
            "state": "open",  # just raised
            "state_at": None,
        }
        offsets = [parse_event_id(i)[1] for i, _ in got]
        assert offsets == sorted(offsets)
        assert len(set(offsets)) == 5
        assert {e["tenant_id"] for _, e in got} == {"acme"}
        assert ns(globex.take(2)) == [1, 5]
        assert ns(kinds.take(2)) == [2, 3]
        assert ns(severe.take(2)) == [2, 4]
        for s in (acme, globex, kinds, severe):
            s.assert_quiet(0.1)

        time.sleep(HEARTBEAT_S * 3)
        assert acme.pings >= 2
        assert globex.pings >= 2

        # Resume from the buffer: exactly the matching alerts after the id, then live ones.
        resumed = Stream(url, {**ACME, "Last-Event-ID": got[1][0]}).start()
        assert resumed.take(3) == got[2:]
        resumed_kind = Stream(
            url, {**ACME, "Last-Event-ID": got[0][0]}, [("kind", "coaching")]
        ).start()
        assert ns(resumed_kind.take(1)) == [4]
        later = make_alert("acme", 7, "coaching", "critical")
        produce(settings, [later])
        assert ns(resumed.take(1)) == [7]
        assert ns(resumed_kind.take(1)) == [7]
        assert ns(acme.take(1)) == [7]
        resumed.assert_quiet(0.2)

        # Disconnects end the subscriptions.
        for s in (acme, globex, kinds, severe, resumed, resumed_kind):
            s.close()
        wait_for(lambda: feed.subscriber_count == 0)
        assert sse_clients() == clients_before
    assert not feed.running


def test_resume_older_than_buffer_reads_kafka(settings: Settings) -> None:
    # Two alerts exist before the API starts: the feed starts at the end, after them.
    early = [make_alert("acme", n, "coaching", "high") for n in range(2)]
    produce(settings, early)
    feed = AlertFeed.from_settings(settings, heartbeat_s=HEARTBEAT_S, buffer_size=3)
    with serve(settings, feed) as url:
        live = Stream(url, ACME).start()
        wait_for(lambda: feed.subscriber_count == 1)
        plan: list[tuple[str, AlertKind]] = [
            ("acme" if n % 4 else "globex", "sla_breach" if n % 3 == 0 else "coaching")
            for n in range(2, 14)
        ]
        alerts = [make_alert(t, n, k, "medium") for n, (t, k) in enumerate(plan, start=2)]
        produce(settings, alerts)
        expected = [n for n, (t, _) in enumerate(plan, start=2) if t == "acme"]
        got = live.take(len(expected))
        assert ns(got) == expected

        # Older than the 3-alert buffer: the gap comes from Kafka, then the buffer.
        resumed = Stream(url, {**ACME, "Last-Event-ID": got[1][0]}).start()
        assert resumed.take(len(got) - 2) == got[2:]
        resumed.assert_quiet(0.2)

        # From before the feed started (an API restart): offset 0 is alert 0.
        restarted = Stream(url, {**ACME, "Last-Event-ID": "0-0"}).start()
        assert ns(restarted.take(1 + len(expected))) == [1, *expected]
        gap_kind = Stream(url, {**ACME, "Last-Event-ID": "0-0"}, [("kind", "sla_breach")]).start()
        assert ns(gap_kind.take(3)) == [n for n in expected if plan[n - 2][1] == "sla_breach"]

        produce(settings, [make_alert("acme", 99, "sla_breach", "low")])
        for s in (live, resumed, restarted, gap_kind):
            assert ns(s.take(1)) == [99]
            s.assert_quiet(0.1)
            s.close()
        assert httpx.get(url, headers={**ACME, "Last-Event-ID": "7-0"}).status_code == 400


def test_503_when_the_feed_is_not_running(settings: Settings) -> None:
    feed = AlertFeed.from_settings(settings)
    app = create_app(settings, kafka_check=lambda: None)  # the feed is not a service here
    install(app, feed)
    with TestClient(app) as client:
        assert client.get("/v1/alerts/stream").status_code == 401
        r = client.get("/v1/alerts/stream", headers=ACME)
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"


def test_slow_subscriber_is_dropped_and_stop_ends_streams(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        feed = AlertFeed.from_settings(settings, queue_size=2)
        await feed.start()
        slow = feed.subscribe("acme", heartbeat_s=0.05)
        other = feed.subscribe("globex", heartbeat_s=0.05)
        assert await anext(slow) is None  # a heartbeat: registered, now it stops reading
        assert await anext(other) is None
        await asyncio.to_thread(
            produce, settings, [make_alert("acme", n, "coaching", "low") for n in range(5)]
        )
        slow_got = [json.loads(e.data)["details"]["n"] async for e in slow if e is not None]
        assert slow_got == [0, 1]  # then it was disconnected
        assert "fell 2 alerts behind" in caplog.text
        await feed.stop()
        assert [e async for e in other if e is not None] == []  # ended by stop()
        assert feed.subscriber_count == 0

    asyncio.run(scenario())


def test_feed_reconnects_after_a_failure_without_gaps_or_repeats(settings: Settings) -> None:
    async def scenario() -> None:
        feed = AlertFeed.from_settings(settings)
        await feed.start()
        handle = feed._handle
        failures: list[int] = []

        def fail_once(msgs: list[Any]) -> None:
            if not failures:
                failures.append(len(msgs))
                raise RuntimeError("boom")  # before anything of the batch is delivered
            handle(msgs)

        feed._handle = fail_once  # type: ignore[method-assign]
        stream = feed.subscribe("acme", heartbeat_s=0.05)
        assert await anext(stream) is None  # registered
        await asyncio.to_thread(
            produce, settings, [make_alert("acme", n, "coaching", "low") for n in range(3)]
        )
        got: list[int] = []
        deadline = time.monotonic() + 10
        while len(got) < 3 and time.monotonic() < deadline:
            event = await anext(stream)
            if event is not None:
                got.append(json.loads(event.data)["details"]["n"])
        assert failures
        assert got == [0, 1, 2]
        assert feed.running
        await feed.stop()
        await stream.aclose()

    asyncio.run(scenario())
