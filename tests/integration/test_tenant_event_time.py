"""Issue 9 cases 3, 4, 5 and 7 through the whole pipeline on the real broker and engine:
one tenant's clock never skews another's, two tenants may share an event id, a sparse
ticket shard still raises its SLA breach in a replay, and a calm client is scored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from flows.core.sharding import shard_of
from infra.cluster import run_and_store
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from tests import scenario
from tests.integration.kafka_io import produce

pytestmark = pytest.mark.integration
DAY = datetime.fromisoformat(f"{scenario.DAY}T00:00:00+00:00")


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    result = open_client(settings.dsn, settings.clickhouse_database).query(sql)
    return list(result.named_results())


def _at(e: dict[str, Any], when: datetime, tenant: str | None = None) -> dict[str, Any]:
    out = {**e, "occurred_at": when.isoformat().replace("+00:00", "Z")}
    if tenant is not None:
        out["tenant_id"] = tenant
    return out


def _send(settings: Settings, events: list[dict[str, Any]]) -> None:
    msgs = [
        (f"{e['tenant_id']}/{e['payload'].get('ticket_id', '')}".encode(), scenario.encode(e))
        for e in events
    ]
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)


def test_a_tenant_22h_ahead_never_makes_another_tenant_late(settings: Settings) -> None:
    """Case 3: globex's producers run 22 h ahead (within MAX_FUTURE_S); acme's on-time
    events, sent after them on the same partitions, are all counted."""
    ahead = [
        _at(e, datetime.fromisoformat(e["occurred_at"]) + timedelta(hours=22), "globex")
        for e in scenario.timeline()
        if e["tenant_id"] == "acme"
    ]
    acme = [e for e in scenario.timeline() if e["tenant_id"] == "acme"]
    _send(settings, [*ahead, *acme])
    run_and_store(settings, frozenset({"ingest", "agent_performance"}))
    late = _rows(settings, "SELECT tenant_id FROM late_events FINAL")
    assert late == []
    day = _rows(
        settings,
        "SELECT tenant_id, tickets_assigned, tickets_resolved FROM agent_performance_final "
        "WHERE window = '1d' AND agent_id = 'A1' ORDER BY tenant_id",
    )
    assert [(r["tenant_id"], r["tickets_assigned"], r["tickets_resolved"]) for r in day] == [
        ("acme", 3, 2),
        ("globex", 3, 2),
    ]


def test_the_same_event_id_in_two_tenants_is_stored_and_counted_for_both(
    settings: Settings,
) -> None:
    """Case 4: dedup is keyed by (tenant, event_id)."""
    acme = [e for e in scenario.timeline() if e["tenant_id"] == "acme"]
    copies = [{**e, "tenant_id": "globex"} for e in acme]  # same event ids
    _send(settings, [*acme, *copies])
    run_and_store(settings, frozenset({"ingest", "agent_performance"}))
    stored = _rows(settings, "SELECT tenant_id, count() AS n FROM events FINAL GROUP BY tenant_id")
    assert {r["tenant_id"]: r["n"] for r in stored} == {"acme": len(acme), "globex": len(acme)}
    assert _rows(settings, "SELECT count() AS n FROM dead_letters FINAL") == [{"n": 0}]


def test_a_sparse_ticket_shard_raises_its_breach_in_a_replay(settings: Settings) -> None:
    """Case 5: an urgent ticket left open whose shard sees no later event of its own."""
    urgent = scenario.event(
        "urgent", "ticket.created", "08:00:00", {**_ticket_payload("URG"), "priority": "urgent"}
    )
    lonely = shard_of(settings.shards, "acme", "URG")
    others = []
    n = 0
    while len(others) < 40:  # later tickets of the same tenant, all in other shards
        n += 1
        ticket = f"O{n}"
        if shard_of(settings.shards, "acme", ticket) == lonely:
            continue
        when = DAY + timedelta(hours=8, minutes=10 * len(others))
        others.append(
            _at(
                scenario.event(f"o{n}", "ticket.created", "00:00:00", _ticket_payload(ticket)), when
            )
        )
    _send(settings, [urgent, *others])
    run_and_store(settings, frozenset({"ingest", "client_risk"}))
    breaches = _rows(
        settings, "SELECT subject_id FROM alerts FINAL WHERE kind = 'sla_breach' ORDER BY ALL"
    )
    assert [r["subject_id"] for r in breaches] == ["URG"]


def test_a_calm_client_has_a_low_risk_row(settings: Settings) -> None:
    """Case 7: tickets resolved on time and CSAT 5 -> a row, level low."""
    calm = [
        scenario.event("c1", "ticket.created", "09:00:00", _ticket_payload("K1", client="CALM")),
        scenario.event(
            "c2",
            "ticket.resolved",
            "09:20:00",
            {
                "ticket_id": "K1",
                "agent_id": "A1",
                "category": "billing",
                "resolution_code": "done",
                "resolution_text": "ok",
            },
        ),
        scenario.event(
            "c3",
            "csat.received",
            "09:30:00",
            {
                "survey_id": "S-K1",
                "ticket_id": "K1",
                "agent_id": "A1",
                "client_id": "CALM",
                "rating": 5,
            },
        ),
    ]
    _send(settings, calm)
    run_and_store(settings, frozenset({"ingest", "client_risk"}))
    rows = _rows(settings, "SELECT client_id, risk_level FROM client_risk_latest")
    assert rows == [{"client_id": "CALM", "risk_level": "low"}]


def _ticket_payload(ticket: str, client: str = "C1") -> dict[str, Any]:
    return {
        "ticket_id": ticket,
        "client_id": client,
        "channel": "email",
        "queue": "billing",
        "priority": "normal",
        "category": "billing",
        "subject": "Invoice wrong",
        "description": "Charged twice",
        "region": "north",
    }
