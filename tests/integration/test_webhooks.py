"""Webhooks end to end: real broker, embedded ClickHouse, a real local HTTP receiver.

Alerts are published to ``<prefix>alerts`` the way the flows publish them
(``TopicWriter`` + ``encode_alert``); the dispatcher consumes them, stores deliveries and
POSTs them to a threaded ``http.server`` on 127.0.0.1 whose answers each test scripts
(allowed through ``CXPULSE_WEBHOOK_ALLOWED_HOSTS=127.0.0.1``, as an on-premises receiver
would be). ``MaxJitter`` pins the backoff jitter at its ceiling so waits are exact lower
bounds. The attacks on webhooks are in ``test_webhooks_security.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.app import create_app
from api.models import AlertItem
from api.routers.subscriptions import install
from infra.kafka_local import free_port
from schemas.results import Alert
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.kafka_sink import TopicWriter, encode_alert
from sinks.webhooks.addresses import AllowList
from sinks.webhooks.deliveries import (
    AttemptResult,
    Delivery,
    Subscription,
    after_attempt,
    delivery_id,
    new_delivery,
)
from sinks.webhooks.dispatcher import WebhookDispatcher, consumer_group, url_guard
from sinks.webhooks.guard import UrlGuard
from sinks.webhooks.secret_box import secret_box
from sinks.webhooks.store import WebhookStore, default_store
from sinks.webhooks.verify import compute_signature, verify_signature

pytestmark = pytest.mark.integration

ACME = {"Authorization": "Bearer key-acme"}
GLOBEX = {"Authorization": "Bearer key-globex"}


class MaxJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


# --- a scripted local receiver -----------------------------------------------------------


@dataclass
class Hit:
    path: str
    at: float  # time.monotonic() on arrival
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers POST <path> with ``script(path, n)`` (n = earlier hits on that path)."""

    script: Callable[[str, int], int]
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hang_s: float = 0.0  # paths starting with /hang sleep this long before answering

    def on(self, path: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver(script=lambda _p, _n: 200)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrived = time.monotonic()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec.lock:
                n = sum(1 for h in rec.hits if h.path == self.path)
                rec.hits.append(Hit(self.path, arrived, dict(self.headers.items()), body))
            if self.path.startswith("/hang"):
                time.sleep(rec.hang_s)
            code = rec.script(self.path, n)
            try:
                self.send_response(code)
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"try again" if code >= 300 else b"thank you")
            except OSError:  # the client gave up (timeout)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- helpers ----------------------------------------------------------------------------


def tuned(settings: Settings, **webhook: Any) -> Settings:
    """``settings`` with the local receivers allowed, and ``webhook`` changes."""
    return settings.model_copy(update={"webhook_allowed_hosts": "127.0.0.1", **webhook})


def public_resolver(host: str, port: int) -> list[str]:
    """Every name is a public address (no DNS in tests; nothing is sent there)."""
    return ["93.184.215.14"]


def make_alert(
    label: str, kind: str = "coaching", severity: str = "high", tenant: str = "acme"
) -> Alert:
    now = datetime.now(UTC)
    return Alert(
        alert_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{label}/{uuid.uuid4()}"),
        tenant_id=tenant,
        kind=kind,
        severity=severity,
        subject_type="agent",
        subject_id=f"agent-{label}",
        title=f"{kind} {label}",
        details={"rating": 1, "label": label, "note": "é ✓"},
        event_time=now - timedelta(minutes=5),
        fired_at=now,
    )


def publish(settings: Settings, *alerts: Alert) -> None:
    writer: TopicWriter[Alert] = TopicWriter(
        {"bootstrap.servers": settings.kafka_bootstrap}, settings.alerts_topic, encode_alert
    )
    writer.write_batch(list(alerts))
    writer.close()


def publish_at(settings: Settings, alert: Alert, when: datetime) -> None:
    """Publish with an explicit Kafka timestamp (as if published at ``when``)."""
    key, value, headers = encode_alert(alert)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(
        settings.alerts_topic,
        value,
        key,
        headers=list(headers),
        timestamp=int(when.timestamp() * 1000),
    )
    assert producer.flush(10) == 0


