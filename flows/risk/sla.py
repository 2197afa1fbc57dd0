"""SLA breaches: a ticket not resolved within its priority's SLA breaches, exactly once.

Pure logic (no Bytewax, no I/O), one ``SlaTracker`` per shard of tickets. A ticket's
deadline is ``created + SLA(tenant, priority)``; it breaches once the watermark passes
the deadline (``deadline < watermark``) with no resolution stamped at or before it.
Strictly past, because the watermark still admits events stamped exactly at it, and a
resolution stamped exactly at the deadline is in time. Deciding on the watermark, not
on arrival, keeps the answer independent of how the input interleaves: a resolution
that arrives out of order, even before its ticket's creation, still counts as long as it
arrives before the watermark passes the deadline. Once decided, a decision stands: a
resolution stamped after the deadline, or arriving late, does not undo a breach.

Memory stays bounded: an open ticket is held until its deadline passes; afterwards only
a small tombstone is kept for ``done_retention_ms`` (so a duplicate creation cannot
breach the ticket again), and a resolution whose creation never shows up is dropped
``orphan_retention_ms`` after its own time.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from flows.core.timeutil import from_ms, to_ms
from flows.risk.client_risk import RiskSignal
from schemas.events import DERIVED_TIME_MARGIN, Event, Priority, TicketCreated, TicketResolved
from schemas.ids import stable_id
from schemas.results import Alert, AlertSeverity

E = TypeVar("E", bound=tuple[Any, ...])  # a heap entry whose last item is a ticket id
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
# A deadline is a derived time: it must stay within what ClickHouse stores for any
# accepted event time (and be a finite number of milliseconds at all).
MAX_SLA_HOURS = DERIVED_TIME_MARGIN.total_seconds() / 3600


def _default_hours() -> dict[str, float]:
    return {"urgent": 1.0, "high": 4.0, "normal": 24.0, "low": 72.0}


def _check_hours(hours: Mapping[str, float], where: str) -> None:
    unknown = set(hours) - set(PRIORITIES)
    if unknown:
        raise ValueError(f"{where}: unknown priorities {sorted(unknown)}; known: {PRIORITIES}")
    bad = {p: h for p, h in hours.items() if not 0 < h <= MAX_SLA_HOURS}
    if bad:
        raise ValueError(f"{where}: SLA hours must be > 0 and at most {MAX_SLA_HOURS:g}, got {bad}")


@dataclass(frozen=True)
class SlaPolicy:
    """Hours to resolution by priority, with per-tenant overrides of some priorities."""

    hours: Mapping[str, float] = field(default_factory=_default_hours)
    tenant_overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_hours(self.hours, "hours")
        missing = set(PRIORITIES) - set(self.hours)
        if missing:
            raise ValueError(f"hours: missing priorities {sorted(missing)}")
        for tenant, hours in self.tenant_overrides.items():
            _check_hours(hours, f"tenant_overrides[{tenant!r}]")

    def hours_for(self, tenant_id: str, priority: str) -> float:
        override = self.tenant_overrides.get(tenant_id, {})
        return override.get(priority, self.hours[priority])

    def sla_ms(self, tenant_id: str, priority: str) -> int:
        return round(self.hours_for(tenant_id, priority) * HOUR_MS)


@dataclass(frozen=True, slots=True)
class Breach:
    """A ticket that missed its SLA deadline."""

    tenant_id: str
    ticket_id: str
    client_id: str
    priority: Priority
    queue: str
    created_at: datetime
    deadline: datetime


@dataclass(slots=True)
class _Open:
    client_id: str
    priority: Priority
    queue: str
    created_ms: int
    deadline_ms: int
    resolved_ms: int | None  # earliest resolution seen


Key = tuple[str, str]  # tenant, ticket


@dataclass
class SlaTracker:
    """Deadlines of one shard of tickets; ``due`` reports each breach once."""

    policy: SlaPolicy = field(default_factory=SlaPolicy)
    done_retention_ms: int = DAY_MS
    orphan_retention_ms: int = 7 * DAY_MS
    open: dict[Key, _Open] = field(default_factory=dict)
    early_resolutions: dict[Key, int] = field(default_factory=dict)  # before the creation
    done: dict[Key, tuple[int, str]] = field(default_factory=dict)  # -> (deadline, client)
    # per tenant: each tenant's deadlines fall due on its own watermark
    _deadlines: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _forget: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)  # ms, kind

    def on_event(self, event: Event) -> None:
        """Schedule a deadline (ticket.created) or note a resolution (ticket.resolved)."""
        p = event.payload
        if isinstance(p, TicketCreated):
            self._created(event.tenant_id, p, to_ms(event.occurred_at))
        elif isinstance(p, TicketResolved):
            self._resolved((event.tenant_id, p.ticket_id), to_ms(event.occurred_at))

    def _created(self, tenant: str, p: TicketCreated, at: int) -> None:
        key = (tenant, p.ticket_id)
        if key in self.done:
            return  # decided already: a duplicate creation must not breach it again
        current = self.open.get(key)
        if current is not None and current.created_ms <= at:
            return  # duplicate: the earliest creation sets the deadline
        deadline = at + self.policy.sla_ms(tenant, p.priority)
        # an open ticket took its resolutions directly; otherwise one may have come first
        if current is not None:
            resolved = current.resolved_ms
        else:
            resolved = self.early_resolutions.pop(key, None)
        self.open[key] = _Open(p.client_id, p.priority, p.queue, at, deadline, resolved)
        heapq.heappush(self._deadlines.setdefault(tenant, []), (deadline, p.ticket_id))

    def _resolved(self, key: Key, at: int) -> None:
        if key in self.done:
            return
        t = self.open.get(key)
        if t is not None:
            if t.resolved_ms is None or at < t.resolved_ms:
                t.resolved_ms = at
            return
        if at < self.early_resolutions.get(key, at + 1):
            self.early_resolutions[key] = at
            heapq.heappush(
                self._forget.setdefault(key[0], []), (at + self.orphan_retention_ms, 1, key[1])
            )

    def due(self, tenant: str, watermark_ms: int) -> list[Breach]:
        """Breaches of the tenant's tickets whose deadline its watermark has passed; each
        once. Tickets resolved at or before their deadline are dropped without a breach.
        """
        out: list[Breach] = []
        heap = self._deadlines.get(tenant, [])
        while heap and heap[0][0] < watermark_ms:
            deadline, ticket = heapq.heappop(heap)
            key = (tenant, ticket)
            t = self.open.get(key)
            if t is None or t.deadline_ms != deadline:
                continue  # superseded by an earlier creation of the same ticket
            del self.open[key]
            self.done[key] = (deadline, t.client_id)
            heapq.heappush(
                self._forget.setdefault(tenant, []), (deadline + self.done_retention_ms, 0, ticket)
            )
            if t.resolved_ms is None or t.resolved_ms > deadline:
                out.append(
                    Breach(
                        tenant_id=tenant,
                        ticket_id=ticket,
                        client_id=t.client_id,
                        priority=t.priority,
                        queue=t.queue,
                        created_at=from_ms(t.created_ms),
                        deadline=from_ms(deadline),
                    )
                )
        if not heap:
            self._deadlines.pop(tenant, None)
        self._drop_old(tenant, watermark_ms)
        return out

    def _drop_old(self, tenant: str, watermark_ms: int) -> None:
        heap = self._forget.get(tenant, [])
        while heap and heap[0][0] < watermark_ms:
            until, kind, ticket = heapq.heappop(heap)
            key = (tenant, ticket)
            if kind == 0:
                decided = self.done.get(key)
                if decided is not None and decided[0] == until - self.done_retention_ms:
                    del self.done[key]
            elif self.early_resolutions.get(key) == until - self.orphan_retention_ms:
                del self.early_resolutions[key]
        if not heap:
            self._forget.pop(tenant, None)

    def forget_client(self, tenant: str, client_id: str) -> int:
        """Drop every ticket of the tenant's client (open or decided) with its scheduled
        deadline and forget entries (a data subject's erasure); returns how many. A
        resolution whose creation never came names no client: it expires on its own."""
        gone = {k[1] for k, o in self.open.items() if k[0] == tenant and o.client_id == client_id}
        gone |= {k[1] for k, (_, c) in self.done.items() if k[0] == tenant and c == client_id}
        if not gone:
            return 0
        for ticket in gone:
            self.open.pop((tenant, ticket), None)
            self.done.pop((tenant, ticket), None)
        _drop_tickets(self._deadlines, tenant, gone)
        _drop_tickets(self._forget, tenant, gone)
        return len(gone)

    def held(self) -> int:
        """Tickets held in any form (open, tombstoned, or resolved before creation).

        A method, not ``__len__``: an empty tracker must stay truthy (restore code does
        ``restored or SlaTracker()``)."""
        return len(self.open) + len(self.done) + len(self.early_resolutions)


def _drop_tickets(heaps: dict[str, list[E]], tenant: str, gone: set[str]) -> None:
    """Remove the entries of ``gone`` tickets from a tenant's heap (ticket id last)."""
    heap = heaps.get(tenant, [])
    kept = [entry for entry in heap if entry[-1] not in gone]
    heapq.heapify(kept)
    if kept:
        heaps[tenant] = kept
    else:
        heaps.pop(tenant, None)


_SEVERITY: dict[str, AlertSeverity] = {
    "urgent": "critical",
    "high": "high",
    "normal": "medium",
    "low": "low",
}


def breach_id(b: Breach) -> UUID:
    """One id per (tenant, ticket): the alert's and the risk signal's."""
    return stable_id("sla_breach", b.tenant_id, b.ticket_id)


def breach_alert(b: Breach, fired_at: datetime) -> Alert:
    """The ``sla_breach`` alert of one breach (id derived from the ticket: raised once)."""
    return Alert(
        alert_id=breach_id(b),
        tenant_id=b.tenant_id,
        kind="sla_breach",
        severity=_SEVERITY[b.priority],
        subject_type="ticket",
        subject_id=b.ticket_id,
        title=f"SLA breached: {b.priority} ticket {b.ticket_id} in queue {b.queue} unresolved",
        details={
            "client_id": b.client_id,
            "priority": b.priority,
            "queue": b.queue,
            "created_at": b.created_at.isoformat(),
            "deadline": b.deadline.isoformat(),
        },
        event_time=b.deadline,
        fired_at=fired_at,
    )


def breach_signal(b: Breach) -> RiskSignal:
    """The breach as a client risk signal, stamped at the deadline."""
    return RiskSignal(
        tenant_id=b.tenant_id,
        client_id=b.client_id,
        factor="sla_breaches",
        at_ms=to_ms(b.deadline),
        value=1.0,
        event_id=breach_id(b),
    )
