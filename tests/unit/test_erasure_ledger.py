"""Ingest's erasure ledger: an erased client's events are suppressed (and recorded
without their bytes), its tickets' follow-ups too, other tenants and clients untouched,
and the state holds no id of the client."""

from __future__ import annotations

import pickle
from collections import Counter
from typing import Any

from flows.config import FlowConfig
from flows.ingest.erasure import ErasureCopy, by_ticket_key_with_erasures, stored_events
from flows.ingest.stateful import DedupLogic
from schemas.privacy import Erasure, subject_digest
from schemas.results import DeadLetter
from schemas.transport import Accepted
from tests.unit.helpers import MINIMAL_PAYLOADS, at, make_event, uid

SHARDS = 4
ERASURE = uid("erasure")


def accepted(event_type: str, tenant: str = "t1", offset: int = 0, **fields: Any) -> Accepted:
    payload = dict(MINIMAL_PAYLOADS[event_type], **fields)
    event = make_event(event_type, payload, tenant=tenant, occurred_at=at(offset))
    return Accepted(event, partition=0, offset=offset, ingested_at=at(offset))


def erasure(client: str, tenant: str = "t1", offset: int = 0) -> Accepted:
    return accepted(
        "client.erasure_requested",
        tenant,
        offset,
        erasure_id=str(ERASURE),
        client_id=client,
    )


def run(items: list[Accepted], erased: dict[bytes, Any] | None = None) -> tuple[list[Any], bytes]:
    """Every item through the keying and one DedupLogic per shard, in order; the
    outputs and the pickled states."""
    cfg = FlowConfig(shards=SHARDS, events_topic="cx.events")
    logics: dict[str, DedupLogic] = {}
    out: list[Any] = []
    for key, item in by_ticket_key_with_erasures(SHARDS, items):
        logic = logics.setdefault(key, DedupLogic(cfg, None, erased=erased))
        emitted, _ = logic.on_batch([item])
        out += list(emitted)
    return out, pickle.dumps([logic.state for logic in logics.values()])


def ticket_events(ticket: str, client: str, tenant: str, start: int) -> list[Accepted]:
    return [
        accepted(
            "ticket.created",
            tenant,
            start,
            ticket_id=ticket,
            client_id=client,
            subject="Cannot log in",
            description="my mail is jan.kowalski@example.pl",
        ),
        accepted("ticket.assigned", tenant, start + 1, ticket_id=ticket),
        accepted("ticket.resolved", tenant, start + 2, ticket_id=ticket),
        accepted("csat.received", tenant, start + 3, ticket_id=ticket, client_id=client),
    ]


def test_erasure_reaches_every_shard_once_and_passes_on_once() -> None:
    keyed = by_ticket_key_with_erasures(SHARDS, [erasure("cl-9")])
    assert sorted(k for k, _ in keyed) == [str(s) for s in range(SHARDS)]
    assert sum(isinstance(v, ErasureCopy) for _, v in keyed) == SHARDS - 1
    out, _ = run([erasure("cl-9")])
    assert [type(o) for o in out] == [Accepted, Erasure]
    receipt = out[1]
    assert (receipt.status, receipt.version, receipt.erasure_id) == ("applied", 2, ERASURE)
    assert stored_events([o for o in out if isinstance(o, Accepted)]) == []  # not in events


def test_later_events_of_the_erased_client_are_suppressed_with_a_bodiless_letter() -> None:
    before = ticket_events("tk-1", "cl-9", "t1", 0)
    after = [
        *ticket_events("tk-2", "cl-9", "t1", 100),
        accepted("complaint.created", "t1", 110, client_id="cl-9", description="again!"),
        accepted("client.health_updated", "t1", 111, client_id="cl-9"),
    ]
    others = ticket_events("tk-3", "cl-1", "t1", 200) + ticket_events("tk-4", "cl-9", "t2", 300)
    out, states = run([*before, erasure("cl-9", offset=50), *after, *others])
    passed = [o.event for o in out if isinstance(o, Accepted)]
    letters = [o for o in out if isinstance(o, DeadLetter)]
    assert len(letters) == len(after)  # follow-ups of tk-2 (no client id) included
    assert {d.reason for d in letters} == {"erased_subject"}
    assert all(d.raw == b"" and d.key is None and d.raw_size == 0 for d in letters)
    assert all(str(ERASURE) in d.error for d in letters)
    # what came before the erasure (the flows forget it) and other clients/tenants pass
    kinds = Counter((e.tenant_id, e.payload.__dict__.get("ticket_id")) for e in passed)
    assert kinds[("t1", "tk-1")] == 4
    assert kinds[("t1", "tk-3")] == 4
    assert kinds[("t2", "tk-4")] == 4  # the same client id in another tenant is not erased
    assert ("t1", "tk-2") not in kinds
    # the ledger holds digests only
    assert b"cl-9" not in states
    assert b"tk-2" not in states


def test_the_starting_ledger_suppresses_a_replay_from_its_first_event() -> None:
    ledger = {subject_digest("t1", "cl-9"): ERASURE}
    out, _ = run(ticket_events("tk-1", "cl-9", "t1", 0), erased=ledger)
    assert [type(o) for o in out] == [DeadLetter] * 4
    out, _ = run(ticket_events("tk-1", "cl-9", "t2", 0), erased=ledger)
    assert [type(o) for o in out] == [Accepted] * 4


def test_a_retried_erasure_applies_once() -> None:
    out, _ = run([erasure("cl-9"), erasure("cl-9")])
    assert sum(isinstance(o, Erasure) for o in out) == 1
