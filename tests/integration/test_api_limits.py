"""Request limits (issue #14), each tried as an attacker would.

- A 30 MB unauthenticated POST gets 413 at once from a real uvicorn server: with an
  honest ``Content-Length`` before a byte of the body is sent, and chunked (no length)
  after little more than the limit; the app pulls at most one chunk past the limit.
- Open alert streams per tenant are capped (429), and a closed stream frees its place.
- A client address that keeps sending wrong keys is throttled (429 with ``Retry-After``),
  even when it then sends a right key; other addresses are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import Message

from api.alert_feed import AlertFeed
from api.app import create_app
from api.routers.stream import install
from infra.kafka_local import free_port
from schemas.audit import AuditEntry
from schemas.settings import Settings
from tests.integration.test_alert_stream import Stream, wait_for

pytestmark = pytest.mark.integration

KEY = "acme-limits-key-0123456789abcdef"
GLOBEX_KEY = "globex-limits-key-0123456789abcd"
ACME = {"Authorization": f"Bearer {KEY}"}
GLOBEX = {"Authorization": f"Bearer {GLOBEX_KEY}"}
LIMIT = 65_536
THIRTY_MB = 30 * 1024 * 1024


class Recorded:
    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []

    def record(self, entry: AuditEntry) -> None:
        self.rows.append(entry)


def limits_settings(base: Settings, **extra: Any) -> Settings:
    return Settings(
        kafka_bootstrap=base.kafka_bootstrap,
        topic_prefix=base.topic_prefix,
        data_dir=base.data_dir,
        clickhouse_dsn=base.clickhouse_dsn,
        clickhouse_database=base.clickhouse_database,
        api_keys=f"acme:{KEY},globex:{GLOBEX_KEY}",
        **extra,
    )


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """``app`` on a real uvicorn server on 127.0.0.1; yields its port."""
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
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _read_response(sock: socket.socket, timeout_s: float) -> bytes:
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


# --- body size --------------------------------------------------------------------------


def test_30mb_unauthenticated_posts_get_413_without_being_read(settings: Settings) -> None:
    audit = Recorded()
    app = create_app(limits_settings(settings), kafka_check=lambda: None, audit_log=audit)
    with serving(app) as port:
        # an honest Content-Length: refused before a byte of the body is sent
        with socket.create_connection(("127.0.0.1", port)) as sock:
            started = time.monotonic()
            sock.sendall(
                b"POST /v1/rules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {THIRTY_MB}\r\n\r\n".encode()
            )
            response = _read_response(sock, 5)
            assert _status_of(response) == 413, response
            assert time.monotonic() - started < 2

        # chunked, no length at all: refused once a little more than the limit arrived
        with socket.create_connection(("127.0.0.1", port)) as sock:
            # a small send buffer: what the client has "sent" is then what the server
            # took, not what the kernel queued (autotuned buffers hold megabytes)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
            sock.sendall(
                b"POST /v1/rules HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"  # 16 KiB per chunk
            sent = 0
            started = time.monotonic()
            # poll, not select: in the whole suite this process holds more than 1024
            # descriptors, which select() cannot watch
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            while sent < THIRTY_MB:
                if poller.poll(2):  # milliseconds
                    break
                try:
                    sock.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 0x4000
            response = _read_response(sock, 5)
            assert _status_of(response) == 413, response
            assert sent < 2 * 1024 * 1024, sent  # of 30 MB: the server stopped reading
            assert time.monotonic() - started < 5
    # both audited as unauthenticated calls that were too large (the route was never run)
    assert [(r.tenant_id, r.status, r.outcome) for r in audit.rows] == [
        ("", 413, "too_large"),
        ("", 413, "too_large"),
    ]


def test_a_lying_or_missing_length_is_counted_and_never_buffered(settings: Settings) -> None:
    """Straight through ASGI: a chunked body of 30 MB offered in 16 KiB pieces; the app
    pulls at most one piece past the limit, and answers 413 (not 401, 400 or 422)."""
    app = create_app(limits_settings(settings), kafka_check=lambda: None, audit_log=Recorded())
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 0x4000, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    for headers in ([], [(b"content-length", b"10")], [(b"content-length", b"nope")]):
        pulled, sent = 0, []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/rules",
            "raw_path": b"/v1/rules",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"x"), (b"content-type", b"application/json"), *headers],
            "client": ("198.51.100.9", 1234),
            "server": ("x", 80),
            "state": {},
        }
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 413, (headers, sent[0])
        assert pulled <= LIMIT // 0x4000 + 1, pulled


def test_small_bodies_pass(settings: Settings) -> None:
    app = create_app(limits_settings(settings), kafka_check=lambda: None, audit_log=Recorded())
    with TestClient(app) as tc:
        assert tc.post("/v1/rules", content=b"{" + b" " * 60_000 + b"}").status_code == 401
        assert tc.post("/v1/rules", content=b"x" * (LIMIT + 1)).status_code == 413


# --- alert streams per tenant -------------------------------------------------------------


def test_alert_streams_per_tenant_are_capped_and_freed(settings: Settings) -> None:
    s = limits_settings(settings, sse_streams_per_tenant=2)
    feed = AlertFeed.from_settings(s, heartbeat_s=0.2)
    app = create_app(s, kafka_check=lambda: None, services=[feed], audit_log=Recorded())
    install(app, feed)
    with serving(app) as port:
        url = f"http://127.0.0.1:{port}/v1/alerts/stream"
        first, second = Stream(url, ACME).start(), Stream(url, ACME).start()
        assert (first.status, second.status) == (200, 200)
        refused = httpx.get(url, headers=ACME, timeout=5)
        assert refused.status_code == 429
        assert "2 alert streams open" in refused.json()["detail"]
        assert refused.headers["retry-after"]
        other = Stream(url, GLOBEX).start()  # another tenant has its own allowance
        assert other.status == 200
        first.close()
        wait_for(lambda: app.state.stream_slots.open("acme") == 1)
        # a failed attempt gives its place back at once
        assert httpx.get(url, headers={**ACME, "Last-Event-ID": "x"}).status_code == 400
        assert app.state.stream_slots.open("acme") == 1
        third = Stream(url, ACME).start()
        assert third.status == 200
        for stream in (second, third, other):
            stream.close()
        wait_for(lambda: app.state.stream_slots.open("acme") == 0)
        wait_for(lambda: app.state.stream_slots.open("globex") == 0)


# --- failed authentication ----------------------------------------------------------------


def test_repeated_wrong_keys_from_one_address_are_throttled(settings: Settings) -> None:
    s = limits_settings(settings, auth_failure_burst=3, auth_failure_refill_s=60)
    audit = Recorded()
    lag = {"cx.results.alerts": 1}
    app = create_app(s, kafka_check=lambda: None, store_lag=lambda: lag, audit_log=audit)
    guesser = TestClient(app, client=("203.0.113.7", 40000))
    neighbour = TestClient(app, client=("203.0.113.8", 40000))
    for _ in range(5):  # no key at all is no guess: never throttled
        assert guesser.get("/v1/rules").status_code == 401
    for n in range(3):
        r = guesser.get("/v1/rules", headers={"Authorization": f"Bearer guess-{n}"})
        assert r.status_code == 401
    for headers in ({"Authorization": "Bearer guess-3"}, ACME):  # even the right key
        r = guesser.get("/v1/rules", headers=headers)
        assert r.status_code == 429, r.text
        assert 50 <= int(r.headers["retry-after"]) <= 60
    assert guesser.get("/v1/rules").status_code == 401  # no key: still a plain 401
    # a state-changing attempt while throttled is audited as such
    assert guesser.delete("/v1/rules/x", headers=ACME).status_code == 429
    assert [(a.status, a.outcome, a.client) for a in audit.rows] == [
        (429, "throttled", "203.0.113.7")
    ]
    # /readyz is no way around it: it just hides its details
    assert guesser.get("/readyz", headers=ACME).json()["store_lag"] == {}
    assert neighbour.get("/readyz", headers=ACME).json()["store_lag"] == lag
    assert neighbour.get("/v1/rules", headers=ACME).status_code == 200
    assert app.state.auth_throttle.tracked() == 1
