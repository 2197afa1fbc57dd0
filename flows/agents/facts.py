"""Ticket events -> per-agent facts (assigned, resolved + handle time, first response, CSAT).

Handle time and first-response time join two events of one ticket, so this runs keyed
by ticket; the facts then regroup by agent for windowing. Out-of-order pairs wait in
the ticket's state until their partner arrives (or the input ends).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import IntEnum
from uuid import UUID

from flows.core.forgotten import Forgotten
from flows.core.timeutil import to_ms
from schemas.events import (
    CsatReceived,
    Event,
    TicketAssigned,
    TicketCreated,
    TicketFirstResponse,
    TicketResolved,
)

LOW_CSAT_MAX = 2


class FactKind(IntEnum):
    ASSIGNED = 1
    RESOLVED = 2
    FIRST_RESPONSE = 3
    CSAT = 4


@dataclass(frozen=True, slots=True)
class AgentFact:
    """Something an agent did at event time ``at_ms``.

    ``value``: a duration in integer milliseconds (RESOLVED: handle time, FIRST_RESPONSE:
    response time), the rating for CSAT, None otherwise. Integers keep sums exact in any
    order, so a replay that batches differently yields bit-identical rows.
    """

    tenant_id: str
    agent_id: str
    kind: FactKind
    at_ms: int
    value: int | None
    event_id: UUID
    event_type: str
    partition: int = 0  # input partition the causing event came from
    late_bound_ms: int | None = None  # the causing event's lateness verdict (None: on time)


AGENT_EVENT_TYPES = frozenset(
    {
        "ticket.created",
        "ticket.assigned",
        "ticket.first_response",
        "ticket.resolved",
        "csat.received",
    }
)


@dataclass(slots=True)
class _Ticket:
    created_ms: int | None = None
    client_id: str | None = None  # from its creation: an erasure forgets the ticket
    assignments: list[int] = field(default_factory=list)  # sorted event times
    responded: bool = False
    pending_response: tuple[str, int, UUID, int | None] | None = None
    pending_resolutions: list[tuple[str, int, UUID, int | None]] = field(default_factory=list)
    last_seen_ms: int = 0
    partition: int = 0  # a ticket's events share one input partition (keyed by ticket)


@dataclass
class TicketTracker:
    """Joins the events of each ticket; forgets tickets idle for ``retention_ms``."""

    retention_ms: int = 30 * 86_400_000
    tickets: dict[tuple[str, str], _Ticket] = field(default_factory=dict)
    max_ms: int = -(2**62)  # newest event time of any tenant: when to look for expiries
    newest: dict[str, int] = field(default_factory=dict)  # per tenant: its own clock
    forgotten: Forgotten = field(default_factory=Forgotten)  # erased clients, as digests

    def on_event(
        self, event: Event, partition: int = 0, late_bound_ms: int | None = None
    ) -> list[AgentFact]:
        """Facts of one event; ``late_bound_ms`` is its verdict, carried by its facts."""
        if self.forgotten.screens(event):
            return []  # of an erased client, overtaken by its erasure on the way here
        at = to_ms(event.occurred_at)
        late = late_bound_ms
        p = event.payload
        tenant = event.tenant_id
        eid, etype = event.event_id, event.event_type
        if isinstance(p, CsatReceived):
            return [
                AgentFact(
                    tenant, p.agent_id, FactKind.CSAT, at, p.rating, eid, etype, partition, late
                )
            ]
        if not isinstance(p, TicketCreated | TicketAssigned | TicketFirstResponse | TicketResolved):
            return []
        self.max_ms = max(self.max_ms, at)
        if at > self.newest.get(tenant, at - 1):
            self.newest[tenant] = at
        t = self.tickets.get((tenant, p.ticket_id))
        if t is None:
            t = self.tickets[(tenant, p.ticket_id)] = _Ticket()
        t.last_seen_ms = max(t.last_seen_ms, at)
        t.partition = partition
        out: list[AgentFact] = []
        if isinstance(p, TicketCreated):
            t.created_ms = at
            t.client_id = p.client_id
            if t.pending_response is not None:
                out.append(self._response(tenant, t, *t.pending_response))
                t.pending_response = None
        elif isinstance(p, TicketAssigned):
            bisect.insort(t.assignments, at)
            out.append(
                AgentFact(
                    tenant, p.agent_id, FactKind.ASSIGNED, at, None, eid, etype, partition, late
                )
            )
            still: list[tuple[str, int, UUID, int | None]] = []
            for agent, r_at, r_eid, r_late in t.pending_resolutions:
                if t.assignments[0] <= r_at:
                    out.append(self._resolution(tenant, t, agent, r_at, r_eid, r_late))
                else:
                    still.append((agent, r_at, r_eid, r_late))
            t.pending_resolutions = still
        elif isinstance(p, TicketFirstResponse):
            if not t.responded:
                t.responded = True
                if t.created_ms is None:
                    t.pending_response = (p.agent_id, at, eid, late)
                else:
                    out.append(self._response(tenant, t, p.agent_id, at, eid, late))
        elif t.assignments and t.assignments[0] <= at:
            out.append(self._resolution(tenant, t, p.agent_id, at, eid, late))
        else:
            t.pending_resolutions.append((p.agent_id, at, eid, late))
        return out

    @staticmethod
    def _response(
        tenant: str, t: _Ticket, agent: str, at: int, eid: UUID, late: int | None
    ) -> AgentFact:
        assert t.created_ms is not None
        took = at - t.created_ms
        # A response stamped before its ticket's creation means skewed producer clocks:
        # it counts as unknown rather than dragging the average below zero.
        return AgentFact(
            tenant,
            agent,
            FactKind.FIRST_RESPONSE,
            at,
            took if took >= 0 else None,
            eid,
            "ticket.first_response",
            t.partition,
            late,
        )

    @staticmethod
    def _resolution(
        tenant: str, t: _Ticket, agent: str, at: int, eid: UUID, late: int | None
    ) -> AgentFact:
        """Handle time runs from the last assignment at or before the resolution."""
        i = bisect.bisect_right(t.assignments, at)
        handle = at - t.assignments[i - 1] if i else None
        return AgentFact(
            tenant, agent, FactKind.RESOLVED, at, handle, eid, "ticket.resolved", t.partition, late
        )

    @staticmethod
    def _unmatched(tenant: str, t: _Ticket) -> list[AgentFact]:
        """Resolutions that never met an assignment: counted, without a handle time."""
        out = [
            AgentFact(
                tenant,
                agent,
                FactKind.RESOLVED,
                at,
                None,
                eid,
                "ticket.resolved",
                t.partition,
                late,
            )
            for agent, at, eid, late in t.pending_resolutions
        ]
        t.pending_resolutions = []
        return out

    def forget_client(self, tenant: str, client_id: str) -> list[AgentFact]:
        """Forget the tenant's client's tickets (a data subject's erasure); resolutions
        still waiting for an assignment are released, as on expiry (the agent's work
        counts, without a handle time). A ticket whose creation was not seen names no
        client: it expires on its own (ingest suppresses its later events)."""
        gone = [k for k, t in self.tickets.items() if k[0] == tenant and t.client_id == client_id]
        self.forgotten.forget(tenant, client_id, (k[1] for k in gone))
        out: list[AgentFact] = []
        for key in gone:
            out.extend(self._unmatched(tenant, self.tickets.pop(key)))
        return out

    def flush(self) -> list[AgentFact]:
        """End of input: release resolutions still waiting for an assignment. A first
        response whose ticket creation never arrived has no response time to give, so
        it stays out of the average."""
        out: list[AgentFact] = []
        for (tenant, _), t in self.tickets.items():
            out.extend(self._unmatched(tenant, t))
        return out

    def expire(self) -> list[AgentFact]:
        """Forget tickets idle for ``retention_ms`` of their own tenant's event time (bounded
        state, and no tenant's clock expires another's tickets); pending resolutions are
        released."""
        newest, keep = self.newest, self.retention_ms
        out: list[AgentFact] = []
        for key in [k for k, t in self.tickets.items() if t.last_seen_ms < newest[k[0]] - keep]:
            out.extend(self._unmatched(key[0], self.tickets.pop(key)))
        return out
