"""Attacks on webhooks, each a test: real broker, embedded ClickHouse, real sockets.

SSRF (internal targets, odd spellings, DNS rebinding, redirects, response bodies), replay
and rotation of signatures, secrets at rest, the subscription cap, and fairness (a
tenant's stalled endpoints against another tenant's delivery). Resolvers are injected
stubs (never a patched ``socket``): a name resolves to whatever the test says.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra.migrate import load_migrations
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.webhooks.addresses import AllowList
from sinks.webhooks.dispatcher import WebhookDispatcher
from sinks.webhooks.guard import UrlGuard
from sinks.webhooks.secret_box import secret_box
from sinks.webhooks.sender import Sender
from sinks.webhooks.store import WebhookStore
from sinks.webhooks.verify import parse_signature, verify_signature
from tests.integration.test_webhooks import (
    ACME,
    GLOBEX,
    app_with_webhooks,
    deliveries,
    make_alert,
    publish,
    tuned,
    wait_for,
)

pytestmark = pytest.mark.integration

PUBLIC = "93.184.215.14"
INTERNAL_BODY = b"INTERNAL-ONLY: db_password=hunter2"


# --- an internal service and a scripted receiver on 127.0.0.1 ----------------------------


@dataclass
class Seen:
    path: str
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    base: str
    port: int
    hits: list[Seen] = field(default_factory=list)

    def on(self, path: str) -> list[Seen]:
        return [h for h in list(self.hits) if h.path == path]


@pytest.fixture
def server() -> Iterator[Server]:
    """``/internal`` answers 403 with a secret in its body (an internal admin service);
    ``/redirect`` a 302 to ``/target``; ``/trickle`` its status line a byte at a time;
    anything else 200."""
    holder: list[Server] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrived = time.monotonic()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            holder[0].hits.append(Seen(self.path, arrived, dict(self.headers.items()), body))
            try:
                if self.path == "/trickle":
                    for b in b"HTTP/1.1 200 OK\r\n":
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        time.sleep(0.2)
                    return
                code, extra = {
                    "/internal": (403, {}),
                    "/redirect": (302, {"Location": "/target"}),
                }.get(self.path, (200, {}))
                payload = INTERNAL_BODY if code == 403 else b"ok"
                self.send_response(code)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    holder.append(Server(f"http://127.0.0.1:{port}", port))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield holder[0]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def stalled() -> Iterator[int]:
    """A port that accepts connections and never answers (the kernel completes the
    handshake; nobody reads)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        sock.close()


