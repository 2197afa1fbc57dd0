"""The erasure ledger: which data subjects were erased, so their events never enter the
flows again (GDPR art. 17, see README "Privacy").

A subject is ``(tenant, client)``. The ledger starts with the erasures recorded before
the run (``FlowConfig.erased``, read from the erasures topic at start, so a replay of
the events topic from its beginning already suppresses them) and learns each
``client.erasure_requested`` event as it arrives.

An event is suppressed when it names an erased client, or when it concerns a ticket
whose ``ticket.created`` named one (assignment, responses, resolution text, reopenings:
every event of a ticket meets the same ingest shard, in partition order). Subjects and
tickets are held as keyed digests, never as ids, so the state holds nothing that
identifies the client (the ``erasures`` table keeps the receipt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from flows.core.keys import ticket_key
from schemas.events import ClientErasureRequested, Event
from schemas.privacy import (
    ERASURE_EVENT,
    ERASURE_VERSIONS,
    Erasure,
    subject_digest,
    ticket_digest,
)
from schemas.results import DeadLetter, make_dead_letter
from schemas.transport import Accepted


@dataclass
class ErasureLedger:
    """Erased subjects and their tickets, of one ingest shard (see module docstring)."""

    subjects: dict[bytes, UUID] = field(default_factory=dict)  # subject digest -> erasure
    tickets: dict[bytes, UUID] = field(default_factory=dict)  # ticket digest -> erasure

    def erase(self, tenant: str, request: ClientErasureRequested) -> None:
        """Remember an erasure (the first one of a subject is the one suppressions name)."""
        self.subjects.setdefault(subject_digest(tenant, request.client_id), request.erasure_id)

    def suppressing(self, event: Event, known: Mapping[bytes, UUID]) -> UUID | None:
        """The erasure that suppresses ``event``, if any; ``known`` is the run's starting
        ledger. A suppressed ``ticket.created`` also suppresses the ticket's later events."""
        if event.event_type == ERASURE_EVENT:
            return None
        fields = event.payload.__dict__
        tenant = event.tenant_id
        client = fields.get("client_id")
        erasure: UUID | None = None
        if client:
            digest = subject_digest(tenant, client)
            erasure = self.subjects.get(digest) or known.get(digest)
        ticket = fields.get("ticket_id")
        if ticket:
            tdigest = ticket_digest(tenant, ticket)
            if erasure is not None:
                if event.event_type == "ticket.created":
                    self.tickets.setdefault(tdigest, erasure)
            else:
                erasure = self.tickets.get(tdigest)
        return erasure


@dataclass(frozen=True, slots=True)
class ErasureCopy:
    """An erasure event on its way to an ingest shard other than its home shard: the
    shard learns it, and only the home shard passes the event on (once)."""

    accepted: Accepted


def by_ticket_key_with_erasures(
    shards: int, items: list[Accepted]
) -> list[tuple[str, Accepted | ErasureCopy]]:
    """Ingest's keying (:func:`flows.core.keys.by_ticket_key`), except that an erasure
    event reaches every shard: any of them may meet the client's events."""
    out: list[tuple[str, Accepted | ErasureCopy]] = []
    for a in items:
        home = ticket_key(shards, a)
        out.append((home, a))
        if a.event.event_type == ERASURE_EVENT:
            copy = ErasureCopy(a)
            out += [(str(s), copy) for s in range(shards) if str(s) != home]
    return out


def suppression_letter(a: Accepted, erasure_id: UUID, topic: str) -> DeadLetter:
    """The record of a suppressed event: where it was read, never its bytes (they are
    the erased client's data)."""
    return make_dead_letter(
        topic=topic,
        partition=a.partition,
        offset=a.offset,
        key=None,
        raw=b"",
        reason="erased_subject",
        error=f"{a.event.event_type} of an erased client (erasure {erasure_id}): not stored",
        received_at=a.ingested_at,
        cap=0,
    )


def applied_receipt(a: Accepted) -> Erasure:
    """The erasure's receipt once ingest applies it (status ``applied``)."""
    request = a.event.payload
    assert isinstance(request, ClientErasureRequested)
    return Erasure(
        erasure_id=request.erasure_id,
        tenant_id=a.event.tenant_id,
        client_id=request.client_id,
        requested_at=a.event.occurred_at,
        status="applied",
        version=ERASURE_VERSIONS["applied"],
    )


def stored_events(batch: list[Accepted]) -> list[Accepted]:
    """The events of a batch that go to the ``events`` table: not erasure requests (the
    receipt is in ``erasures``; the table must end up holding nothing of the client)."""
    return [a for a in batch if a.event.event_type != ERASURE_EVENT]
