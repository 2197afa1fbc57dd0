"""Client churn risk: events -> risk signals -> a decayed score per client, with alerts.

Pure logic (no Bytewax, no I/O). The scorer itself is ``schemas.risk.RiskModel``, shared
with the API so a what-if there uses the same numbers as the flow.

Per client and factor the tracker keeps one decayed sum with its as-of time. Adding a
signal at ``t`` to a sum as of ``a``: when ``t <= a`` it adds ``decay(a - t)``, else it
decays the sum forward to ``t`` and adds 1. Either way the sum equals, up to rounding,
``sum(decay(a - t_i))`` over every signal whatever their arrival order, so out-of-order
input scores the same as in-order input. The score is taken at the client's scoring time
``T`` = the newest event time seen for that client.

Every client seen gets a score: any event that names a client (a ticket, a CSAT survey
of any rating, a service request, a resolved complaint) carries an ``activity`` signal.
It moves no factor (the model has no positive signals: a calm client sits at the
model's base probability, level low); it only makes a client never scored before get
its first row, so a client with nothing wrong is visible as low risk, not missing.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from flows.agents.facts import LOW_CSAT_MAX
from flows.core.timeutil import from_ms, to_ms
from schemas.events import (
    ClientErasureRequested,
    ClientHealthUpdated,
    ComplaintCreated,
    ComplaintEscalated,
    ComplaintResolved,
    CsatReceived,
    Event,
    ServiceRequested,
    TicketCreated,
    TicketReopened,
)
from schemas.ids import stable_id
from schemas.results import SEVERITY_RANK, Alert, AlertSeverity
from schemas.risk import FACTOR_NAMES, HEALTH_FACTOR, ClientRisk, RiskLevel, RiskModel

DAY_MS = 86_400_000
ACTIVITY = "activity"  # a signal that only makes the client known
ERASURE = "erasure"  # the client was erased: its scoring state is forgotten
TOP_FACTORS = 3


@dataclass(frozen=True, slots=True)
class RiskSignal:
    """One thing that moves a client's risk, at event time ``at_ms``.

    ``value``: the health score (0-100) for ``health``; 1.0 (one occurrence) otherwise.
    """

    tenant_id: str
    client_id: str
    factor: str
    at_ms: int
    value: float
    event_id: UUID
    order_ms: int | None = None  # when it was late: the bound it missed (orders it)

    def __post_init__(self) -> None:
        if self.factor not in FACTOR_NAMES and self.factor not in (ACTIVITY, ERASURE):
            raise ValueError(f"unknown risk factor {self.factor!r}; known: {list(FACTOR_NAMES)}")


# ---- events -> signals ----------------------------------------------------------------


def signals_from_event(
    event: Event, client_of_ticket: Mapping[tuple[str, str], str]
) -> list[RiskSignal]:
    """The risk signals one event carries (most events carry none).

    ``client_of_ticket`` maps ``(tenant, ticket_id)`` to the client, for reopenings (their
    payload names only the ticket); a reopening of an unknown ticket yields nothing here
    (``TicketClients`` holds it until the ticket's creation arrives).
    """
    p = event.payload
    tenant, eid = event.tenant_id, event.event_id
    at = to_ms(event.occurred_at)
    if isinstance(p, ComplaintCreated):
        return [RiskSignal(tenant, p.client_id, f"complaints_{p.severity}", at, 1.0, eid)]
    if isinstance(p, ComplaintEscalated):
        return [RiskSignal(tenant, p.client_id, "escalations", at, 1.0, eid)]
    if isinstance(p, CsatReceived):
        if p.rating > LOW_CSAT_MAX:
            return [RiskSignal(tenant, p.client_id, ACTIVITY, at, 0.0, eid)]
        return [RiskSignal(tenant, p.client_id, "low_csat", at, 1.0, eid)]
    if isinstance(p, TicketCreated | ServiceRequested | ComplaintResolved):
        return [RiskSignal(tenant, p.client_id, ACTIVITY, at, 0.0, eid)]
    if isinstance(p, ClientHealthUpdated):
        return [RiskSignal(tenant, p.client_id, HEALTH_FACTOR, at, p.health_score, eid)]
    if isinstance(p, TicketReopened):
        client = client_of_ticket.get((tenant, p.ticket_id))
        if client is None:
            return []
        return [RiskSignal(tenant, client, "reopenings", at, 1.0, eid)]
    return []


def erasure_signals(event: Event) -> list[RiskSignal]:
    """A ``client.erasure_requested`` as the one item that reaches the client's scoring
    shard, in event-time order with its signals (it moves no factor: the shard forgets
    the client); nothing for any other event."""
    p = event.payload
    if not isinstance(p, ClientErasureRequested):
        return []
    at = to_ms(event.occurred_at)
    return [RiskSignal(event.tenant_id, p.client_id, ERASURE, at, 0.0, event.event_id)]


@dataclass
class TicketClients:
    """Remembers ticket -> client from ``ticket.created`` so reopenings reach the client.

    Bounded: a ticket is forgotten ``retention_ms`` of event time after its creation (the
    newest event time seen is the clock). A reopening that arrives before its ticket's
    creation is held for as long, then released as a signal when the creation arrives.

    Usage, per event: ``late = tc.on_event(ev)`` then
    ``late + signals_from_event(ev, tc.clients)``.
    """

    retention_ms: int = 90 * DAY_MS
    clients: dict[tuple[str, str], str] = field(default_factory=dict)
    created_ms: dict[tuple[str, str], int] = field(default_factory=dict)
    pending: dict[tuple[str, str], list[tuple[int, UUID]]] = field(default_factory=dict)
    max_ms: int = -(2**62)
    _expiry: list[tuple[int, int, str, str]] = field(default_factory=list)  # (ms, kind, key)

    def on_event(self, event: Event) -> list[RiskSignal]:
        """Learn from ``event``; returns reopen signals that were waiting for this ticket."""
        p = event.payload
        if not isinstance(p, TicketCreated | TicketReopened):
            return []
        at = to_ms(event.occurred_at)
        self.max_ms = max(self.max_ms, at)
        key = (event.tenant_id, p.ticket_id)
        out: list[RiskSignal] = []
        if isinstance(p, TicketCreated):
            self.clients[key] = p.client_id
            if at >= self.created_ms.get(key, at):
                self.created_ms[key] = at
                heapq.heappush(self._expiry, (at, 0, *key))
            for r_at, r_eid in self.pending.pop(key, []):
                out.append(RiskSignal(key[0], p.client_id, "reopenings", r_at, 1.0, r_eid))
        elif key not in self.clients:
            waiting = self.pending.setdefault(key, [])
            waiting.append((at, event.event_id))
            heapq.heappush(self._expiry, (at, 1, *key))
        self._expire()
        return out

    def forget_client(self, tenant: str, client_id: str) -> int:
        """Forget which of the tenant's tickets were the client's (a data subject's
        erasure); returns how many. A reopening still waiting for its ticket's creation
        names no client: it expires on its own (the creation never comes: ingest
        suppresses an erased client's events)."""
        gone = {k for k, c in self.clients.items() if k[0] == tenant and c == client_id}
        if not gone:
            return 0
        for key in gone:
            del self.clients[key]
            self.created_ms.pop(key, None)
        kept = [e for e in self._expiry if (e[2], e[3]) not in gone]
        heapq.heapify(kept)
        self._expiry = kept
        return len(gone)

    def _expire(self) -> None:
        cutoff = self.max_ms - self.retention_ms
        heap = self._expiry
        while heap and heap[0][0] < cutoff:
            at, kind, tenant, ticket = heapq.heappop(heap)
            key = (tenant, ticket)
            if kind == 0:
                if self.created_ms.get(key) == at:
                    del self.created_ms[key]
                    del self.clients[key]
            elif key in self.pending:
                still = [(t, e) for t, e in self.pending[key] if t != at]
                if still:
                    self.pending[key] = still
                else:
                    del self.pending[key]


# ---- the tracker ------------------------------------------------------------------------


@dataclass(slots=True)
class _Sum:
    """Decayed count of one factor, exact as of event time ``as_of_ms``."""

    total: float
    as_of_ms: int


@dataclass(slots=True)
class _Client:
    scored_ms: int  # T: newest event time seen for the client
    trigger: UUID  # event of the latest folded signal
    version: int = 0
    sums: dict[str, _Sum] = field(default_factory=dict)
    health: tuple[int, str, float] | None = None  # (at_ms, event id, score) of the latest
    level: RiskLevel | None = None


@dataclass
class ClientRiskTracker:
    """Risk state of one shard of clients; every folded signal yields a new score row."""

    model: RiskModel = field(default_factory=RiskModel)
    clients: dict[tuple[str, str], _Client] = field(default_factory=dict)

    def on_signal(self, signal: RiskSignal) -> ClientRisk | None:
        """Fold ``signal`` in and return the client's new score.

        None when the signal changes nothing: a health reading not newer than the one the
        client already has (by event time, ties by event id: the score uses the latest
        reading only, whatever the arrival order); such a reading is not counted.
        """
        key = (signal.tenant_id, signal.client_id)
        c = self.clients.get(key)
        if c is None:
            c = self.clients[key] = _Client(scored_ms=signal.at_ms, trigger=signal.event_id)
        elif signal.factor == ACTIVITY:
            return None  # known already: activity changes nothing
        t = signal.at_ms
        if signal.factor == ACTIVITY:
            pass
        elif signal.factor == HEALTH_FACTOR:
            reading = (t, str(signal.event_id), float(signal.value))
            if c.health is not None and reading[:2] <= c.health[:2]:
                return None
            c.health = reading
        else:
            acc = c.sums.get(signal.factor)
            if acc is None:
                c.sums[signal.factor] = _Sum(signal.value, t)
            elif t <= acc.as_of_ms:
                acc.total += signal.value * self.model.decay(acc.as_of_ms - t)
            else:
                acc.total = acc.total * self.model.decay(t - acc.as_of_ms) + signal.value
                acc.as_of_ms = t
        c.scored_ms = max(c.scored_ms, t)
        c.version += 1
        c.trigger = signal.event_id
        row = self._row(signal.tenant_id, signal.client_id, c, c.scored_ms)
        c.level = row.risk_level
        return row

    def forget_client(self, tenant_id: str, client_id: str) -> bool:
        """Drop the client's scoring state (a data subject's erasure; its rows are
        deleted from ClickHouse, no new row is due); whether it was known."""
        return self.clients.pop((tenant_id, client_id), None) is not None

    def last_level(self, tenant_id: str, client_id: str) -> RiskLevel | None:
        """The level of the client's latest row (None before its first signal)."""
        c = self.clients.get((tenant_id, client_id))
        return None if c is None else c.level

    def contributions_at(self, tenant_id: str, client_id: str, at_ms: int) -> dict[str, float]:
        """Logit points per factor at scoring time ``at_ms`` (not before the newest signal)."""
        c = self.clients.get((tenant_id, client_id))
        if c is None:
            return {}
        if at_ms < c.scored_ms:
            raise ValueError(
                f"cannot score at {at_ms}: before the client's newest signal {c.scored_ms}"
            )
        decay = self.model.decay
        counts = {f: s.total * decay(at_ms - s.as_of_ms) for f, s in c.sums.items()}
        health = None if c.health is None else c.health[2]
        return self.model.contributions(counts, health)

    def score_at(self, tenant_id: str, client_id: str, at_ms: int) -> ClientRisk | None:
        """The client's score if it were taken at ``at_ms`` with no new signal (decay only).

        The row keeps the latest version and trigger: it is a view, not a new history row.
        None for a client never seen.
        """
        c = self.clients.get((tenant_id, client_id))
        if c is None:
            return None
        return self._row(tenant_id, client_id, c, at_ms)

    def _row(self, tenant: str, client: str, c: _Client, at_ms: int) -> ClientRisk:
        s = self.model.score(self.contributions_at(tenant, client, at_ms))
        return ClientRisk(
            risk_id=stable_id("client_risk", tenant, client, c.version),
            tenant_id=tenant,
            client_id=client,
            version=c.version,
            scored_at=from_ms(at_ms),
            churn_probability=s.churn_probability,
            risk_level=s.risk_level,
            factors=s.factors,
            trigger_event_id=c.trigger,
        )


# ---- alerts -----------------------------------------------------------------------------

_ALERT_SEVERITY: dict[str, AlertSeverity] = {
    "medium": "medium",
    "high": "high",
    "critical": "critical",
}


def risk_alert(prev_level: RiskLevel | None, new: ClientRisk, fired_at: datetime) -> Alert | None:
    """A ``client_risk`` alert when the level rises (a first score counts as from low)."""
    before: RiskLevel = prev_level or "low"
    if SEVERITY_RANK[new.risk_level] <= SEVERITY_RANK[before]:
        return None
    top = [{"name": f.name, "contribution": f.contribution} for f in new.factors[:TOP_FACTORS]]
    return Alert(
        alert_id=stable_id(
            "client_risk", new.tenant_id, new.client_id, new.risk_level, new.trigger_event_id
        ),
        tenant_id=new.tenant_id,
        kind="client_risk",
        severity=_ALERT_SEVERITY[new.risk_level],
        subject_type="client",
        subject_id=new.client_id,
        title=(
            f"Churn risk of client {new.client_id} rose from {before} to {new.risk_level} "
            f"(p={new.churn_probability:.2f})"
        ),
        details={
            "churn_probability": new.churn_probability,
            "previous_level": before,
            "risk_level": new.risk_level,
            "top_factors": top,
            "risk_id": str(new.risk_id),
            "version": new.version,
            "trigger_event_id": str(new.trigger_event_id),
        },
        event_time=new.scored_at,
        fired_at=fired_at,
    )
