"""One tenant's routing state: agents' figures, routed tickets and their decisions.

Pure state (no Bytewax, Kafka or I/O), fed the tenant's events in event-time order
(the adapter holds them behind the watermark), so eligibility is the agents' status *at
the creation's event time* and a replay gives the same rows:

* ``agent.status_changed`` sets an agent's status and team (eligibility);
* ``ticket.assigned`` / ``resolved`` / ``reopened`` move a ticket into and out of its
  latest assignee's open work (as live ops counts ``open_tickets``), and time the
  agent's last assignment (fairness);
* ``ticket.resolved`` adds one to the resolving agent's experience in its category
  (decaying with ``experience_half_life_days``); ``csat.received`` adds to the rated
  agent's and the tenant's CSAT of the last ``csat_window_days`` (daily buckets);
* ``ticket.created`` / ``complaint.created`` (the first of each id) make a
  :class:`RoutingRecommendation` with the scorer of :mod:`flows.routing.scorer`;
* a routed ticket's first ``ticket.assigned`` makes its :class:`RoutingDecision`, and
  its first response, first resolution, CSAT and reopening rewrite it (``version``).

The state holds ticket, complaint, agent and category ids, never a client id: erasing a
client (``client.erasure_requested``) has nothing to forget here. A routed ticket is
kept until 7 days after its resolution (late CSAT, reopenings) or 30 days without an
event; a complaint id 30 days (repeats are not re-routed).

When no agent is eligible for a ticket or complaint, its recommendation says so, and an
*episode* starts (:mod:`flows.routing.unroutable`): if it lasts
``unroutable_alert_after_s`` of event time one ``routing_unavailable`` alert fires,
resolved by the system when an agent becomes eligible again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

from flows.core.timeutil import from_ms
from flows.routing.scorer import AgentView, Subject, eligible, factor_names, rank
from flows.routing.unroutable import Unroutable, UnroutableOut
from schemas.events import (
    AgentStatusChanged,
    ComplaintCreated,
    CsatReceived,
    Event,
    TicketAssigned,
    TicketCreated,
    TicketFirstResponse,
    TicketReopened,
    TicketResolved,
)
from schemas.routing import (
    NO_AGENT_STATUS,
    NO_ELIGIBLE_AGENT,
    ROUTING_FACTORS,
    RoutingDecision,
    RoutingModel,
    RoutingRecommendation,
    decision_id,
    recommendation_id,
)

ROUTING_EVENT_TYPES = frozenset(
    {
        "agent.status_changed",
        "ticket.created",
        "ticket.assigned",
        "ticket.first_response",
        "ticket.resolved",
        "ticket.reopened",
        "csat.received",
        "complaint.created",
    }
)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
RESOLVED_KEEP_MS = 7 * DAY_MS  # a resolved ticket waits this long for CSAT / a reopening
IDLE_KEEP_MS = 30 * DAY_MS  # a ticket without an event this long is dropped

RoutingOut = RoutingRecommendation | RoutingDecision | UnroutableOut


@dataclass(slots=True)
class CsatWindow:
    """Ratings of the last ``days`` days, in daily buckets (applied in time order)."""

    buckets: deque[list[int]] = field(default_factory=deque)  # [day, sum, count]
    total: int = 0
    count: int = 0

    def add(self, at_ms: int, rating: int) -> None:
        day = at_ms // DAY_MS
        if self.buckets and self.buckets[-1][0] >= day:
            bucket = self.buckets[-1]  # a late rating counts in the newest day
        else:
            bucket = [day, 0, 0]
            self.buckets.append(bucket)
        bucket[1] += rating
        bucket[2] += 1
        self.total += rating
        self.count += 1

    def at(self, at_ms: int, days: int) -> tuple[int, int]:
        """(sum, count) of the ``days`` UTC days ending with the one of ``at_ms``."""
        first = at_ms // DAY_MS - days + 1
        b = self.buckets
        while b and b[0][0] < first:
            _, s, n = b.popleft()
            self.total -= s
            self.count -= n
        return self.total, self.count


@dataclass(slots=True)
class AgentState:
    status: str | None = None
    team: str = ""
    open: set[str] = field(default_factory=set)
    last_assigned_ms: int | None = None
    csat: CsatWindow = field(default_factory=CsatWindow)
    experience: dict[str, tuple[float, int]] = field(default_factory=dict)  # (value, at ms)


@dataclass(slots=True)
class TicketState:
    category: str = ""
    queue: str = ""
    created_ms: int | None = None
    recommendation: RoutingRecommendation | None = None
    assignee: str | None = None
    assigned_ms: int | None = None  # latest assignment
    resolved: bool = False  # latest of assigned/resolved/reopened is a resolution
    decision: RoutingDecision | None = None
    touched_ms: int = 0


@dataclass
class RoutingTenant:
    """One tenant's routing (see the module docstring)."""

    tenant_id: str
    model: RoutingModel
    agents: dict[str, AgentState] = field(default_factory=dict)
    eligible: set[str] = field(default_factory=set)
    tickets: dict[str, TicketState] = field(default_factory=dict)
    complaints: dict[str, int] = field(default_factory=dict)  # id -> routed at (ms)
    csat: CsatWindow = field(default_factory=CsatWindow)  # the tenant's, for the mean
    unroutable: Unroutable = field(default_factory=Unroutable)
    next_expiry_ms: int = 0

    def configure(self, model: RoutingModel) -> None:
        """A changed model applies from now on (eligibility under the new rules)."""
        self.model = model
        self.eligible = {a for a, s in self.agents.items() if eligible(model, s.status)}

    # ---- events ------------------------------------------------------------------------

    def on_event(self, event: Event, at_ms: int, fired_at: datetime) -> list[RoutingOut]:
        p = event.payload
        if isinstance(p, AgentStatusChanged):
            return self._status(p, at_ms)
        if isinstance(p, TicketCreated):
            return self._ticket_created(p, at_ms, fired_at)
        if isinstance(p, ComplaintCreated):
            return self._complaint_created(p, at_ms, fired_at)
        if isinstance(p, TicketAssigned):
            return self._assigned(p, at_ms)
        if isinstance(p, TicketFirstResponse):
            return self._first_response(p, at_ms)
        if isinstance(p, TicketResolved):
            return self._resolved(p, at_ms)
        if isinstance(p, TicketReopened):
            return self._reopened(p, at_ms)
        if isinstance(p, CsatReceived):
            return self._csat(p, at_ms)
        return []

    def on_watermark(self, at_ms: int, fired_at: datetime) -> list[RoutingOut]:
        """Decisions due by ``at_ms``: the unroutable alert, and hourly expiry."""
        out: list[RoutingOut] = list(
            self.unroutable.due(self.tenant_id, self.model, at_ms, fired_at)
        )
        if at_ms >= self.next_expiry_ms:
            self.expire(at_ms)
            self.next_expiry_ms = at_ms + HOUR_MS
        return out

    def _agent(self, agent_id: str) -> AgentState:
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = AgentState()
        return agent

    def _ticket(self, ticket_id: str, at_ms: int) -> TicketState:
        t = self.tickets.get(ticket_id)
        if t is None:
            t = self.tickets[ticket_id] = TicketState()
        t.touched_ms = max(t.touched_ms, at_ms)
        return t

    def _status(self, p: AgentStatusChanged, at_ms: int) -> list[RoutingOut]:
        agent = self._agent(p.agent_id)
        agent.status, agent.team = p.status, p.team
        if eligible(self.model, p.status):
            self.eligible.add(p.agent_id)
            return list(self.unroutable.end(self.tenant_id, at_ms))
        self.eligible.discard(p.agent_id)
        return []

    # ---- recommendations ---------------------------------------------------------------

    def _ticket_created(self, p: TicketCreated, at_ms: int, fired_at: datetime) -> list[RoutingOut]:
        t = self._ticket(p.ticket_id, at_ms)
        if t.created_ms is not None:
            return []  # the same ticket again (a re-sent creation): routed once
        t.created_ms, t.category, t.queue = at_ms, p.category, p.queue
        subject = Subject("ticket", p.category, p.queue)
        rec = self.recommend(subject, p.ticket_id, p.ticket_id, at_ms)
        t.recommendation = rec
        return [rec, *self._unroutable(rec, at_ms, fired_at)]

    def _complaint_created(
        self, p: ComplaintCreated, at_ms: int, fired_at: datetime
    ) -> list[RoutingOut]:
        if p.complaint_id in self.complaints:
            return []
        self.complaints[p.complaint_id] = at_ms
        linked = self.tickets.get(p.ticket_id) if p.ticket_id else None
        queue = linked.queue if linked is not None else ""
        subject = Subject("complaint", p.category, queue, p.severity)
        rec = self.recommend(subject, p.complaint_id, p.ticket_id or "", at_ms)
        return [rec, *self._unroutable(rec, at_ms, fired_at)]

    def _no_candidate_reason(self) -> str:
        """Why a recommendation is empty: no agent eligible now, or no status ever."""
        known = any(a.status is not None for a in self.agents.values())
        return NO_ELIGIBLE_AGENT if known else NO_AGENT_STATUS

    def _unroutable(
        self, rec: RoutingRecommendation, at_ms: int, fired_at: datetime
    ) -> list[RoutingOut]:
        if rec.reason == NO_ELIGIBLE_AGENT:
            self.unroutable.start(at_ms)
            return list(self.unroutable.due(self.tenant_id, self.model, at_ms, fired_at))
        return []

    def tenant_mean(self, at_ms: int) -> float:
        total, count = self.csat.at(at_ms, self.model.csat_window_days)
        return total / count if count else self.model.csat_default_mean

    def view(self, agent_id: str, category: str, at_ms: int) -> AgentView:
        """``agent_id``'s figures at ``at_ms`` for a subject of ``category``."""
        m = self.model
        a = self.agents[agent_id]
        total, count = a.csat.at(at_ms, m.csat_window_days)
        exp = a.experience.get(category)
        experience = 0.0
        if exp is not None:
            age_days = max(at_ms - exp[1], 0) / DAY_MS
            experience = exp[0] * 2.0 ** (-age_days / m.experience_half_life_days)
        idle = None if a.last_assigned_ms is None else (at_ms - a.last_assigned_ms) / 1000
        return AgentView(agent_id, a.status, a.team, len(a.open), total, count, experience, idle)

    def recommend(
        self, subject: Subject, subject_id: str, ticket_id: str, at_ms: int
    ) -> RoutingRecommendation:
        m = self.model
        team = m.queue_teams.get(self.tenant_id, {}).get(subject.queue) if subject.queue else None
        views = [self.view(a, subject.category, at_ms) for a in self.eligible]
        best, n = rank(m, subject, views, self.tenant_mean(at_ms), team)
        names = factor_names(m, team is not None)
        keep = [i for i, f in enumerate(ROUTING_FACTORS) if f in names]
        return RoutingRecommendation(
            recommendation_id=recommendation_id(self.tenant_id, subject.subject_type, subject_id),
            tenant_id=self.tenant_id,
            ticket_id=ticket_id,
            subject_type=subject.subject_type,
            subject_id=subject_id,
            made_at=from_ms(at_ms),
            category=subject.category,
            queue=subject.queue,
            severity=subject.severity,
            eligible_agents=n,
            reason="" if best else self._no_candidate_reason(),
            factor_names=list(names),
            candidate_agent_ids=[s.agent_id for s in best],
            candidate_scores=[s.score for s in best],
            candidate_factors=[[s.contributions[i] for i in keep] for s in best],
        )

    # ---- work and outcomes -------------------------------------------------------------

    def _assigned(self, p: TicketAssigned, at_ms: int) -> list[RoutingOut]:
        t = self._ticket(p.ticket_id, at_ms)
        if t.assignee is not None and not t.resolved:
            self._agent(t.assignee).open.discard(p.ticket_id)
        agent = self._agent(p.agent_id)
        agent.open.add(p.ticket_id)
        agent.last_assigned_ms = at_ms
        t.assignee, t.assigned_ms, t.resolved = p.agent_id, at_ms, False
        rec = t.recommendation
        if rec is None or t.decision is not None:
            return []
        try:
            place = rec.candidate_agent_ids.index(p.agent_id) + 1
        except ValueError:
            place = 0
        adoption = "top" if place == 1 else "top_n" if place else "outside"
        t.decision = RoutingDecision(
            decision_id=decision_id(self.tenant_id, p.ticket_id),
            tenant_id=self.tenant_id,
            ticket_id=p.ticket_id,
            recommendation_id=rec.recommendation_id,
            version=1,
            assigned_at=from_ms(at_ms),
            agent_id=p.agent_id,
            assigned_by=p.assigned_by,
            rank=place,
            adoption=cast(Literal["top", "top_n", "outside"], adoption),
            first_response_s=None,
            handle_time_s=None,
            csat=None,
            reopened=False,
            updated_at=from_ms(at_ms),
        )
        return [t.decision]

    def _update(self, t: TicketState, at_ms: int, **changes: object) -> list[RoutingOut]:
        d = t.decision
        assert d is not None
        updated = d.model_copy(
            update={**changes, "version": d.version + 1, "updated_at": from_ms(at_ms)}
        )
        t.decision = updated
        return [updated]

    def _first_response(self, p: TicketFirstResponse, at_ms: int) -> list[RoutingOut]:
        t = self.tickets.get(p.ticket_id)
        if t is None or t.decision is None or t.decision.first_response_s is not None:
            return []
        t.touched_ms = max(t.touched_ms, at_ms)
        assert t.created_ms is not None  # a decision needs a recommendation, made at creation
        return self._update(t, at_ms, first_response_s=max(at_ms - t.created_ms, 0) / 1000)

    def _resolved(self, p: TicketResolved, at_ms: int) -> list[RoutingOut]:
        resolver = self._agent(p.agent_id)
        value, since = resolver.experience.get(p.category, (0.0, at_ms))
        age_days = max(at_ms - since, 0) / DAY_MS
        decayed = value * 2.0 ** (-age_days / self.model.experience_half_life_days)
        resolver.experience[p.category] = (decayed + 1.0, at_ms)
        t = self._ticket(p.ticket_id, at_ms)
        if t.assignee is not None:
            self._agent(t.assignee).open.discard(p.ticket_id)
        t.resolved = True
        d = t.decision
        if d is None or d.handle_time_s is not None or t.assigned_ms is None:
            return []
        return self._update(t, at_ms, handle_time_s=max(at_ms - t.assigned_ms, 0) / 1000)

    def _reopened(self, p: TicketReopened, at_ms: int) -> list[RoutingOut]:
        t = self.tickets.get(p.ticket_id)
        if t is None:
            return []
        t.touched_ms = max(t.touched_ms, at_ms)
        was_resolved, t.resolved = t.resolved, False
        if t.assignee is not None:
            self._agent(t.assignee).open.add(p.ticket_id)
        d = t.decision
        if d is None or d.reopened or not was_resolved:
            return []
        return self._update(t, at_ms, reopened=True)

    def _csat(self, p: CsatReceived, at_ms: int) -> list[RoutingOut]:
        self._agent(p.agent_id).csat.add(at_ms, p.rating)
        self.csat.add(at_ms, p.rating)
        t = self.tickets.get(p.ticket_id)
        if t is None or t.decision is None or t.decision.csat == p.rating:
            return []
        t.touched_ms = max(t.touched_ms, at_ms)
        return self._update(t, at_ms, csat=p.rating)

    # ---- bounded state -----------------------------------------------------------------

    def expire(self, at_ms: int) -> None:
        """Forget resolved tickets 7 days on, any ticket 30 days without an event, and
        complaint ids after 30 days."""
        for ticket_id, t in list(self.tickets.items()):
            idle = at_ms - t.touched_ms
            if (t.resolved and idle > RESOLVED_KEEP_MS) or idle > IDLE_KEEP_MS:
                if t.assignee is not None:
                    self._agent(t.assignee).open.discard(ticket_id)
                del self.tickets[ticket_id]
        cutoff = at_ms - IDLE_KEEP_MS
        self.complaints = {c: ms for c, ms in self.complaints.items() if ms > cutoff}
