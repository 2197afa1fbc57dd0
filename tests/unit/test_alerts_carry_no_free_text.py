"""No alert carries free text: alerts leave through webhooks and streams, the text stays
behind the tenant-scoped API.

The attack: every free-text field of every event (``schemas.events.FREE_TEXT_FIELDS``)
carries a marker; whatever alert the flows raise, its title and details must not.
Unit level on each alert-producing function, then the whole dataflow in process on
simulated traffic that raises every event-driven kind of alert.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bytewax.testing import run_main

from flows.agents.coaching import coaching_alert
from flows.config import FlowConfig
from flows.pipeline import build_flow
from flows.risk.complaints import created_alert
from infra.simulator import SimConfig, Simulator
from schemas.events import FREE_TEXT_FIELDS
from schemas.kb import KbSuggestion
from schemas.results import Alert
from schemas.transport import RawMessage
from tests.unit.helpers import MemoryIO, at, make_event

MARKER = "Qx7Secretmarker"
FIRED = datetime(2026, 3, 2, tzinfo=UTC)
PARTITIONS = 2


def _carries(alert: Alert, marker: str = MARKER) -> bool:
    text = alert.title + json.dumps(alert.details, ensure_ascii=False)
    return marker.lower() in text.lower()


def test_a_coaching_alert_says_whether_there_is_a_comment_not_what_it_says() -> None:
    survey = {
        "survey_id": "s1",
        "ticket_id": "t1",
        "agent_id": "a1",
        "client_id": "c1",
        "rating": 1,
        "comment": f"awful, {MARKER}",
    }
    alert = coaching_alert(make_event("csat.received", survey, occurred_at=at(1)), FIRED)
    assert alert is not None
    assert not _carries(alert)
    assert alert.details["has_comment"] is True


def test_a_complaint_alert_carries_no_description() -> None:
    complaint = {
        "complaint_id": "k1",
        "client_id": "c1",
        "severity": "critical",
        "category": "billing",
        "description": f"they lied {MARKER}",
    }
    alert = created_alert(make_event("complaint.created", complaint, occurred_at=at(1)), FIRED)
    assert alert is not None
    assert not _carries(alert)


def _marked(doc: dict[str, Any], i: int) -> dict[str, Any]:
    """The event with the marker in each of its free-text fields (a CSAT gets a comment,
    and every other one a rating of 1, so that coaching alerts fire)."""
    fields = FREE_TEXT_FIELDS.get(doc["event_type"], ())
    payload = dict(doc["payload"])
    for name in fields:
        payload[name] = f"{payload.get(name) or ''} {MARKER}".strip()
    if doc["event_type"] == "csat.received" and i % 2:
        payload["rating"] = 1
    return {**doc, "payload": payload}


@pytest.fixture(scope="module")
def outputs() -> dict[str, list[Any]]:
    """Simulated traffic (complaint waves, low CSAT, breaches, similar tickets) through
    the whole dataflow, with redaction on, as deployed."""
    sim = Simulator(
        SimConfig(seed=11, start=datetime(2026, 3, 2, tzinfo=UTC), tickets_per_hour=40.0)
    )
    messages: list[list[RawMessage]] = [[] for _ in range(PARTITIONS)]
    for i, doc in enumerate(sim.events()):
        if i >= 4000:
            break
        raw = json.dumps(_marked(doc, i)).encode()
        key = f"{doc['tenant_id']}/{doc['payload'].get('ticket_id', doc['event_id'])}"
        p = zlib.crc32(key.encode()) % PARTITIONS
        messages[p].append(RawMessage("ev", p, len(messages[p]), key.encode(), raw))
    cfg = FlowConfig(input_partitions=PARTITIONS, idle_advance=False, provisional=False, shards=4)
    io = MemoryIO([m for part in messages for m in part], 500)
    run_main(build_flow(cfg, io), epoch_interval=timedelta(seconds=10))
    return io.out


def test_every_alert_of_the_flows_is_free_of_free_text(outputs: dict[str, list[Any]]) -> None:
    alerts: list[Alert] = outputs["alerts"]
    kinds = Counter(a.kind for a in alerts)
    # the kinds that copied text before, and the ones built next to it
    assert {"coaching", "complaint_escalation", "kb_suggestion", "sla_breach"} <= set(kinds)
    assert [a.alert_id for a in alerts if _carries(a)] == []
    assert [a.alert_id for a in outputs["alerts_topic"] if _carries(a)] == []  # webhooks


def test_the_text_is_still_there_behind_the_api(outputs: dict[str, list[Any]]) -> None:
    """The marker did go through: stored events and KB suggestion titles (what
    ``/v1/kb/suggestions`` serves) hold it, so the test above is not vacuous."""
    suggestions: list[KbSuggestion] = outputs["kb_suggestions"]
    assert suggestions
    assert all(MARKER in s.title for s in suggestions)
    stored = [a.event for a in outputs["events"] if a.event.event_type in FREE_TEXT_FIELDS]
    assert stored
    assert all(
        MARKER in (getattr(e.payload, f) or "")
        for e in stored
        for f in FREE_TEXT_FIELDS[e.event_type]
    )
