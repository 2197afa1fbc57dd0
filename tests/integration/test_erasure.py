"""Erasure of a data subject through the real pipeline (broker, flows, storage writer,
embedded ClickHouse): after the erasure no table holds the client or its texts, another
tenant's client of the same id keeps everything, a replay (same deployment or a fresh
one) does not bring it back, and the suppressions are recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.cluster import run_and_store
from schemas.events import entity_key, parse_event
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.erasure_requests import ErasureRequests
from tests.integration.kafka_io import produce
from tests.unit.helpers import MINIMAL_PAYLOADS, envelope

pytestmark = pytest.mark.integration

GONE = "cl-gone-7f3a"
KEEP = "cl-keep-19"
MARK = "ZOFIA-WISNIEWSKA-MARKER"  # in the erased client's texts only (tenant acme)
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)
FLOWS = frozenset({"ingest", "agent_performance", "client_risk", "live_ops", "kb"})
KEPT_TABLES = {"erasures", "audit_log", "schema_migrations"}  # the receipts


def _ticket(
    tenant: str, client: str, ticket: str, start: datetime, text: str
) -> list[dict[str, Any]]:
    """A ticket's whole life, with a low CSAT and a critical complaint."""
    at = start
    created = dict(
        MINIMAL_PAYLOADS["ticket.created"],
        ticket_id=ticket,
        client_id=client,
        subject=f"Password reset link expired {text}",
        description=f"The reset link I got is expired, please help. {text}",
    )
    resolved = dict(
        MINIMAL_PAYLOADS["ticket.resolved"],
        ticket_id=ticket,
        agent_id="ag-1",
        resolution_code="password_reset",
        resolution_text=f"Sent a new password reset link {text}",
    )
    return [
        envelope("ticket.created", created, occurred_at=at, tenant=tenant),
        envelope(
            "ticket.assigned",
            {"ticket_id": ticket, "agent_id": "ag-1", "assigned_by": "auto"},
            occurred_at=at + timedelta(minutes=1),
            tenant=tenant,
        ),
        envelope(
            "ticket.resolved", resolved, occurred_at=at + timedelta(minutes=30), tenant=tenant
        ),
        envelope(
            "csat.received",
            {
                "survey_id": f"sv-{ticket}",
                "ticket_id": ticket,
                "agent_id": "ag-1",
                "client_id": client,
                "rating": 1,
                "comment": f"Terrible {text}",
            },
            occurred_at=at + timedelta(minutes=40),
            tenant=tenant,
        ),
        envelope(
            "complaint.created",
            {
                "complaint_id": f"co-{ticket}",
                "client_id": client,
                "severity": "critical",
                "category": "billing",
                "description": f"Charged twice {text}",
                "ticket_id": ticket,
            },
            occurred_at=at + timedelta(minutes=41),
            tenant=tenant,
        ),
        envelope(
            "client.health_updated",
            {"client_id": client, "health_score": 5},
            occurred_at=at + timedelta(minutes=42),
            tenant=tenant,
        ),
    ]


def _events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(4):  # KB: four similar resolved tickets in acme, one of the erased client
        client = GONE if i == 0 else KEEP
        text = MARK if client == GONE else f"keep {i}"
        out += _ticket("acme", client, f"tk-a{i}", T0 + timedelta(hours=i), text)
    out += _ticket("globex", GONE, "tk-g0", T0, "globex text")  # same client id, other tenant
    return out


def _produce(settings: Settings, docs: list[dict[str, Any]]) -> None:
    messages = []
    for doc in docs:
        raw = json.dumps(doc).encode()
        messages.append((entity_key(parse_event(raw)).encode(), raw))
    produce(settings.kafka_bootstrap, settings.events_topic, messages)


def _rows(settings: Settings) -> dict[str, list[str]]:
    """Every row of every table, as JSON text (all versions, not FINAL)."""
    client = open_client(settings.dsn, settings.clickhouse_database)
    try:
        tables = [
            r[0]
            for r in client.query(
                "SELECT name FROM system.tables WHERE database = currentDatabase() "
                "AND engine LIKE '%MergeTree%'"
            ).result_rows
        ]
        out: dict[str, list[str]] = {}
        for table in tables:
            result = client.query(f"SELECT * FROM `{table}`")
            out[table] = [
                json.dumps(dict(zip(result.column_names, row, strict=True)), default=str)
                for row in result.result_rows
            ]
        return out
    finally:
        client.close()


def _holding(rows: dict[str, list[str]], needle: str, tenant: str | None) -> dict[str, int]:
    """Rows per table (receipts excluded) that hold ``needle`` (and ``tenant``, if given)."""
    found: dict[str, int] = {}
    for table, items in rows.items():
        if table in KEPT_TABLES:
            continue
        n = sum(needle in r and (tenant is None or f'"{tenant}"' in r) for r in items)
        if n:
            found[table] = n
    return found


def _receipt(settings: Settings) -> dict[str, Any]:
    client = open_client(settings.dsn, settings.clickhouse_database)
    try:
        result = client.query("SELECT * FROM erasures FINAL")
        (row,) = result.named_results()
        return row
    finally:
        client.close()


def test_erasure_removes_the_client_everywhere_and_replays_do_not_bring_it_back(
    settings: Settings,
) -> None:
    _produce(settings, _events())
    run_and_store(settings, FLOWS)
    before = _rows(settings)
    assert _holding(before, MARK, None)  # the texts were stored
    held = _holding(before, GONE, "acme")
    assert {"events", "client_risk", "alerts"} <= held.keys(), held
    globex_before = _holding(before, GONE, "globex")

    requests = ErasureRequests(settings)
    try:
        receipt = requests.request("acme", GONE, datetime.now(UTC))
    finally:
        requests.close()
    run_and_store(settings, FLOWS)  # resumes: the flows apply it, the writer completes it

    after = _rows(settings)
    assert _holding(after, MARK, None) == {}
    assert _holding(after, GONE, "acme") == {}
    assert _holding(after, GONE, "globex") == globex_before  # the other tenant untouched
    assert _holding(after, "keep 1", "acme")  # and the other client
    done = _receipt(settings)
    assert str(done["erasure_id"]) == str(receipt.erasure_id)
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    deleted = json.loads(done["rows_deleted_by_table"])
    assert deleted["events"] == 6  # the six events of its ticket
    assert deleted["client_risk"] >= 1
    assert deleted["alerts"] >= 1

    # a producer replays the client's old events: suppressed, recorded without bytes
    _produce(settings, _events()[:6])
    run_and_store(settings, FLOWS)
    replayed = _rows(settings)
    assert _holding(replayed, MARK, None) == {}
    assert _holding(replayed, GONE, "acme") == {}
    letters = [json.loads(r) for r in replayed["dead_letters"] if "erased_subject" in r]
    assert len(letters) == 6
    assert all(str(receipt.erasure_id) in d["error"] for d in letters)

    # a fresh deployment replays the whole topic (new recovery store, new result
    # topics, same tables): the ledger suppresses the client from the first event on
    fresh = settings.model_copy(
        update={
            "data_dir": settings.data_dir.parent / "fresh",
            "results_prefix": f"{settings.topic_prefix}fresh.",
        }
    )
    run_and_store(fresh, FLOWS)
    assert _holding(_rows(fresh), MARK, None) == {}
    assert _holding(_rows(fresh), GONE, "acme") == {}
