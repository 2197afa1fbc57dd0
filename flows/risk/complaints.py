"""Complaint escalation alerts: pure logic, no Bytewax or I/O.

Rules
-----
* Every ``complaint.created`` of severity ``high`` or ``critical`` raises a
  ``complaint_escalation`` alert of that severity as soon as it is seen (its payload
  holds everything the alert needs).
* Every ``complaint.escalated`` raises one, of the escalation's severity (the payload's
  ``severity``, the new severity: required by the event schema, so there is no
  fallback), whatever that severity is and whatever the complaint's earlier severity
  was (a de-escalation to ``low`` is still an escalation event, and alerts as ``low``).
* ``alert_id`` = ``stable_id("complaint_escalation", tenant, event id)``: one alert per
  causing event, so a replay rewrites the same alert, never adds one.
* Details: ``complaint_id``, ``client_id``, ``category``, ``severity``, ``cause``
  (``created`` | ``escalated``), ``event_id``; created: ``ticket_id``; escalated:
  ``created_severity`` (the severity it was created with). Free text (the
  description) is never copied into an alert.

An escalation's payload has no category: it comes from the complaint's
``complaint.created``. The alert goes out as soon as both are known: at once when the
created event was seen first (the usual order), else when it arrives. The created event
used is an on-time one stamped at or before the escalation and at most
``retention_ms`` before it. Every such event reaches this step before the tenant's
watermark passes the escalation (an on-time event is never behind the watermark), so
when the watermark passes an escalation still waiting, its created event will never
come and the alert goes out with ``category`` and ``created_severity`` null. Which
alerts fire and what they say therefore never depend on arrival order or batching (a
complaint created twice with different categories, under two event ids, is the one
exception: the first seen wins).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flows.core.forgotten import Forgotten
from flows.core.timeutil import from_ms, to_ms
from schemas.events import ComplaintCreated, ComplaintEscalated, Event, Severity
from schemas.ids import stable_id
from schemas.results import Alert

DAY_MS = 86_400_000
COMPLAINT_TYPES = frozenset({"complaint.created", "complaint.escalated"})
ALERTING_CREATED: frozenset[Severity] = frozenset({"high", "critical"})


@dataclass(frozen=True, slots=True)
class Created:
    """What an escalation needs of its complaint's ``complaint.created``."""

    at_ms: int
    category: str
    severity: Severity
    client_id: str  # whose complaint it is (so an erasure can forget it)


@dataclass(frozen=True, slots=True)
class Escalation:
    """A ``complaint.escalated`` waiting for its complaint's ``complaint.created``."""

    tenant_id: str
    event_id: str
    complaint_id: str
    client_id: str
    severity: Severity
    at_ms: int


def escalation_of(event: Event) -> Escalation:
    p = event.payload
    if not isinstance(p, ComplaintEscalated):
        raise TypeError(f"not a complaint.escalated: {event.event_type}")
    return Escalation(
        event.tenant_id,
        str(event.event_id),
        p.complaint_id,
        p.client_id,
        p.severity,
        to_ms(event.occurred_at),
    )


def created_alert(event: Event, fired_at: datetime) -> Alert | None:
    """The alert of a ``complaint.created`` of severity high or critical, else None."""
    p = event.payload
    if not isinstance(p, ComplaintCreated) or p.severity not in ALERTING_CREATED:
        return None
    details: dict[str, Any] = {
        "cause": "created",
        "complaint_id": p.complaint_id,
        "client_id": p.client_id,
        "category": p.category,
        "severity": p.severity,
        "ticket_id": p.ticket_id,
        "event_id": str(event.event_id),
    }
    return Alert(
        alert_id=stable_id("complaint_escalation", event.tenant_id, str(event.event_id)),
        tenant_id=event.tenant_id,
        kind="complaint_escalation",
        severity=p.severity,
        subject_type="complaint",
        subject_id=p.complaint_id,
        title=(
            f"{p.severity.capitalize()} complaint {p.complaint_id} from client "
            f"{p.client_id} ({p.category})"
        ),
        details=details,
        event_time=event.occurred_at,
        fired_at=fired_at,
    )


def escalation_alert(e: Escalation, created: Created | None, fired_at: datetime) -> Alert:
    """The alert of one escalation; ``created``: its complaint's creation, if known."""
    category = None if created is None else created.category
    details: dict[str, Any] = {
        "cause": "escalated",
        "complaint_id": e.complaint_id,
        "client_id": e.client_id,
        "category": category,
        "severity": e.severity,
        "created_severity": None if created is None else created.severity,
        "event_id": e.event_id,
    }
    what = "" if category is None else f" ({category})"
    return Alert(
        alert_id=stable_id("complaint_escalation", e.tenant_id, e.event_id),
        tenant_id=e.tenant_id,
        kind="complaint_escalation",
        severity=e.severity,
        subject_type="complaint",
        subject_id=e.complaint_id,
        title=(
            f"Complaint {e.complaint_id} of client {e.client_id}{what} escalated to {e.severity}"
        ),
        details=details,
        event_time=from_ms(e.at_ms),
        fired_at=fired_at,
    )