def wait_for(what: str, pred: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def all_consumed(settings: Settings) -> bool:
    """Whether the dispatcher's group has committed up to the end of the alerts topic."""
    c = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": consumer_group(settings)}
    )
    try:
        topic = settings.alerts_topic
        parts = [
            TopicPartition(topic, p)
            for p in c.list_topics(topic, timeout=5).topics[topic].partitions
        ]
        committed = c.committed(parts, timeout=5)
        for tp in committed:
            _low, high = c.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=5)
            if tp.offset < high:
                return False
        return True
    finally:
        c.close()


SUBSCRIPTION_COLUMNS = [
    "subscription_id",
    "tenant_id",
    "url",
    "kinds",
    "min_severity",
    "secret",
    "created_at",
    "updated_at",
    "deleted",
]


def seed_webhooks(
    dsn: str,
    database: str,
    subs: Sequence[Subscription],
    deliveries: Sequence[tuple[Subscription, uuid.UUID, int]],
    at: datetime,
) -> list[Delivery]:
    """Stores ``subs`` as given (fixed ids, urls and secrets: rows as the store writes them)
    and, through a ``WebhookStore``, one delivery per ``(subscription, alert_id, code)``
    with one attempt answered ``code``: a 2xx is ``delivered``, anything else ``pending``
    again. Returns the deliveries in their stored state."""
    ch = open_client(dsn, database)
    try:
        rows = [
            [
                *(s.subscription_id, s.tenant_id, s.url, list(s.kinds), s.min_severity),
                *(s.secret, s.created_at, s.created_at, False),
            ]
            for s in subs
        ]
        ch.insert("webhook_subscriptions", rows, column_names=SUBSCRIPTION_COLUMNS)
    finally:
        ch.close()
    store = WebhookStore(lambda: open_client(dsn, database))
    out = []
    try:
        for sub, alert_id, code in deliveries:
            alert = make_alert("seeded", tenant=sub.tenant_id).model_copy(
                update={"alert_id": alert_id}
            )
            (fresh,) = store.add_deliveries([new_delivery(sub, alert, at)])
            error = "" if 200 <= code < 300 else f"HTTP {code}: try again"
            result = AttemptResult(status_code=code, error=error, duration_ms=12.5)
            done, outcome = after_attempt(
                fresh, result, at, max_attempts=5, base=60.0, rng=random.Random(0)
            )
            store.record_attempt(done, at, result, outcome)
            store.save_delivery(done)
            out.append(done)
    finally:
        store.close()
    return out


def app_with_webhooks(settings: Settings, store: WebhookStore, *services: Any) -> TestClient:
    app = create_app(settings, kafka_check=lambda: None, services=[store, *services])
    install(app, store)
    return TestClient(app)


def deliveries(tc: TestClient, sub_id: str, headers: dict[str, str] = ACME) -> list[Any]:
    r = tc.get(f"/v1/subscriptions/{sub_id}/deliveries", headers=headers)
    assert r.status_code == 200, r.text
    items: list[Any] = r.json()["items"]
    return items


