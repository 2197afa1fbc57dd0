"""Redaction through the real pipeline: Kafka -> flows -> storage writer -> ClickHouse.

A ticket that carries an e-mail address, a phone number, a card number and an IBAN is
stored masked in ``events.payload`` (and nowhere verbatim), its alerts carry no free
text; with ``CXPULSE_REDACT_TEXT=false`` the same ticket is stored as sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.cluster import run_and_store
from infra.topics import ensure_topics
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from tests import scenario
from tests.integration.kafka_io import produce, read_all

pytestmark = pytest.mark.integration

MARKER = "Qx7Secretmarker"
SECRETS = (
    "anna.nowak+reklamacje@poczta.example.pl",
    "+48 600 123 456",
    "4111 1111 1111 1111",
    "PL61 1090 1014 0000 0712 1981 2874",
)
SUBJECT = f"Zwrot na {SECRETS[3]}"
DESCRIPTION = (
    f"Zamówienie nr 2024/11/0457 z 12.03.2024 (1 249,99 zł) obciążyło kartę {SECRETS[2]} "
    f"dwa razy. Kontakt: {SECRETS[1]}, {SECRETS[0]}. {MARKER}"
)
MASKED_SUBJECT = "Zwrot na [iban]"
MASKED_DESCRIPTION = (
    "Zamówienie nr 2024/11/0457 z 12.03.2024 (1 249,99 zł) obciążyło kartę [card] "
    f"dwa razy. Kontakt: [phone], [email]. {MARKER}"
)


def _events() -> list[dict[str, Any]]:
    ticket = {
        "ticket_id": "T1",
        "client_id": "C1",
        "channel": "email",
        "queue": "billing",
        "priority": "urgent",
        "category": "billing",
        "subject": SUBJECT,
        "description": DESCRIPTION,
        "region": "north",
    }
    csat = {
        "survey_id": "S1",
        "ticket_id": "T1",
        "agent_id": "A1",
        "client_id": "C1",
        "rating": 1,
        "comment": f"Nikt nie oddzwonił na {SECRETS[1]}! {MARKER}",
    }
    complaint = {
        "complaint_id": "K1",
        "client_id": "C1",
        "severity": "critical",
        "category": "billing",
        "description": f"Karta {SECRETS[2]} obciążona dwa razy. {MARKER}",
        "ticket_id": "T1",
    }
    return [
        scenario.event("r-created", "ticket.created", "09:00:00", ticket),
        scenario.event("r-assigned", "ticket.assigned", "09:01:00", _assigned()),
        scenario.event("r-csat", "csat.received", "09:30:00", csat),
        scenario.event("r-complaint", "complaint.created", "09:31:00", complaint),
        # moves event time on, well past the urgent ticket's SLA: a breach alert too
        scenario.event("r-later", "ticket.assigned", "13:00:00", _assigned("T2")),
    ]


def _assigned(ticket: str = "T1") -> dict[str, Any]:
    return {"ticket_id": ticket, "agent_id": "A1", "assigned_by": "auto"}


def _run(settings: Settings, *, redact: bool) -> Settings:
    settings = settings.model_copy(
        update={
            "topic_prefix": f"red{int(redact)}{settings.topic_prefix}",
            "topic_partitions": 1,  # a handful of events: one partition lets time move
            "redact_text": redact,
        }
    )
    ensure_topics(settings, log=lambda _m: None)
    msgs = [(f"acme/{e['payload']['ticket_id']}".encode(), scenario.encode(e)) for e in _events()]
    produce(settings.kafka_bootstrap, settings.events_topic, msgs)
    run_and_store(settings, frozenset({"ingest", "agent_performance", "client_risk"}))
    return settings


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    client = open_client(settings.dsn, settings.clickhouse_database)
    result = client.query(sql)
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


def _payloads(settings: Settings) -> dict[str, dict[str, Any]]:
    rows = _rows(settings, "SELECT event_type, payload FROM events FINAL")
    return {r["event_type"]: json.loads(r["payload"]) for r in rows}


def test_events_are_stored_masked_and_alerts_carry_no_text(settings: Settings) -> None:
    s = _run(settings, redact=True)
    payloads = _payloads(s)
    assert payloads["ticket.created"]["subject"] == MASKED_SUBJECT
    assert payloads["ticket.created"]["description"] == MASKED_DESCRIPTION
    assert payloads["csat.received"]["comment"] == f"Nikt nie oddzwonił na [phone]! {MARKER}"
    assert (
        payloads["complaint.created"]["description"] == f"Karta [card] obciążona dwa razy. {MARKER}"
    )
    everything = json.dumps(payloads, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in everything

    alerts = _rows(s, "SELECT kind, title, details FROM alerts FINAL")
    assert {a["kind"] for a in alerts} >= {"coaching", "complaint_escalation", "sla_breach"}
    for a in alerts:
        assert MARKER not in a["title"] + a["details"], a
    published = [m.value().decode() for m in read_all(s.kafka_bootstrap, s.alerts_topic)]
    assert len(published) == len(alerts)
    assert not [p for p in published if MARKER in p]  # what webhooks and streams get


def test_with_redaction_off_the_text_is_stored_as_sent(settings: Settings) -> None:
    s = _run(settings, redact=False)
    payloads = _payloads(s)
    assert payloads["ticket.created"]["subject"] == SUBJECT
    assert payloads["ticket.created"]["description"] == DESCRIPTION
    alerts = _rows(s, "SELECT title, details FROM alerts FINAL")
    assert alerts
    assert not [a for a in alerts if MARKER in a["title"] + a["details"]]