class Clock:
    """A clock the test moves (rotation overlap)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def stub(table: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolve


def store_for(
    s: Settings,
    resolver: Callable[[str, int], Sequence[str]] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> WebhookStore:
    guard = UrlGuard(
        AllowList.parse(s.webhook_allowed_hosts),
        allow_http=s.webhook_allow_http,
        **({} if resolver is None else {"resolver": resolver}),
    )
    return WebhookStore(
        lambda: open_client(s.dsn, s.clickhouse_database),
        box=secret_box(s),
        guard=guard,
        max_subscriptions=s.webhook_max_subscriptions,
        **({} if clock is None else {"clock": clock}),
    )


def sender_for(s: Settings, resolver: Callable[[str, int], Sequence[str]]) -> Sender:
    guard = UrlGuard(
        AllowList.parse(s.webhook_allowed_hosts),
        allow_http=s.webhook_allow_http,
        resolver=resolver,
    )
    return Sender(guard, s.webhook_timeout_s)


def subscribe(tc: TestClient, url: str, headers: dict[str, str] = ACME) -> Any:
    return tc.post("/v1/subscriptions", json={"url": url}, headers=headers)


def settled(tc: TestClient, sub_id: str) -> list[Any]:
    return [d for d in deliveries(tc, sub_id) if d["status"] != "pending" or d["attempts"]]


# --- SSRF -------------------------------------------------------------------------------


def test_internal_target_refused_at_creation(settings: Settings, server: Server) -> None:
    s = settings  # no allow-list: what production has
    with app_with_webhooks(s, store_for(s)) as tc:
        r = subscribe(tc, f"{server.base}/internal")
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "url"]
        assert "loopback" in r.json()["detail"][0]["msg"]
        assert tc.get("/v1/subscriptions", headers=ACME).json() == {"items": []}
    assert server.hits == []


ODD_URLS = [
    "http://0x7f000001:{port}/",
    "http://2130706433:{port}/",
    "http://127.1:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/",
    "https://100.100.100.200/",
    "http://localhost:{port}/",
    "http://clickhouse:8123/",
    "https://metadata.google.internal/computeMetadata/v1/",
]


def test_odd_spellings_and_internal_names_refused(settings: Settings, server: Server) -> None:
    names = {
        "localhost": ["127.0.0.1"],
        "clickhouse": ["172.18.0.3"],
        "metadata.google.internal": ["169.254.169.254"],
    }
    s = settings.model_copy(update={"webhook_allow_http": True})
    with app_with_webhooks(s, store_for(s, stub(names))) as tc:
        for url in ODD_URLS:
            r = subscribe(tc, url.format(port=server.port))
            assert r.status_code == 422, (url, r.text)
        assert tc.get("/v1/subscriptions", headers=ACME).json() == {"items": []}
    assert server.hits == []


def test_allowed_internal_target_never_shows_its_body(settings: Settings, server: Server) -> None:
    s = tuned(settings, webhook_backoff_base_s=0.05, webhook_max_attempts=2)
    store = store_for(s)
    with app_with_webhooks(s, store, WebhookDispatcher(s, store)) as tc:
        r = subscribe(tc, f"{server.base}/internal")
        assert r.status_code == 201, r.text
        sub_id = r.json()["id"]
        publish(s, make_alert("internal"))
        (dead,) = wait_for(
            "dead", lambda: [d for d in deliveries(tc, sub_id) if d["status"] == "dead"]
        )
        raw = tc.get(f"/v1/subscriptions/{sub_id}/deliveries", headers=ACME).text
    assert len(server.on("/internal")) == 2
    assert dead["last_error"] == "HTTP 403 Forbidden"
    assert [a["error"] for a in dead["attempt_log"]] == ["HTTP 403 Forbidden"] * 2
    assert "INTERNAL-ONLY" not in raw
    assert "hunter2" not in raw
    ch = open_client(s.dsn, s.clickhouse_database)
    try:
        for table in ("webhook_deliveries", "webhook_attempts"):
            rows = ch.query(f"SELECT * FROM {table}").result_rows
            assert rows, table
            assert all("hunter2" not in str(r) for r in rows), table
    finally:
        ch.close()


def test_dns_rebinding_refused_at_send(settings: Settings, server: Server) -> None:
    """Public when the subscription is made, 127.0.0.1 when the POST is due: nothing sent."""
    answers = {"hooks.rebind.test": [PUBLIC]}
    resolve = stub(answers)
    s = tuned(settings, webhook_allowed_hosts="", webhook_allow_http=True)
    s = s.model_copy(update={"webhook_backoff_base_s": 0.05, "webhook_max_attempts": 2})
    store = store_for(s, resolve)
    dispatcher = WebhookDispatcher(s, store, sender=sender_for(s, resolve))
    with app_with_webhooks(s, store, dispatcher) as tc:
        r = subscribe(tc, f"http://hooks.rebind.test:{server.port}/rebind")
        assert r.status_code == 201, r.text
        answers["hooks.rebind.test"] = ["127.0.0.1"]  # the attacker's DNS flips
        publish(s, make_alert("rebind"))
        (dead,) = wait_for(
            "dead", lambda: [d for d in deliveries(tc, r.json()["id"]) if d["status"] == "dead"]
        )
    assert server.hits == []
    assert dead["last_error"].startswith("blocked: ")
    assert dead["last_status_code"] is None


def test_connection_is_pinned_to_the_checked_address(settings: Settings, server: Server) -> None:
    """The name resolves only through the guard's resolver (the system's does not know
    it): the POST reaches the checked address with the URL's Host header."""
    resolve = stub({"receiver.internal": ["127.0.0.1"]})
    s = tuned(settings, webhook_allowed_hosts="receiver.internal", webhook_backoff_base_s=0.05)
    store = store_for(s, resolve)
    with app_with_webhooks(
        s, store, WebhookDispatcher(s, store, sender=sender_for(s, resolve))
    ) as tc:
        r = subscribe(tc, f"http://receiver.internal:{server.port}/pinned")
        assert r.status_code == 201, r.text
        publish(s, make_alert("pinned"))
        wait_for("delivered", lambda: server.on("/pinned"))
    (hit,) = server.on("/pinned")
    assert hit.headers["Host"] == f"receiver.internal:{server.port}"


