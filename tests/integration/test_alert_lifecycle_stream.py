"""Alert state changes reach the tenant's stream clients on every API replica, and no one
else's: two API processes' worth (two uvicorn servers, each with its own alert feed and
its own Kafka publisher) on one real broker and one ClickHouse database."""

from __future__ import annotations

import contextlib
import json
import queue
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from api.alert_events import parse_event_id
from api.alert_feed import AlertFeed
from schemas.settings import Settings
from tests.integration.test_alert_stream import ACME, GLOBEX, Stream, make_alert, produce, wait_for
from tests.integration.test_alert_stream import serve as serve_stream
from tests.integration.test_api import NS
from tests.integration.test_api import seed as seed_api

pytestmark = pytest.mark.integration

HEARTBEAT_S = 0.3
C9, C10, R11 = (str(uuid.uuid5(NS, label)) for label in ("c9", "c10", "r11"))


@dataclass
class Events(Stream):
    """A stream client that keeps every event, whatever its type: (type, id, data)."""

    typed: queue.Queue[tuple[str, str, dict[str, Any]]] = field(default_factory=queue.Queue)

    def start(self) -> Events:
        super().start()
        return self

    def take_typed(self, n: int, timeout_s: float = 10.0) -> list[tuple[str, str, dict[str, Any]]]:
        out: list[tuple[str, str, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < n:
            try:
                out.append(self.typed.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"got {len(out)} of {n} events: {out}") from None
        return out

    def assert_quiet(self, wait_s: float = 0.5) -> None:
        time.sleep(wait_s)
        assert self.typed.empty(), f"unexpected events: {self.typed.get_nowait()}"

    def _run(self) -> None:
        try:
            with httpx.stream(
                "GET", self.url, headers=self.headers, params=tuple(self.params), timeout=10
            ) as r:
                self.status = r.status_code
                self.connected.set()
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if self.stop.is_set():
                        return
                    if line == "":
                        if "data" in fields:
                            data = json.loads(fields["data"])
                            self.typed.put((fields["event"], fields["id"], data))
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
        except BaseException as exc:
            self.error = exc
        finally:
            self.connected.set()
            self.done.set()


@contextlib.contextmanager
def replica(settings: Settings) -> Iterator[tuple[str, AlertFeed]]:
    """One API replica: the stream and the lifecycle routes, base URL and feed."""
    feed = AlertFeed.from_settings(settings, heartbeat_s=HEARTBEAT_S)
    with serve_stream(settings, feed) as url:
        yield url.removesuffix("/v1/alerts/stream"), feed


def test_state_changes_reach_the_tenants_clients_on_every_replica(settings: Settings) -> None:
    seed_api(settings.dsn, settings.clickhouse_database)  # acme: c9, c10, r11; globex: g10
    with replica(settings) as (a, feed_a), replica(settings) as (b, feed_b):
        acme_b = Events(f"{b}/v1/alerts/stream", ACME).start()
        globex_b = Events(f"{b}/v1/alerts/stream", GLOBEX).start()
        risk_only_a = Events(f"{a}/v1/alerts/stream", ACME, [("kind", "client_risk")]).start()
        wait_for(lambda: feed_b.subscriber_count == 2 and feed_a.subscriber_count == 1)

        # acknowledged on replica A, seen by acme's client of replica B
        r = httpx.post(f"{a}/v1/alerts/{C10}/ack", json={"note": "on it"}, headers=ACME)
        assert r.status_code == 200, r.text
        assert r.json()["changed"] is True
        ((kind, ack_id, data),) = acme_b.take_typed(1)
        assert kind == "alert_state"
        assert data == {
            "tenant_id": "acme",
            "alert_id": C10,
            "kind": "coaching",
            "severity": "high",
            "state": "acknowledged",
            "at": r.json()["state_at"],
            "action": "acknowledge",
            "actor": "api",
            "note": "on it",
        }
        # a repeat announces nothing; another tenant's id is a 404 and announces nothing
        assert httpx.post(f"{b}/v1/alerts/{C10}/ack", headers=ACME).json()["changed"] is False
        assert httpx.post(f"{b}/v1/alerts/{C9}/resolve", headers=GLOBEX).status_code == 404

        # resolved on B; a new alert in between keeps its place in the one ordered log
        produce(settings, [make_alert("acme", 1, "client_risk", "critical")])
        assert httpx.post(f"{b}/v1/alerts/{R11}/resolve", headers=ACME).status_code == 200
        (k1, new_id, new), (k2, res_id, res) = acme_b.take_typed(2)
        assert (k1, new["details"], new["state"]) == ("alert", {"n": 1}, "open")
        assert (k2, res["alert_id"], res["state"], res["note"]) == (
            "alert_state",
            R11,
            "resolved",
            None,
        )
        # the filter of a stream applies to state changes as to alerts (r11 is client_risk)
        got = [(k, d.get("alert_id"), d["state"]) for k, _i, d in risk_only_a.take_typed(2)]
        assert got == [("alert", new["alert_id"], "open"), ("alert_state", R11, "resolved")]
        for s in (acme_b, globex_b, risk_only_a):
            s.assert_quiet(0.3)
        assert globex_b.typed.empty()  # acme's state changes never reach globex

        # resuming after the acknowledgement gives exactly what followed it, in order
        resumed = Events(f"{a}/v1/alerts/stream", {**ACME, "Last-Event-ID": ack_id}).start()
        assert [i for _k, i, _d in resumed.take_typed(2)] == [new_id, res_id]
        assert parse_event_id(ack_id) < parse_event_id(new_id) < parse_event_id(res_id)
        resumed.assert_quiet(0.2)
        for s in (acme_b, globex_b, risk_only_a, resumed):
            s.close()

    # and the list agrees
    with replica(settings) as (a, _feed):
        items = httpx.get(f"{a}/v1/alerts", headers=ACME).json()["items"]
        assert {i["alert_id"]: i["state"] for i in items} == {
            R11: "resolved",
            C10: "acknowledged",
            C9: "open",
        }