def counter(outcome: str) -> float:
    value = REGISTRY.get_sample_value("cxpulse_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


# --- retries, signature, backoff ----------------------------------------------------------


def test_retries_with_backoff_then_delivers_signed(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    rec, base_url = receiver
    rec.script = lambda _path, n: 500 if n < 2 else 200  # fails twice, then takes it
    s = tuned(settings, webhook_backoff_base_s=0.05, webhook_max_attempts=5)
    store = default_store(s)
    before = {o: counter(o) for o in ("retry", "delivered", "dead")}
    with app_with_webhooks(s, store, WebhookDispatcher(s, store, rng=MaxJitter())) as tc:
        r = tc.post(
            "/v1/subscriptions",
            json={"url": f"{base_url}/hook", "kinds": ["coaching"]},
            headers=ACME,
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert set(created) == {"id", "secret"}
        assert r.headers["location"] == f"/v1/subscriptions/{created['id']}"
        sub_id, secret = created["id"], created["secret"]

        alert = make_alert("retry")
        t0 = time.time()
        publish(s, alert)
        items = wait_for(
            "delivered",
            lambda: [d for d in deliveries(tc, sub_id) if d["status"] == "delivered"],
        )
        hits = rec.on("/hook")
        # the same alert published again (a flow replay): no second delivery, no 4th POST
        publish(s, alert)
        wait_for("the replay consumed", lambda: all_consumed(s))
        again = deliveries(tc, sub_id)
        url = f"/v1/subscriptions/{sub_id}/deliveries"
        by_status = {
            st: tc.get(url, params={"status": st}, headers=ACME).json()["items"]
            for st in ("pending", "delivered", "dead")
        }
        assert tc.get(url, params={"status": "lost"}, headers=ACME).status_code == 422

    assert len(hits) == 3
    expected_id = str(delivery_id(uuid.UUID(sub_id), alert.alert_id))
    assert {h.headers["X-Cxpulse-Delivery"] for h in hits} == {expected_id}
    # the GET /v1/alerts shape, without the lifecycle state (open when delivered)
    body = AlertItem(**alert.model_dump()).model_dump_json(exclude={"state", "state_at"}).encode()
    for h in hits:
        assert h.body == body  # the exact same bytes every time
        t = int(h.headers["X-Cxpulse-Timestamp"])
        expected = f"t={t},v1={compute_signature(secret, t, h.body)}"
        assert h.headers["X-Cxpulse-Signature"] == expected
        assert verify_signature(secret, h.body, h.headers["X-Cxpulse-Signature"])
        assert h.headers["Content-Type"] == "application/json"
        assert int(t0) - 1 <= t <= time.time() + 1
    assert json.loads(hits[0].body)["alert_id"] == str(alert.alert_id)

    # backoff: ceilings 0.05 s then 0.1 s (jitter pinned at the top), measured at the receiver
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    print(f"attempt gaps (s): {[round(g, 4) for g in gaps]}")
    assert 0.05 - 0.01 <= gaps[0] < 0.05 + 1.0
    assert 0.10 - 0.01 <= gaps[1] < 0.10 + 1.0

    (item,) = items
    assert item["delivery_id"] == expected_id
    assert item["alert_id"] == str(alert.alert_id)
    assert (item["attempts"], item["last_status_code"], item["last_error"]) == (3, 200, "")
    assert item["next_attempt_at"] is None
    log = item["attempt_log"]
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in log] == [
        (1, 500, "retry"),
        (2, 500, "retry"),
        (3, 200, "delivered"),
    ]
    assert log[0]["error"] == "HTTP 500 Internal Server Error"  # never the answer's body
    assert all(a["duration_ms"] >= 0 for a in log)
    assert again == items
    assert by_status == {"pending": [], "delivered": items, "dead": []}
    assert len(rec.on("/hook")) == 3
    assert counter("retry") - before["retry"] == 2
    assert counter("delivered") - before["delivered"] == 1
    assert counter("dead") == before["dead"]


def test_failing_receivers_end_dead_after_max_attempts(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    rec, base_url = receiver
    rec.script = lambda _path, _n: 503
    rec.hang_s = 1.0
    s = tuned(settings, webhook_backoff_base_s=0.05, webhook_max_attempts=3, webhook_timeout_s=0.25)
    store = default_store(s)
    with app_with_webhooks(s, store, WebhookDispatcher(s, store, rng=MaxJitter())) as tc:
        failing = tc.post("/v1/subscriptions", json={"url": f"{base_url}/down"}, headers=ACME)
        hanging = tc.post("/v1/subscriptions", json={"url": f"{base_url}/hang"}, headers=ACME)
        nobody = f"http://127.0.0.1:{free_port()}/hook"  # connection refused
        refused = tc.post("/v1/subscriptions", json={"url": nobody}, headers=ACME)
        publish(s, make_alert("dead"))
        for sub_id in (failing.json()["id"], hanging.json()["id"], refused.json()["id"]):

            def dead(sub_id: str = sub_id) -> list[Any]:
                return [d for d in deliveries(tc, sub_id) if d["status"] == "dead"]

            wait_for("dead", dead)
        time.sleep(0.3)  # nothing more is sent after dead
        (down,) = deliveries(tc, failing.json()["id"])
        (hang,) = deliveries(tc, hanging.json()["id"])
        (gone,) = deliveries(tc, refused.json()["id"])

    assert len(rec.on("/down")) == 3
    assert (down["attempts"], down["last_status_code"]) == (3, 503)
    assert down["last_error"] == "HTTP 503 Service Unavailable"
    assert [a["outcome"] for a in down["attempt_log"]] == ["retry", "retry", "dead"]
    assert down["next_attempt_at"] is None

    assert len(rec.on("/hang")) == 3
    assert (hang["attempts"], hang["last_status_code"]) == (3, None)
    assert "timeout" in hang["last_error"]
    assert [a["status_code"] for a in hang["attempt_log"]] == [None, None, None]
    assert all(200 <= a["duration_ms"] < 1000 for a in hang["attempt_log"])

    assert (gone["attempts"], gone["last_status_code"]) == (3, None)
    assert gone["last_error"] == "connection refused"
    assert [a["outcome"] for a in gone["attempt_log"]] == ["retry", "retry", "dead"]


# --- restart ----------------------------------------------------------------------------


def test_pending_deliveries_survive_a_restart(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    rec, base_url = receiver
    rec.script = lambda path, n: 200 if path == "/keep" and n >= 1 else 500
    # first retry due 2 s after the first attempt: the dispatcher is stopped before that
    s = tuned(settings, webhook_backoff_base_s=2.0, webhook_max_attempts=5)
    store = default_store(s)
    keep = store.create_subscription("acme", f"{base_url}/keep")
    drop = store.create_subscription("acme", f"{base_url}/drop")
    alert = make_alert("restart")

    first = WebhookDispatcher(s, store, rng=MaxJitter())
    asyncio.run(first.start())
    try:
        publish(s, alert)
        wait_for(
            "both first attempts recorded",
            lambda: (
                all(
                    v.delivery.attempts == 1
                    for sub in (keep, drop)
                    for v in store.deliveries("acme", sub.subscription_id)
                )
                and len(rec.hits) == 2
            ),
        )
    finally:
        asyncio.run(first.stop())
    assert not first.running
    assert len(rec.hits) == 2
    pending = store.pending_deliveries()
    assert {d.subscription_id for d in pending} == {keep.subscription_id, drop.subscription_id}
    store.delete_subscription("acme", drop.subscription_id)  # while nobody runs
    store.close()

    # a new process: new store, new dispatcher
    store2 = default_store(s)
    second = WebhookDispatcher(s, store2, rng=MaxJitter())
    asyncio.run(second.start())
    try:
        wait_for(
            "the pending delivery delivered after the restart",
            lambda: [
                v
                for v in store2.deliveries("acme", keep.subscription_id)
                if v.delivery.status == "delivered"
            ],
        )
        wait_for(
            "the deleted subscription's delivery ended",
            lambda: [
                v
                for v in store2.deliveries("acme", drop.subscription_id)
                if v.delivery.status == "dead"
            ],
        )
    finally:
        asyncio.run(second.stop())
        store2.close()

    keep_hits, drop_hits = rec.on("/keep"), rec.on("/drop")
    assert len(keep_hits) == 2
    assert len(drop_hits) == 1
    assert keep_hits[0].headers["X-Cxpulse-Delivery"] == keep_hits[1].headers["X-Cxpulse-Delivery"]
    assert keep_hits[0].body == keep_hits[1].body
    print(f"attempt gap across the restart (s): {keep_hits[1].at - keep_hits[0].at:.4f}")
    assert keep_hits[1].at - keep_hits[0].at >= 2.0 - 0.01  # the stored schedule held
    (kept,) = store2.deliveries("acme", keep.subscription_id)
    assert (kept.delivery.attempts, [a.outcome for a in kept.attempt_log]) == (
        2,
        ["retry", "delivered"],
    )
    (dropped,) = store2.deliveries("acme", drop.subscription_id)
    assert (dropped.delivery.attempts, dropped.delivery.last_error) == (1, "subscription deleted")
    assert store2.pending_deliveries() == []


class FlakyStore(WebhookStore):
    """ClickHouse refusing to store deliveries until ``healthy`` is set."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            lambda: open_client(settings.dsn, settings.clickhouse_database),
            box=secret_box(settings),
            guard=url_guard(settings),
        )
        self.healthy = threading.Event()
        self.refused = 0

    def add_deliveries(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        if not self.healthy.is_set():
            self.refused += 1
            raise RuntimeError("ClickHouse is down (test)")
        return super().add_deliveries(deliveries)


def test_offsets_are_committed_only_after_deliveries_are_stored(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    rec, base_url = receiver
    s = tuned(settings, webhook_backoff_base_s=0.05)
    store = FlakyStore(s)
    sub = store.create_subscription("acme", f"{base_url}/hook")
    alert = make_alert("flaky")

    broken = WebhookDispatcher(s, store, retry_s=0.1)
    asyncio.run(broken.start())
    try:
        publish(s, alert)
        wait_for("storing refused a few times", lambda: store.refused >= 3)
        assert not all_consumed(s)  # not stored: not committed
        assert rec.hits == []
    finally:
        asyncio.run(broken.stop())  # dies without having stored it

    healthy = WebhookDispatcher(s, default_store(s))
    asyncio.run(healthy.start())
    try:
        wait_for("delivered by the next dispatcher", lambda: rec.on("/hook"))
        wait_for("committed", lambda: all_consumed(s))
    finally:
        asyncio.run(healthy.stop())
    (hit,) = rec.on("/hook")
    expected = delivery_id(sub.subscription_id, alert.alert_id)
    assert hit.headers["X-Cxpulse-Delivery"] == str(expected)


# --- filters ----------------------------------------------------------------------------


def test_kind_severity_tenant_and_creation_filters(
    settings: Settings, receiver: tuple[Receiver, str]
) -> None:
    rec, base_url = receiver
    s = tuned(settings, webhook_backoff_base_s=0.05)
    store = default_store(s)
    with app_with_webhooks(s, store, WebhookDispatcher(s, store)) as tc:

        def subscribe(path: str, headers: dict[str, str], **filters: Any) -> None:
            r = tc.post(
                "/v1/subscriptions", json={"url": base_url + path, **filters}, headers=headers
            )
            assert r.status_code == 201, r.text

        subscribe("/coaching-high", ACME, kinds=["coaching"], min_severity="high")
        subscribe("/critical", ACME, min_severity="critical")
        subscribe("/acme-all", ACME)
        subscribe("/two-kinds", ACME, kinds=["sla_breach", "client_risk"])
        subscribe("/globex", GLOBEX, kinds=[])
        alerts = {
            "coaching-medium": make_alert("cm", "coaching", "medium"),
            "coaching-high": make_alert("ch", "coaching", "high"),
            "sla-critical": make_alert("sc", "sla_breach", "critical"),
            "risk-low": make_alert("rl", "client_risk", "low"),
            "globex-low": make_alert("gl", "coaching", "low", tenant="globex"),
        }
        publish(s, *alerts.values())
        # published (Kafka timestamp) long before any subscription existed: not delivered
        old = make_alert("old", "coaching", "critical")
        publish_at(s, old, datetime.now(UTC) - timedelta(hours=1))
        wait_for("every alert consumed", lambda: all_consumed(s))
        wait_for("nothing pending", lambda: store.pending_deliveries() == [])

    def got(path: str) -> set[str]:
        return {json.loads(h.body)["title"].split()[-1] for h in rec.on(path)}

    assert got("/coaching-high") == {"ch"}
    assert got("/critical") == {"sc"}
    assert got("/acme-all") == {"cm", "ch", "sc", "rl"}
    assert got("/two-kinds") == {"sc", "rl"}
    assert got("/globex") == {"gl"}
    assert all(len(rec.on(p)) == len(got(p)) for p in ("/acme-all", "/globex"))


# --- the subscriptions API -----------------------------------------------------------------


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    store = WebhookStore(
        lambda: open_client(settings.dsn, settings.clickhouse_database),
        box=secret_box(settings),
        guard=UrlGuard(AllowList(), allow_http=True, resolver=public_resolver),
    )
    with app_with_webhooks(settings, store) as tc:  # routes only, no dispatcher
        yield tc


def test_subscription_crud(api: TestClient) -> None:
    r = api.post(
        "/v1/subscriptions",
        json={"url": "https://hooks.example.com/a", "kinds": ["sla_breach", "coaching"]},
        headers=ACME,
    )
    assert r.status_code == 201
    sub_id, secret = r.json()["id"], r.json()["secret"]
    assert secret.startswith("whsec_")
    api.post("/v1/subscriptions", json={"url": "http://b.example.com"}, headers=ACME)

    listed = api.get("/v1/subscriptions", headers=ACME).json()["items"]
    assert [i["url"] for i in listed] == ["https://hooks.example.com/a", "http://b.example.com"]
    assert all(set(i) == {"id", "url", "kinds", "min_severity", "created_at"} for i in listed)
    assert secret not in json.dumps(listed)
    one = api.get(f"/v1/subscriptions/{sub_id}", headers=ACME).json()
    assert one == listed[0]
    assert (one["kinds"], one["min_severity"]) == (["coaching", "sla_breach"], "info")
    assert one["created_at"].endswith("+00:00")
    assert api.get(f"/v1/subscriptions/{sub_id}/deliveries", headers=ACME).json() == {"items": []}

    assert api.delete(f"/v1/subscriptions/{sub_id}", headers=ACME).status_code == 204
    assert api.get(f"/v1/subscriptions/{sub_id}", headers=ACME).status_code == 404
    assert api.get(f"/v1/subscriptions/{sub_id}/deliveries", headers=ACME).status_code == 404
    assert api.delete(f"/v1/subscriptions/{sub_id}", headers=ACME).status_code == 404
    assert [i["url"] for i in api.get("/v1/subscriptions", headers=ACME).json()["items"]] == [
        "http://b.example.com"
    ]


def test_subscriptions_are_tenant_isolated(api: TestClient) -> None:
    sub_id = api.post(
        "/v1/subscriptions", json={"url": "https://acme.example.com/h"}, headers=ACME
    ).json()["id"]
    assert api.get("/v1/subscriptions", headers=GLOBEX).json() == {"items": []}
    for method, path in [
        ("GET", f"/v1/subscriptions/{sub_id}"),
        ("GET", f"/v1/subscriptions/{sub_id}/deliveries"),
        ("DELETE", f"/v1/subscriptions/{sub_id}"),
    ]:
        r = api.request(method, path, headers=GLOBEX)
        assert r.status_code == 404, (method, path)
        assert r.json() == {"detail": "no such subscription"}
    # globex's delete did nothing
    assert api.get(f"/v1/subscriptions/{sub_id}", headers=ACME).status_code == 200
    assert len(api.get("/v1/subscriptions", headers=ACME).json()["items"]) == 1


INVALID_BODIES: list[dict[str, Any]] = [
    {"url": "ftp://example.com/x"},
    {"url": "javascript:alert(1)"},
    {"url": "http://"},
    {"url": "example.com/hook"},
    {"url": "https://example.com", "kinds": ["nope"]},
    {"url": "https://example.com", "min_severity": "severe"},
    {"url": "https://example.com", "secret": "mine"},
    {},
]


def test_invalid_subscriptions_rejected(api: TestClient) -> None:
    for body in INVALID_BODIES:  # one app for all: each case would migrate a database
        r = api.post("/v1/subscriptions", json=body, headers=ACME)
        assert r.status_code == 422, (body, r.text)
    r = api.post("/v1/subscriptions", content=b"{not json", headers=ACME)
    assert r.status_code in (400, 422)
    assert api.get("/v1/subscriptions", headers=ACME).json() == {"items": []}


def test_subscription_routes_need_a_key(api: TestClient) -> None:
    sid = str(uuid.uuid4())
    for method, path in [
        ("POST", "/v1/subscriptions"),
        ("GET", "/v1/subscriptions"),
        ("GET", f"/v1/subscriptions/{sid}"),
        ("DELETE", f"/v1/subscriptions/{sid}"),
        ("GET", f"/v1/subscriptions/{sid}/deliveries"),
    ]:
        r = api.request(method, path, json={"url": "https://x.io"})
        assert r.status_code == 401, (method, path)
    assert api.get("/v1/subscriptions/not-a-uuid").status_code == 401  # the key first
    assert api.get("/v1/subscriptions/not-a-uuid", headers=ACME).status_code == 422
    spec = api.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        if path.startswith("/v1/subscriptions"):
            for method, op in methods.items():
                assert "401" in op["responses"], (method, path)
                assert ("{subscription_id}" in path) == ("404" in op["responses"]), (method, path)
    assert "webhooks" in {t["name"] for t in api.get("/openapi.json").json()["tags"]}
