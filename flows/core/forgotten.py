"""What a step that applies events on arrival keeps of the data subjects it forgot.

Why: the exchanges between steps keep arrival order per key only, so an event of an
erased client read before its erasure may still reach a shard after the erasure did
(ingest suppresses only what it reads after it). A step that holds its inputs in
event-time order applies them before the erasure; one that applies them on arrival
screens them here instead. Subjects and tickets are kept as personalised BLAKE2b
digests (as the ingest ledger keeps them), never as ids, so the state still holds
nothing that names the client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.events import Event
from schemas.privacy import subject_digest, ticket_digest


@dataclass
class Forgotten:
    """Digests of the erased subjects of a step and of their tickets it had seen."""

    subjects: set[bytes] = field(default_factory=set)
    tickets: set[bytes] = field(default_factory=set)

    def forget(self, tenant: str, client_id: str, tickets: Iterable[str]) -> None:
        """Remember an erased client and the tickets of it the step just dropped."""
        self.subjects.add(subject_digest(tenant, client_id))
        self.tickets.update(ticket_digest(tenant, t) for t in tickets)

    def screens(self, event: Event) -> bool:
        """Whether ``event`` names a forgotten client or one of its tickets (then the step
        ignores it); a ticket created for a forgotten client joins its tickets."""
        if not self.subjects:
            return False
        fields = event.payload.__dict__
        tenant = event.tenant_id
        client, ticket = fields.get("client_id"), fields.get("ticket_id")
        if client and subject_digest(tenant, client) in self.subjects:
            if ticket:
                self.tickets.add(ticket_digest(tenant, ticket))
            return True
        return ticket is not None and ticket_digest(tenant, ticket) in self.tickets
