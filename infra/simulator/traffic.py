"""Random traffic: the handlers of every entity's lifecycle when no story drives it.

Tickets (created, assigned, answered, resolved, reopened, rated), complaints, client
health, field-service requests, KB articles, agent shifts and statuses, chat sessions.
Each handler draws from the run's one RNG in a fixed order: that order is the stream.
"""

from __future__ import annotations

from typing import Any

from flows.routing.scorer import AgentView, Subject, rank
from infra.simulator.engine import Engine, Event
from infra.simulator.entities import Agent, Client, Complaint, Session, Tenant, Ticket
from infra.simulator.timeline import DAY, HOUR, MIN, SEC
from infra.simulator.vocabulary import (
    BROWSERS,
    CHANNEL,
    COMMENTS_BAD,
    COMMENTS_GOOD,
    COMMENTS_MID,
    COMPLAINTS,
    CSAT_P,
    DWELL_MIN,
    ESCALATE_P,
    FIRST_RESPONSE_MIN,
    HANDLE_FACTOR,
    INTEGRATIONS,
    KIND_CALL,
    KIND_TEXT,
    NEXT_STATUS,
    PLANS,
    PRIORITY,
    PRIORITY_SEVERE,
    PRODUCTS,
    SERVICE_TYPES,
    SESSION_CHANNEL,
    SEVERITY,
    SEVERITY_TROUBLED,
    SEVERITY_UP,
    SHIFT_MS,
    URGENCY,
    Category,
)
from schemas.routing import RoutingModel

# the simulated company's auto-assigner ranks with the product's default model
ROUTING_MODEL = RoutingModel()


