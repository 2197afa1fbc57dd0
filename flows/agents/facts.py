"""Ticket events -> per-agent facts (assigned, resolved + handle time, first response, CSAT).

Handle time and first-response time join two events of one ticket, so this runs keyed
by ticket; the facts then regroup by agent for windowing.

Why every fact leaves on arrival (first property: results never depend on batch size,
worker or process count): this step has no watermark, so anything it emitted *later*
than the event it describes could reach the agent windows before or after they closed
that event's window, depending on how epochs and exchanges happened to fall. So a
resolution counts when it arrives, with its handle time when an assignment at or before
it is known; one that arrives before its assignment counts without one, and the
assignment, if it comes, adds the handle time as a ``HANDLE_TIME`` fact at the
resolution's time (a first response before its ticket's creation likewise, with a
``RESPONSE_TIME`` fact). Such a late-joined fact is stamped at or after the *floor* of
the event that joins it (its time, or for an event the input clock judged late, the
bound it missed), and no watermark the windows applied before that event arrived can be
past its floor (:mod:`flows.core.clock`), so it always lands in an open window. A
partner stamped before the joining event's floor is not joined: whether its windows are
still open would depend on timing; the late event has its own late record.

A ticket's events share one input partition (keyed by ticket), so each ticket sees
them in offset order in every run; a ticket idle for ``retention_ms`` before the floor
of its next event starts over, whenever its state is actually dropped (:meth:`expire`).
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
    HANDLE_TIME = 5  # of a resolution counted before its assignment arrived
    RESPONSE_TIME = 6  # of a first response counted before its ticket's creation arrived


@dataclass(frozen=True, slots=True)
class AgentFact:
    """Something an agent did at event time ``at_ms``.

    ``value``: a duration in integer milliseconds (RESOLVED, HANDLE_TIME: handle time;
    FIRST_RESPONSE, RESPONSE_TIME: response time), the rating for CSAT, None otherwise.
    Integers keep sums exact in any order, so a replay that batches differently yields
    bit-identical rows.
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

# an on-time fact counted without its duration, that a later partner may still time:
# (agent, event time, event id)
_Untimed = tuple[str, int, UUID]


@dataclass(slots=True)
class _Ticket:
    created_ms: int | None = None
    client_id: str | None = None  # from its creation: an erasure forgets the ticket
    assignments: list[int] = field(default_factory=list)  # sorted event times
    responded: bool = False
    untimed_response: _Untimed | None = None  # counted before the creation arrived
    untimed_resolutions: list[_Untimed] = field(default_factory=list)  # ... the assignment
    last_seen_ms: int = 0
    partition: int = 0  # a ticket's events share one input partition (keyed by ticket)