def test_redirects_are_not_followed(settings: Settings, server: Server) -> None:
    s = tuned(settings, webhook_backoff_base_s=0.05, webhook_max_attempts=1)
    store = store_for(s)
    with app_with_webhooks(s, store, WebhookDispatcher(s, store)) as tc:
        sub_id = subscribe(tc, f"{server.base}/redirect").json()["id"]
        publish(s, make_alert("redirect"))
        (dead,) = wait_for(
            "dead", lambda: [d for d in deliveries(tc, sub_id) if d["status"] == "dead"]
        )
    assert len(server.on("/redirect")) == 1
    assert server.on("/target") == []
    assert dead["last_error"] == "HTTP 302 Found (redirects are not followed)"


def test_one_deadline_for_the_whole_attempt(settings: Settings, server: Server) -> None:
    """A receiver trickling its answer a byte every 0.2 s (each read within any per-phase
    timeout) is cut at the attempt's deadline."""
    s = tuned(settings, webhook_timeout_s=1.0)
    resolve = stub({})
    sender = sender_for(s, resolve)
    started = time.monotonic()
    result = sender.send(f"{server.base}/trickle", b"{}", {"Content-Type": "application/json"})
    took = time.monotonic() - started
    print(f"trickling receiver cut after {took:.2f}s (deadline 1s)")
    assert result.status_code is None
    assert result.error == "timeout: no answer within 1s"
    assert 0.9 <= took < 1.8


# --- signatures, rotation, secrets at rest -----------------------------------------------


def test_rotation_signs_with_both_for_24h_then_only_the_new(
    settings: Settings, server: Server
) -> None:
    clock = Clock()
    s = tuned(settings, webhook_backoff_base_s=0.05)
    store = store_for(s, clock=clock)
    with app_with_webhooks(s, store, WebhookDispatcher(s, store, clock=clock)) as tc:
        created = subscribe(tc, f"{server.base}/rot").json()
        sub_id, old = created["id"], created["secret"]
        r = tc.post(f"/v1/subscriptions/{sub_id}/rotate-secret", headers=ACME)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == sub_id
        new = r.json()["secret"]
        assert new != old
        foreign = tc.post(f"/v1/subscriptions/{sub_id}/rotate-secret", headers=GLOBEX)
        assert foreign.status_code == 404
        publish(s, make_alert("during"))
        wait_for("delivered during the overlap", lambda: server.on("/rot"))
        clock.offset = timedelta(hours=24, seconds=1)
        publish(s, make_alert("after"))
        wait_for("delivered after the overlap", lambda: len(server.on("/rot")) == 2)
    during, after = server.on("/rot")
    for hit, valid, invalid in ((during, [new, old], []), (after, [new], [old])):
        header = hit.headers["X-Cxpulse-Signature"]
        parsed = parse_signature(header)
        assert parsed is not None
        t, values = parsed
        assert hit.headers["X-Cxpulse-Timestamp"] == str(t)
        assert len(values) == len(valid)
        for secret in valid:
            assert verify_signature(secret, hit.body, header, now=t)
        for secret in invalid:
            assert not verify_signature(secret, hit.body, header, now=t)
        # a replay of the captured POST six minutes later fails
        assert not verify_signature(new, hit.body, header, now=t + 360)


def test_secrets_are_sealed_at_rest_and_never_served(settings: Settings) -> None:
    s = settings.model_copy(update={"webhook_allow_http": True})
    store = store_for(s, stub({"hooks.example.com": [PUBLIC]}))
    with app_with_webhooks(s, store) as tc:
        created = subscribe(tc, "https://hooks.example.com/a").json()
        sub_id = created["id"]
        rotated = tc.post(f"/v1/subscriptions/{sub_id}/rotate-secret", headers=ACME).json()
        secrets = [created["secret"], rotated["secret"]]
        served = [
            tc.get("/v1/subscriptions", headers=ACME).text,
            tc.get(f"/v1/subscriptions/{sub_id}", headers=ACME).text,
            tc.get(f"/v1/subscriptions/{sub_id}/deliveries", headers=ACME).text,
            tc.get("/openapi.json").text,
        ]
        assert tc.delete(f"/v1/subscriptions/{sub_id}", headers=ACME).status_code == 204
    for text in served:
        for secret in secrets:
            assert secret not in text
    ch = open_client(s.dsn, s.clickhouse_database)
    try:
        rows = [str(r) for r in ch.query("SELECT * FROM webhook_subscriptions").result_rows]
    finally:
        ch.close()
    assert len(rows) == 3  # created, rotated, deleted: every version
    for row in rows:
        for secret in secrets:
            assert secret not in row
            assert secret.removeprefix("whsec_") not in row