class Traffic(Engine):
    """The random-traffic handlers, on the engine's state."""

    def _pick_agent(self, ten: Tenant, team: str) -> Agent:
        """An on-shift agent of ``team``, else any on-shift agent, else anyone (backlog)."""
        on = ten.on_shift
        team_on = [a for a in on if a.team == team]
        return self.rng.choice(team_on or on or ten.agents)

    def _recommended(self, t: int, tk: Ticket) -> Agent | None:
        """With ``routing_follow_p``, the routing scorer's top agent for ``tk`` over what
        the company knows of its on-shift agents at ``t`` (None: pick as before)."""
        p = self.cfg.routing_follow_p
        if p <= 0 or self.routing_rng.random() >= p:
            return None
        on = tk.tenant.on_shift
        rated = sum(a.csat_count for a in on)
        mean = sum(a.csat_sum for a in on) / rated if rated else ROUTING_MODEL.csat_default_mean
        views = [self._agent_view(a, tk.category.name, t) for a in on]
        best, _ = rank(
            ROUTING_MODEL, Subject("ticket", tk.category.name, tk.queue), views, mean, None
        )
        if not best:
            return None
        return next(a for a in on if a.id == best[0].agent_id)

    @staticmethod
    def _agent_view(a: Agent, category: str, t: int) -> AgentView:
        value, at = a.resolved.get(category, (0.0, t))
        half_life = ROUTING_MODEL.experience_half_life_days * DAY
        experience = value * 2.0 ** (-max(t - at, 0) / half_life)
        idle = None if a.last_assigned is None else (t - a.last_assigned) / 1000
        return AgentView(a.id, a.status, a.team, a.open, a.csat_sum, a.csat_count, experience, idle)

    @staticmethod
    def _resolved_by(t: int, tk: Ticket) -> None:
        """What the company learns from a resolution: open work, category experience."""
        a, category = tk.agent, tk.category.name
        a.open = max(a.open - 1, 0)
        value, at = a.resolved.get(category, (0.0, t))
        half_life = ROUTING_MODEL.experience_half_life_days * DAY
        a.resolved[category] = (value * 2.0 ** (-max(t - at, 0) / half_life) + 1.0, t)

    def _details(self) -> dict[str, object]:
        rng = self.rng
        return {
            "order": f"ORD-{rng.randrange(10_000, 99_999)}",
            "invoice": f"INV-{rng.randrange(1000, 9999)}",
            "amount": f"{rng.randrange(900, 49_900) / 100:.2f}",
            "product": rng.choice(PRODUCTS),
            "browser": rng.choice(BROWSERS),
            "integration": rng.choice(INTEGRATIONS),
            "plan": rng.choice(PLANS),
            "error": f"E{rng.randrange(400, 599)}",
            "n": rng.randrange(2, 40),
            "days": rng.randrange(1, 14),
        }

    # -- tickets -------------------------------------------------------------------------

    def _ticket_created(self, t: int, ten: Tenant) -> Event:
        rng = self.rng
        client = ten.pick.pick(rng.random())
        cat = self.categories.pick(rng.random())
        prio = (PRIORITY_SEVERE if cat.severe else PRIORITY).pick(rng.random())
        tk = self._new_ticket(ten, client, cat, prio)
        details = self._details()
        # routing is automatic when a team member is on shift; otherwise a supervisor
        # triages by hand, minutes to hours later
        staffed = any(a.team == tk.queue for a in ten.on_shift)
        if staffed and rng.random() < 0.9:
            # the auto-assigner follows the recommendation made now, at the creation
            tk.recommended = self._recommended(t, tk)
            self.push(t + rng.randrange(5 * SEC, 3 * MIN), self._ticket_assigned, (tk, "auto"))
        else:
            self.push(self.after(t, 25 * MIN, MIN), self._ticket_assigned, (tk, "manual"))
        return self._created_event(t, tk, details)

    def _new_ticket(self, ten: Tenant, client: Client, cat: Category, prio: str) -> Ticket:
        queue = self.queue_of[cat.name]
        tk = Ticket(f"tkt-{ten.name}-{next(ten.counter):06d}", ten, client, cat, queue, prio)
        client.last_ticket, client.last_category = tk.id, cat
        return tk

    def _ticket_env(self, t: int, event_type: str, tk: Ticket, payload: dict[str, Any]) -> Event:
        return self.env(t, event_type, tk.tenant.name, "helpdesk", payload, tk.id)

    def _created_event(self, t: int, tk: Ticket, details: dict[str, object]) -> Event:
        rng, cat = self.rng, tk.category
        return self._ticket_env(
            t,
            "ticket.created",
            tk,
            {
                "ticket_id": tk.id,
                "client_id": tk.client.id,
                "channel": CHANNEL.pick(rng.random()),
                "queue": tk.queue,
                "priority": tk.priority,
                "category": cat.name,
                "subject": rng.choice(cat.subjects).format_map(details),
                "description": rng.choice(cat.descriptions).format_map(details),
                "region": tk.client.region,
            },
        )

    def _ticket_assigned(self, t: int, arg: tuple[Ticket, str]) -> Event:
        tk, how = arg
        pick = tk.recommended if how == "auto" else None
        if pick is None or pick not in tk.tenant.on_shift:  # gone since: pick as before
            pick = self._pick_agent(tk.tenant, tk.queue)
        tk.agent = pick
        tk.agent.open += 1
        tk.agent.last_assigned = t
        slowness = 1.5 - 0.7 * tk.agent.skill_for(tk.category.name)
        mean = FIRST_RESPONSE_MIN[tk.priority] * MIN * slowness
        self.push(self.after(t, mean, 30 * SEC), self._ticket_first_response, tk)
        return self._assigned_event(t, tk, how)

    def _assigned_event(self, t: int, tk: Ticket, how: str) -> Event:
        payload = {"ticket_id": tk.id, "agent_id": tk.agent.id, "assigned_by": how}
        return self._ticket_env(t, "ticket.assigned", tk, payload)

    def _handle_time(self, tk: Ticket) -> int:
        tk.expected = int(tk.category.handle_min * HANDLE_FACTOR[tk.priority] * MIN)
        noise = self.rng.lognormvariate(0.0, 0.6)
        return int(tk.expected * (1.6 - tk.agent.skill_for(tk.category.name)) * noise) + MIN

    def _ticket_first_response(self, t: int, tk: Ticket) -> Event:
        handle = self._handle_time(tk)
        self.push(t + handle, self._ticket_resolved, (tk, handle))
        return self._first_response_event(t, tk)

    def _first_response_event(self, t: int, tk: Ticket) -> Event:
        payload = {"ticket_id": tk.id, "agent_id": tk.agent.id}
        return self._ticket_env(t, "ticket.first_response", tk, payload)

    def _ticket_resolved(self, t: int, arg: tuple[Ticket, int]) -> Event:
        tk, handle = arg
        rng = self.rng
        resolution = self._resolution(tk.category)
        skill = tk.agent.skill_for(tk.category.name)
        self._resolved_by(t, tk)
        if not tk.reopened and rng.random() < 0.015 + 0.1 * (1.0 - skill):
            self.push(self.after(t, 8 * HOUR, 5 * MIN), self._ticket_reopened, tk)
        if rng.random() < CSAT_P:
            slow = handle > 2 * tk.expected
            self.push(self.after(t, 3 * HOUR, MIN), self._csat, (tk, slow))
        return self._resolved_event(t, tk, resolution)

    def _resolution(self, cat: Category) -> tuple[str, str]:
        # the first listed fix is the usual one: recurring problems share resolutions
        rng = self.rng
        return cat.resolutions[0] if rng.random() < 0.6 else rng.choice(cat.resolutions)

    def _resolved_event(self, t: int, tk: Ticket, resolution: tuple[str, str]) -> Event:
        code, text = resolution
        return self._ticket_env(
            t,
            "ticket.resolved",
            tk,
            {
                "ticket_id": tk.id,
                "agent_id": tk.agent.id,
                "category": tk.category.name,
                "resolution_code": code,
                "resolution_text": text,
            },
        )

    def _ticket_reopened(self, t: int, tk: Ticket) -> Event:
        tk.reopened = True
        tk.agent.open += 1
        tk.client.health -= 3.0
        handle = int(self._handle_time(tk) * 0.6)
        self.push(t + handle, self._ticket_resolved, (tk, handle))
        return self._ticket_env(t, "ticket.reopened", tk, {"ticket_id": tk.id})

    def _csat(self, t: int, arg: tuple[Ticket, bool]) -> Event:
        tk, slow = arg
        rng = self.rng
        q = tk.agent.skill_for(tk.category.name)
        q -= (0.25 if tk.reopened else 0.0) + (0.1 if slow else 0.0)
        q = min(max(q, 0.0), 1.0)
        if rng.random() < 0.02 + 0.36 * (1.0 - q) ** 2:
            rating = 1 if rng.random() < 0.55 else 2
        else:
            w3, w5 = 0.05 + 0.3 * (1.0 - q), 0.3 + 0.6 * q
            r = rng.random() * (w3 + 0.35 + w5)
            rating = 3 if r < w3 else 4 if r < w3 + 0.35 else 5
        comment: str | None = None
        if rating <= 2:
            tk.client.health -= 5.0
            comment = rng.choice(COMMENTS_BAD) if rng.random() < 0.7 else None
        elif rating == 5:
            tk.client.health += 1.0
            comment = rng.choice(COMMENTS_GOOD) if rng.random() < 0.3 else None
        elif rng.random() < 0.15:
            comment = rng.choice(COMMENTS_MID)
        tk.agent.csat_sum += rating
        tk.agent.csat_count += 1
        return self._csat_event(t, tk, rating, comment)

    def _csat_event(self, t: int, tk: Ticket, rating: int, comment: str | None) -> Event:
        ten = tk.tenant
        return self.env(
            t,
            "csat.received",
            ten.name,
            "survey",
            {
                "survey_id": f"csat-{ten.name}-{next(ten.counter):06d}",
                "ticket_id": tk.id,
                "agent_id": tk.agent.id,
                "client_id": tk.client.id,
                "rating": rating,
                "comment": comment,
            },
            tk.id,
        )

    # -- complaints ----------------------------------------------------------------------

    def _complaint_created(self, t: int, ten: Tenant) -> Event:
        rng = self.rng
        client = ten.complaint_pick.pick(rng.random())
        troubled = client.base_health < 60
        severity = (SEVERITY_TROUBLED if troubled else SEVERITY).pick(rng.random())
        linked = client.last_ticket is not None and rng.random() < 0.6
        cat = (
            client.last_category
            if linked and client.last_category
            else (self.categories.pick(rng.random()))
        )
        cp = Complaint(f"cmp-{ten.name}-{next(ten.counter):06d}", ten, client, severity, cat)
        client.health -= 8.0
        if rng.random() < ESCALATE_P[severity]:
            self.push(self.after(t, 4 * HOUR, 10 * MIN), self._complaint_escalated, cp)
        else:
            self.push(self.after(t, 20 * HOUR, 30 * MIN), self._complaint_resolved, cp)
        return self._complaint_event(t, cp, client.last_ticket if linked else None)

    def _complaint_event(self, t: int, cp: Complaint, ticket_id: str | None) -> Event:
        rng = self.rng
        description = rng.choice(COMPLAINTS).format(
            category=cp.category.name.replace("_", " "),
            n=rng.randrange(2, 6),
            days=rng.randrange(2, 20),
        )
        return self.env(
            t,
            "complaint.created",
            cp.tenant.name,
            "crm",
            {
                "complaint_id": cp.id,
                "client_id": cp.client.id,
                "severity": cp.severity,
                "category": cp.category.name,
                "description": description,
                "ticket_id": ticket_id,
            },
            cp.id,
        )

    def _complaint_escalated(self, t: int, cp: Complaint) -> Event:
        self.push(self.after(t, 10 * HOUR, 30 * MIN), self._complaint_resolved, cp)
        return self._escalated_event(t, cp)

    def _escalated_event(self, t: int, cp: Complaint) -> Event:
        cp.severity = SEVERITY_UP[cp.severity]
        return self.env(
            t,
            "complaint.escalated",
            cp.tenant.name,
            "crm",
            {
                "complaint_id": cp.id,
                "client_id": cp.client.id,
                "severity": cp.severity,
            },
            cp.id,
        )

    def _complaint_resolved(self, t: int, cp: Complaint) -> Event:
        agent = self._pick_agent(cp.tenant, self.queue_of[cp.category.name])
        return self.env(
            t,
            "complaint.resolved",
            cp.tenant.name,
            "crm",
            {
                "complaint_id": cp.id,
                "client_id": cp.client.id,
                "agent_id": agent.id,
            },
            cp.id,
        )

    # -- clients, service, knowledge base ------------------------------------------------

    def _client_health(self, t: int, client: Client) -> Event:
        """Penalties land at once; the score reverts towards the client's baseline."""
        rng = self.rng
        client.health += 0.3 * (client.base_health - client.health) + rng.gauss(0.0, 2.0)
        client.health = min(max(client.health, 0.0), 100.0)
        self.push(t + int(DAY * rng.uniform(0.8, 1.2)), self._client_health, client)
        return self.env(
            t,
            "client.health_updated",
            client.tenant.name,
            "crm",
            {
                "client_id": client.id,
                "health_score": round(client.health, 1),
            },
        )

    def _service_requested(self, t: int, ten: Tenant) -> Event:
        rng = self.rng
        client = ten.pick.pick(rng.random())
        request_id = f"srv-{ten.name}-{next(ten.counter):06d}"
        return self.env(
            t,
            "service.requested",
            ten.name,
            "field-service",
            {
                "request_id": request_id,
                "client_id": client.id,
                "region": client.region,
                "service_type": rng.choice(SERVICE_TYPES),
                "urgency": URGENCY.pick(rng.random()),
            },
            request_id,
        )

    def _kb_article(self, t: int, ten: Tenant) -> Event:
        rng = self.rng
        cat = self.categories.pick(rng.random())
        every = self.cfg.kb_article_every_h * HOUR
        self.push(t + int(every * rng.uniform(0.5, 1.5)), self._kb_article, ten)
        details = self._details()
        body = (
            f"Symptom: {rng.choice(cat.descriptions).format_map(details)}\n\n"
            f"Fix: {rng.choice(cat.resolutions)[1]}\n\n"
            f"Queue: {self.queue_of[cat.name]}."
        )
        return self.env(
            t,
            "kb.article_created",
            ten.name,
            "kb",
            {
                "article_id": f"kb-{ten.name}-{next(ten.counter):06d}",
                "title": rng.choice(cat.kb_titles),
                "body": body,
                "category": cat.name,
            },
        )

    # -- agents --------------------------------------------------------------------------

    def _agent_login(self, t: int, ag: Agent) -> Event | None:
        rng = self.rng
        weekend = (ag.shift_day // DAY + 3) % 7 >= 5
        if rng.random() >= (0.3 if weekend else 0.92):  # day off
            ag.shift_day += DAY
            self.push(
                ag.shift_day + ag.shift_h * HOUR + rng.randrange(15 * MIN), self._agent_login, ag
            )
            return None
        ag.shift_end = ag.shift_day + ag.shift_h * HOUR + SHIFT_MS + rng.randrange(30 * MIN)
        ag.tenant.on_shift.append(ag)
        return self._agent_status(t, ag, "active")

    def _agent_toggle(self, t: int, ag: Agent) -> Event | None:
        if t < ag.away_until:  # in a meeting (a story): the status waits until it ends
            self.push(ag.away_until, self._agent_toggle, ag)
            return None
        rng = self.rng
        if t >= ag.shift_end:
            ag.tenant.on_shift.remove(ag)
            ag.shift_day += DAY
            self.push(
                ag.shift_day + ag.shift_h * HOUR + rng.randrange(15 * MIN), self._agent_login, ag
            )
            return self._agent_status(t, ag, "offline")
        if ag.status == "offline":  # back from a meeting, still on shift
            return self._agent_status(t, ag, "active")
        return self._agent_status(t, ag, NEXT_STATUS[ag.status].pick(rng.random()))

    def _agent_status(self, t: int, ag: Agent, status: str) -> Event:
        ag.status = status
        if status != "offline":
            nxt = self.after(t, DWELL_MIN[status] * MIN, 30 * SEC)
            self.push(min(nxt, ag.shift_end), self._agent_toggle, ag)
        return self.env(
            t,
            "agent.status_changed",
            ag.tenant.name,
            "wfm",
            {
                "agent_id": ag.id,
                "status": status,
                "team": ag.team,
            },
            None,
        )

    # -- sessions ------------------------------------------------------------------------

    def _session_queued(self, t: int, ten: Tenant) -> Event:
        rng = self.rng
        channel = SESSION_CHANNEL.pick(rng.random())
        if channel == "chat":
            messages = rng.randrange(3, 15)
        elif channel in ("phone", "video"):
            messages = rng.randrange(0, 4)
        else:
            messages = rng.randrange(1, 5)
        queue = self.queue_of[self.categories.pick(rng.random()).name]
        ss = Session(f"ses-{ten.name}-{next(ten.counter):06d}", ten, channel, queue, messages)
        surge = ten.surges.get(queue) if ten.surges else None
        if surge is not None:  # the queue is backed up: wait in line behind the surge
            surge.waiting.append(ss)
        else:
            mean_wait = 60 * SEC if ten.on_shift else 10 * MIN  # nobody on shift: long
            self.push(self.after(t, mean_wait, 5 * SEC), self._session_started, ss)
        return self._session_event(t, "session.queued", ss)

    def _session_event(self, t: int, event_type: str, ss: Session) -> Event:
        return self.env(
            t,
            event_type,
            ss.tenant.name,
            "contact-center",
            {
                "session_id": ss.id,
                "channel": ss.channel,
                "queue": ss.queue,
                "agent_id": ss.agent.id if ss.agent else None,
            },
            ss.id,
        )

    def _session_started(self, t: int, ss: Session) -> Event:
        ss.agent = self._pick_agent(ss.tenant, ss.queue)
        self._session_next(t, ss)
        return self._session_event(t, "session.started", ss)

    def _session_next(self, t: int, ss: Session) -> None:
        gap = 30 * SEC if ss.channel == "chat" else 2 * MIN
        if ss.left > 0:
            self.push(self.after(t, gap, 2 * SEC), self._message_sent, ss)
        else:
            self.push(self.after(t, 2 * gap, 5 * SEC), self._session_ended, ss)

    def _message_sent(self, t: int, ss: Session) -> Event:
        rng = self.rng
        ss.left -= 1
        self._session_next(t, ss)
        kinds = KIND_TEXT if ss.channel in ("chat", "email", "portal") else KIND_CALL
        return self.env(
            t,
            "message.sent",
            ss.tenant.name,
            "contact-center",
            {
                "session_id": ss.id,
                "sender": "customer" if rng.random() < 0.5 else "agent",
                "kind": kinds.pick(rng.random()),
            },
            ss.id,
        )

    def _session_ended(self, t: int, ss: Session) -> Event:
        return self._session_event(t, "session.ended", ss)