@dataclass
class TicketTracker:
    """Joins the events of each ticket; a ticket idle for ``retention_ms`` starts over.

    ``lateness_ms``: the input clock's allowed lateness, which bounds how far behind the
    newest event of its partition a later event's floor can be (see :meth:`expire`).
    """

    retention_ms: int = 30 * 86_400_000
    lateness_ms: int = 60_000
    tickets: dict[tuple[str, str], _Ticket] = field(default_factory=dict)
    max_ms: int = -(2**62)  # newest event time of any tenant: when to look for expiries
    # newest ticket event time per (tenant, input partition) this shard has seen
    newest: dict[tuple[str, int], int] = field(default_factory=dict)
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
        seen = (tenant, partition)
        if at > self.newest.get(seen, at - 1):
            self.newest[seen] = at
        floor = at if late is None else late  # no partner stamped before it is joined
        key = (tenant, p.ticket_id)
        t = self.tickets.get(key)
        if t is None or t.last_seen_ms < floor - self.retention_ms:
            t = self.tickets[key] = _Ticket()
        t.last_seen_ms = max(t.last_seen_ms, at)
        t.partition = partition
        if isinstance(p, TicketCreated):
            t.created_ms = at
            t.client_id = p.client_id
            return self._time_response(tenant, t, floor)
        if isinstance(p, TicketAssigned):
            bisect.insort(t.assignments, at)
            assigned = AgentFact(
                tenant, p.agent_id, FactKind.ASSIGNED, at, None, eid, etype, partition, late
            )
            return [assigned, *self._time_resolutions(tenant, t, floor)]
        if isinstance(p, TicketFirstResponse):
            if t.responded:
                return []
            t.responded = True
            took = None if t.created_ms is None else _duration(t.created_ms, at)
            if t.created_ms is None and late is None:
                t.untimed_response = (p.agent_id, at, eid)
            kind = FactKind.FIRST_RESPONSE
            return [AgentFact(tenant, p.agent_id, kind, at, took, eid, etype, partition, late)]
        i = bisect.bisect_right(t.assignments, at)
        handle = at - t.assignments[i - 1] if i else None
        if handle is None and late is None:
            t.untimed_resolutions.append((p.agent_id, at, eid))
        kind = FactKind.RESOLVED
        return [AgentFact(tenant, p.agent_id, kind, at, handle, eid, etype, partition, late)]

    @staticmethod
    def _time_response(tenant: str, t: _Ticket, floor: int) -> list[AgentFact]:
        """The response time of a first response counted before this creation, if the
        response is not before the creation's floor."""
        untimed, t.untimed_response = t.untimed_response, None
        if untimed is None or t.created_ms is None:
            return []
        agent, at, eid = untimed
        took = _duration(t.created_ms, at)
        if at < floor or took is None:
            return []
        kind, etype = FactKind.RESPONSE_TIME, "ticket.first_response"
        return [AgentFact(tenant, agent, kind, at, took, eid, etype, t.partition)]

    @staticmethod
    def _time_resolutions(tenant: str, t: _Ticket, floor: int) -> list[AgentFact]:
        """Handle times of resolutions counted before this assignment: from the last
        assignment at or before each, for those not before the assignment's floor (the
        others wait: an on-time assignment stamped earlier may still come)."""
        out: list[AgentFact] = []
        still: list[_Untimed] = []
        for agent, at, eid in t.untimed_resolutions:
            i = bisect.bisect_right(t.assignments, at)
            if at < floor or not i:  # its windows may be final already, or no start yet
                still.append((agent, at, eid))
                continue
            kind, etype = FactKind.HANDLE_TIME, "ticket.resolved"
            handle = at - t.assignments[i - 1]
            out.append(AgentFact(tenant, agent, kind, at, handle, eid, etype, t.partition))
        t.untimed_resolutions = still
        return out

    def forget_client(self, tenant: str, client_id: str) -> int:
        """Forget the tenant's client's tickets (a data subject's erasure); how many. The
        agents' work on them was counted as it arrived. A ticket whose creation was not
        seen names no client: it expires on its own (ingest suppresses its later events)."""
        gone = [k for k, t in self.tickets.items() if k[0] == tenant and t.client_id == client_id]
        self.forgotten.forget(tenant, client_id, (k[1] for k in gone))
        for key in gone:
            del self.tickets[key]
        return len(gone)

    def expire(self) -> None:
        """Drop tickets no later event can find any more (bounded state): idle for
        ``retention_ms`` before the floor of any event their partition can still bring,
        which is at least its newest time here minus the lateness. So when this runs
        changes nothing but memory; no tenant's clock expires another's tickets."""
        newest, keep = self.newest, self.retention_ms + self.lateness_ms
        for key in [
            k
            for k, t in self.tickets.items()
            if t.last_seen_ms < newest.get((k[0], t.partition), t.last_seen_ms) - keep
        ]:
            del self.tickets[key]


def _duration(start_ms: int, end_ms: int) -> int | None:
    """A response or handle time; one stamped before its start means skewed producer
    clocks: it counts as unknown rather than dragging the average below zero."""
    took = end_ms - start_ms
    return took if took >= 0 else None