def test_plaintext_secrets_from_before_012_are_sealed(settings: Settings, server: Server) -> None:
    """A row as 003 stored it (secret in plain text) still signs, and once the
    dispatcher has started no stored version holds it in plain text."""
    s = tuned(settings)
    sub_id = uuid.uuid4()
    legacy = "whsec_legacy_plaintext_secret"
    now = datetime.now(UTC)
    ch = open_client(s.dsn, s.clickhouse_database)
    try:
        cols = ["subscription_id", "tenant_id", "url", "kinds", "min_severity", "secret"]
        cols += ["created_at", "updated_at", "deleted"]
        row = [sub_id, "acme", f"{server.base}/legacy", [], "info", legacy, now, now, False]
        ch.insert("webhook_subscriptions", [row], column_names=cols)
        store = store_for(s)
        dispatcher = WebhookDispatcher(s, store)
        asyncio.run(dispatcher.start())
        try:
            publish(s, make_alert("legacy"))
            wait_for("delivered", lambda: server.on("/legacy"))
        finally:
            asyncio.run(dispatcher.stop())
            store.close()
        stored = [str(r) for r in ch.query("SELECT * FROM webhook_subscriptions").result_rows]
    finally:
        ch.close()
    (hit,) = server.on("/legacy")
    assert verify_signature(legacy, hit.body, hit.headers["X-Cxpulse-Signature"])
    assert len(stored) == 2
    assert all(legacy not in r for r in stored)


def test_migration_012_drops_stored_response_bodies(settings: Settings) -> None:
    """Bodies kept by the old dispatcher in last_error / error are cut to the status."""
    ch = open_client(settings.dsn, settings.clickhouse_database)
    try:
        d = uuid.uuid4()
        now = datetime.now(UTC)
        ch.insert(
            "webhook_attempts",
            [[d, d, "acme", 1, now, 403, "HTTP 403: INTERNAL-ONLY: db_password=x", 1.0, "retry"]],
            column_names=[
                "delivery_id", "subscription_id", "tenant_id", "attempt", "at",
                "status_code", "error", "duration_ms", "outcome",
            ],
        )  # fmt: skip
        (m,) = [m for m in load_migrations() if m.version == 12]
        for statement in m.statements():  # as if 012 ran after it (its statements are idempotent)
            ch.command(statement)
        errors = ch.query("SELECT error FROM webhook_attempts").result_rows
    finally:
        ch.close()
    assert errors == [("HTTP 403",)]


def test_subscriptions_per_tenant_are_capped(settings: Settings) -> None:
    s = settings.model_copy(update={"webhook_max_subscriptions": 3})
    store = store_for(s, stub({"hooks.example.com": [PUBLIC]}))
    with app_with_webhooks(s, store) as tc:
        codes = [subscribe(tc, f"https://hooks.example.com/{i}").status_code for i in range(4)]
        other = subscribe(tc, "https://hooks.example.com/g", GLOBEX).status_code
        first = tc.get("/v1/subscriptions", headers=ACME).json()["items"][0]["id"]
        tc.delete(f"/v1/subscriptions/{first}", headers=ACME)
        again = subscribe(tc, "https://hooks.example.com/again").status_code
    assert codes == [201, 201, 201, 409]
    assert (other, again) == (201, 201)


# --- fairness ---------------------------------------------------------------------------


def test_stalled_tenant_does_not_delay_another(
    settings: Settings, server: Server, stalled: int
) -> None:
    """40 subscriptions of acme to an endpoint that never answers; globex's delivery
    still arrives within 2 s."""
    s = tuned(settings, webhook_max_subscriptions=50, webhook_timeout_s=4.0)
    store = store_for(s)
    dispatcher = WebhookDispatcher(s, store)
    with app_with_webhooks(s, store, dispatcher) as tc:
        for i in range(40):
            r = subscribe(tc, f"http://127.0.0.1:{stalled}/stall/{i}")
            assert r.status_code == 201, r.text
        assert subscribe(tc, f"{server.base}/globex", GLOBEX).status_code == 201
        publish(s, make_alert("flood"))  # 40 deliveries to the stalled endpoint
        time.sleep(0.5)  # they have taken their senders
        sent = time.monotonic()
        publish(s, make_alert("b", tenant="globex"))
        wait_for("globex's delivery", lambda: server.on("/globex"), timeout_s=10)
        latency = server.on("/globex")[0].at - sent
    print(f"globex delivery with 40 stalled acme endpoints: {latency:.3f}s")
    assert latency < 2.0