@dataclass
class ComplaintAlerts:
    """One shard of complaints (by tenant and complaint id); see the module docstring.

    ``created``: per complaint, its on-time creations (usually one), kept until the
    watermark is ``retention_ms`` past them; ``pending``: escalations waiting for theirs.
    """

    retention_ms: int = 90 * DAY_MS
    created: dict[tuple[str, str], list[Created]] = field(default_factory=dict)
    expiry: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # tenant -> heap
    pending: dict[tuple[str, str], list[Escalation]] = field(default_factory=dict)
    forgotten: Forgotten = field(default_factory=Forgotten)  # erased clients, as digests

    def on_event(
        self, event: Event, late: bool, watermark_ms: int, fired_at: datetime
    ) -> list[Alert]:
        """Alerts raised by one complaint event on arrival. ``late``: the input clock
        judged it late; ``watermark_ms``: the tenant's watermark applied so far."""
        if self.forgotten.screens(event):
            return []  # of an erased client, overtaken by its erasure on the way here
        p = event.payload
        if isinstance(p, ComplaintCreated):
            out = [a for a in (created_alert(event, fired_at),) if a is not None]
            if not late:
                out.extend(self._on_created(event.tenant_id, p, to_ms(event.occurred_at), fired_at))
            return out
        if isinstance(p, ComplaintEscalated):
            e = escalation_of(event)
            known = self._created_for(e)
            if known is not None or e.at_ms < watermark_ms:
                return [escalation_alert(e, known, fired_at)]
            self.pending.setdefault((e.tenant_id, e.complaint_id), []).append(e)
        return []

    def _on_created(
        self, tenant: str, p: ComplaintCreated, at_ms: int, fired_at: datetime
    ) -> list[Alert]:
        key = (tenant, p.complaint_id)
        self.created.setdefault(key, []).append(Created(at_ms, p.category, p.severity, p.client_id))
        heapq.heappush(self.expiry.setdefault(tenant, []), (at_ms, p.complaint_id))
        waiting = self.pending.get(key)
        if not waiting:
            return []
        out, still = [], []
        for e in waiting:
            known = self._created_for(e)
            if known is None:
                still.append(e)
            else:
                out.append(escalation_alert(e, known, fired_at))
        if still:
            self.pending[key] = still
        else:
            del self.pending[key]
        return out

    def _created_for(self, e: Escalation) -> Created | None:
        """The first-seen creation of ``e``'s complaint that may serve it."""
        for c in self.created.get((e.tenant_id, e.complaint_id), ()):
            if e.at_ms - self.retention_ms <= c.at_ms <= e.at_ms:
                return c
        return None

    def on_watermark(self, tenant: str, watermark_ms: int, fired_at: datetime) -> list[Alert]:
        """The tenant's watermark passed ``watermark_ms``: escalations stamped before it
        that still wait go out without their creation; creations too old to serve any
        escalation still to come are forgotten."""
        out: list[Alert] = []
        for key in sorted(k for k in self.pending if k[0] == tenant):
            waiting = self.pending[key]
            due = [e for e in waiting if e.at_ms < watermark_ms]
            if not due:
                continue
            out.extend(escalation_alert(e, None, fired_at) for e in due)
            still = [e for e in waiting if e.at_ms >= watermark_ms]
            if still:
                self.pending[key] = still
            else:
                del self.pending[key]
        self._expire(tenant, watermark_ms - self.retention_ms)
        return out

    def _expire(self, tenant: str, cutoff: int) -> None:
        heap = self.expiry.get(tenant)
        while heap and heap[0][0] < cutoff:
            at, complaint = heapq.heappop(heap)
            key = (tenant, complaint)
            left = [c for c in self.created.get(key, ()) if c.at_ms != at]
            if left:
                self.created[key] = left
            else:
                self.created.pop(key, None)
        if heap is not None and not heap:
            del self.expiry[tenant]

    def forget_client(self, tenant: str, client_id: str) -> int:
        """Drop the tenant's client's complaints: their creations and the escalations
        still waiting (which then raise no alert: the client is erased); returns how
        many complaints."""
        gone = {
            key[1]
            for key, created in self.created.items()
            if key[0] == tenant and any(c.client_id == client_id for c in created)
        }
        gone |= {
            key[1]
            for key, waiting in self.pending.items()
            if key[0] == tenant and any(e.client_id == client_id for e in waiting)
        }
        self.forgotten.forget(tenant, client_id, ())
        for complaint in gone:
            self.created.pop((tenant, complaint), None)
            self.pending.pop((tenant, complaint), None)
        heap = self.expiry.get(tenant)
        if gone and heap is not None:
            kept = [entry for entry in heap if entry[1] not in gone]
            heapq.heapify(kept)
            if kept:
                self.expiry[tenant] = kept
            else:
                del self.expiry[tenant]
        return len(gone)

    def flush(self, fired_at: datetime) -> list[Alert]:
        """End of input: every escalation still waiting goes out (nothing else will come)."""
        out = [
            escalation_alert(e, None, fired_at)
            for key in sorted(self.pending)
            for e in self.pending[key]
        ]
        self.pending = {}
        return out
