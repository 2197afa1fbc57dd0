"""Scripted demo stories on top of the random traffic.

Random traffic alone rarely shows what a demo needs, so three scripted *stories* run on
top of it. They are on by default; ``SimConfig(stories=False)`` turns all of them off
(and then the stream is exactly the plain random traffic), and each has its own flag.
Times below are UTC; ``T0`` is ``config.start`` and ``i`` the tenant's index (0, 1, ...).
Every story is a pure function of the config and the seed, like the rest of the stream.

1. **Queue backing up** (``story_queue_surge``). A surge hits one queue of a tenant:
   for 45 min chat sessions are queued at 10x that queue's usual peak rate (at least
   80 an hour), at near-even spacing, while pickup in that queue slows to half the
   arrival rate, first come first served. Background sessions routed to that queue
   meanwhile join the same line. Depth climbs to half the surge's arrivals plus that
   background (~30-70 with the default config; always well over 15) and the oldest
   wait to 20-27 min. Then pickup runs at the surge rate: the line drains in ~20-30 min.
   When: once at ``T0 + 30 min + (i % 4) * 20 min`` (so any run shows one within its
   first two hours) on queue ``queues[i % len(queues)]``, and on every weekday at
   ``10:00 + (i % 4) * 5 min`` on queue ``queues[(epoch_day + i) % len(queues)]``,
   except on days when that would start less than 3 h after the opening surge.
2. **Client sliding into risk** (``story_client_at_risk``). Per tenant, client
   ``client-<tenant>-1`` (see :attr:`Simulator.at_risk_clients`; needs two or more
   clients per tenant) is scripted: it is left out of random traffic, silent until
   ``S = T0 + 2 h + (i % 4) * 30 min``, and then goes through a fixed arc. With the
   default risk model (``infra/risk_model.json``) its level is low from S, medium from
   S+6h, high from S+18h and critical from S+38h (each step lands up to 10 min after
   its nominal time; a ticket's own steps up to 1 min after theirs)::

       S+0h   health 80                     S+28h  health 66
       S+1h   complaint, medium             S+35h  ticket T2 (high prio) created
       S+2h   ticket T1 (normal) created    S+38h  complaint 2 escalated to critical
       S+5h   T1 resolved (in SLA)          S+39h  T2 breaches its 4 h SLA
       S+6h   CSAT 1 on T1                  S+41h  T2 resolved; S+42h CSAT 1 on T2
       S+12h  health 72                     S+44h  health 45
       S+16h  complaint 1 resolved          S+46h  T1 reopened (resolved at S+49h)
       S+18h  complaint, high (about T1)    S+48h  complaint, critical (about T2)
                                            S+52h  health 25; complaint 2 resolved

   At S+56h the client rejoins random traffic as a troubled client (baseline health
   30), and complaint 3 is resolved at S+60h.
3. **Breached urgent tickets** (``story_urgent_breach``). Every 24 h from
   ``T0 + 1 h + (i % 4) * 10 min`` each tenant gets an urgent ``outage`` ticket that is
   resolved 150-181 min after creation (an SLA breach), and 20 min later an urgent
   ``login_issue`` ticket resolved 35-46 min after creation (in time). Random traffic
   adds more of both; the story guarantees one of each per tenant per simulated day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.simulator.engine import Event, Handler
from infra.simulator.entities import Client, Complaint, Session, Surge, Tenant, Ticket
from infra.simulator.timeline import DAY, HOUR, MIN
from infra.simulator.traffic import Traffic
from infra.simulator.vocabulary import COMMENTS_BAD, SESSION_RATIO

_SURGE_MS = 45 * MIN
_SURGE_FACTOR = 10.0  # surge arrival rate / the queue's usual peak session rate
_SURGE_MIN_PER_HOUR = 80.0  # floor, so small configs back up too
_SURGE_PICKUP = 0.5  # pickups per arrival while the surge lasts
_SURGE_OPENING_MS = 30 * MIN  # first surge: T0 + this + (i % 4) * 20 min
_SURGE_HOUR = 10  # daily surges: weekdays at 10:00 + (i % 4) * 5 min
_SURGE_GAP_MS = 3 * HOUR  # no daily surge closer than this after the opening one
_ARC_START_MS = 2 * HOUR  # at-risk arc: T0 + this + (i % 4) * 30 min
_ARC_REJOIN_HEALTH = 30.0
_URGENT_START_MS = HOUR  # breached urgent ticket: T0 + this + (i % 4) * 10 min, daily


@dataclass(frozen=True, slots=True)
class _Script:
    """The fixed lifecycle of a scripted ticket: offsets in ms from its creation."""

    assign: int
    respond: int
    resolve: int
    csat_at: int | None = None  # a CSAT rating of ``csat`` then
    csat: int = 1
    reopen_at: int | None = None  # reopened then, resolved again at ``reresolve_at``
    reresolve_at: int = 0


# the urgent-breach story's pair (resolve times get up to 30 / 10 min of jitter)
_URGENT_LATE = _Script(assign=2 * MIN, respond=10 * MIN, resolve=150 * MIN)
_URGENT_IN_TIME = _Script(assign=MIN, respond=5 * MIN, resolve=35 * MIN)


class _Arc:
    """State of one client's at-risk arc: its tickets and complaints by script name."""

    __slots__ = ("client", "complaints", "tickets")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.tickets: dict[str, Ticket] = {}
        self.complaints: dict[str, Complaint] = {}


class Stories(Traffic):
    """The story handlers, on top of the random-traffic ones they reuse."""

    def _seed_stories(self, ten: Tenant) -> None:
        cfg, t0, i = self.cfg, self.now, ten.index
        if not cfg.stories:
            return
        if cfg.story_queue_surge:
            opening = t0 + _SURGE_OPENING_MS + (i % 4) * 20 * MIN
            self.push(opening, self._surge_begin, (ten, cfg.queues[i % len(cfg.queues)]))
            self.push(self._next_daily_surge(ten, opening + _SURGE_GAP_MS), self._surge_daily, ten)
        if cfg.story_urgent_breach:
            self.push(t0 + _URGENT_START_MS + (i % 4) * 10 * MIN, self._urgent_breach, ten)
        if ten.scripted:
            self._schedule_arc(ten, t0 + _ARC_START_MS + (i % 4) * 30 * MIN)

    # queue backing up

    def _next_daily_surge(self, ten: Tenant, after: int) -> int:
        """The first weekday surge slot of ``ten`` at or after ``after``."""
        day = after - after % DAY
        while True:
            at = day + _SURGE_HOUR * HOUR + (ten.index % 4) * 5 * MIN
            if at >= after and (day // DAY + 3) % 7 < 5:  # 1970-01-01 was a Thursday
                return at
            day += DAY

    def _surge_daily(self, t: int, ten: Tenant) -> None:
        self.push(self._next_daily_surge(ten, t + HOUR), self._surge_daily, ten)
        queues = self.cfg.queues
        self._surge_begin(t, (ten, queues[(t // DAY + ten.index) % len(queues)]))

    def _surge_begin(self, t: int, arg: tuple[Tenant, str]) -> None:
        ten, queue = arg
        if queue in ten.surges:  # the last one is still draining: let it
            return
        usual = self.cfg.tickets_per_hour * SESSION_RATIO * self.queue_share.get(queue, 0.0)
        per_hour = max(_SURGE_FACTOR * usual, _SURGE_MIN_PER_HOUR)
        surge = Surge(ten, queue, t + _SURGE_MS, HOUR / per_hour)
        ten.surges[queue] = surge
        self.push(t, self._surge_arrival, surge)
        self.push(t + int(surge.interval / _SURGE_PICKUP), self._surge_pickup, surge)

    def _surge_arrival(self, t: int, surge: Surge) -> Event | None:
        """One more chat in the surging queue; near-even spacing keeps the peak reliable."""
        if t >= surge.end:
            return None
        rng, ten = self.rng, surge.tenant
        self.push(t + int(surge.interval * rng.uniform(0.5, 1.5)), self._surge_arrival, surge)
        sid = f"ses-{ten.name}-{next(ten.counter):06d}"
        ss = Session(sid, ten, "chat", surge.queue, rng.randrange(3, 15))
        surge.waiting.append(ss)
        return self._session_event(t, "session.queued", ss)

    def _surge_pickup(self, t: int, surge: Surge) -> Event | None:
        """Start the longest-waiting session: at half the arrival rate while the surge
        lasts, at the full rate afterwards; the surge ends once its backlog is empty."""
        draining = t >= surge.end
        event = None
        if surge.waiting:
            event = self._session_started(t, surge.waiting.popleft())
        elif draining:
            del surge.tenant.surges[surge.queue]
            return None
        gap = surge.interval if draining else surge.interval / _SURGE_PICKUP
        self.push(t + int(gap * self.rng.uniform(0.5, 1.5)), self._surge_pickup, surge)
        return event

    # scripted tickets

    def _scripted_ticket(
        self, t: int, arg: tuple[Tenant, Client | None, str, str, _Script]
    ) -> tuple[Ticket, Event]:
        """Create a ticket whose whole lifecycle follows ``script``; ``None``: any client."""
        ten, client, category, prio, script = arg
        rng = self.rng
        if client is None:
            client = ten.pick.pick(rng.random())
        tk = self._new_ticket(ten, client, self.category[category], prio)
        details = self._details()

        def at(offset: int, handler: Handler, step: Any) -> None:
            # under a minute of jitter: scripts keep their order, stamps look organic
            self.push(t + offset + rng.randrange(MIN), handler, step)

        at(script.assign, self._scripted_assigned, tk)
        at(script.respond, self._scripted_first_response, tk)
        at(script.resolve, self._scripted_resolved, tk)
        if script.csat_at is not None:
            at(script.csat_at, self._scripted_csat, (tk, script.csat))
        if script.reopen_at is not None:
            at(script.reopen_at, self._scripted_reopened, tk)
            at(script.reresolve_at, self._scripted_resolved, tk)
        return tk, self._created_event(t, tk, details)

    def _scripted_assigned(self, t: int, tk: Ticket) -> Event:
        tk.agent = self._pick_agent(tk.tenant, tk.queue)
        return self._assigned_event(t, tk, "auto")

    def _scripted_first_response(self, t: int, tk: Ticket) -> Event:
        return self._first_response_event(t, tk)

    def _scripted_resolved(self, t: int, tk: Ticket) -> Event:
        return self._resolved_event(t, tk, self._resolution(tk.category))

    def _scripted_reopened(self, t: int, tk: Ticket) -> Event:
        tk.reopened = True
        return self._ticket_env(t, "ticket.reopened", tk, {"ticket_id": tk.id})

    def _scripted_csat(self, t: int, arg: tuple[Ticket, int]) -> Event:
        tk, rating = arg
        comment = self.rng.choice(COMMENTS_BAD) if rating <= 2 else None
        return self._csat_event(t, tk, rating, comment)

    # breached urgent tickets

    def _urgent_breach(self, t: int, ten: Tenant) -> Event:
        """Daily: an outage resolved 150-180 min after creation, and 20 min later an
        urgent login problem resolved within 35-45 min."""
        self.push(t + DAY, self._urgent_breach, ten)
        self.push(t + 20 * MIN, self._urgent_in_time, ten)
        late = _URGENT_LATE
        script = _Script(late.assign, late.respond, late.resolve + self.rng.randrange(30 * MIN))
        return self._scripted_ticket(t, (ten, None, "outage", "urgent", script))[1]

    def _urgent_in_time(self, t: int, ten: Tenant) -> Event:
        ok = _URGENT_IN_TIME
        script = _Script(ok.assign, ok.respond, ok.resolve + self.rng.randrange(10 * MIN))
        return self._scripted_ticket(t, (ten, None, "login_issue", "urgent", script))[1]

    # client sliding into risk

    def _schedule_arc(self, ten: Tenant, start: int) -> None:
        """Push every step of the at-risk arc (timeline in the module docstring)."""
        arc = _Arc(ten.clients[0])

        def at(hours: float, handler: Handler, arg: Any) -> None:
            # steps are >= 1 h apart (or unordered): 10 min of jitter never reorders them
            self.push(start + int(hours * HOUR) + self.rng.randrange(10 * MIN), handler, arg)

        t1 = _Script(
            assign=3 * MIN,
            respond=25 * MIN,
            resolve=3 * HOUR,
            csat_at=4 * HOUR,
            reopen_at=44 * HOUR,
            reresolve_at=47 * HOUR,
        )
        t2 = _Script(assign=2 * MIN, respond=30 * MIN, resolve=6 * HOUR, csat_at=7 * HOUR)
        at(0, self._arc_health, (arc, 80.0))
        at(1, self._arc_complaint, (arc, "c1", "medium", "performance", None))
        at(2, self._arc_ticket, (arc, "t1", "performance", "normal", t1))
        at(12, self._arc_health, (arc, 72.0))
        at(16, self._arc_complaint_resolved, (arc, "c1"))
        at(18, self._arc_complaint, (arc, "c2", "high", "performance", "t1"))
        at(28, self._arc_health, (arc, 66.0))
        at(35, self._arc_ticket, (arc, "t2", "integration_error", "high", t2))
        at(38, self._arc_escalated, (arc, "c2"))
        at(44, self._arc_health, (arc, 45.0))
        at(48, self._arc_complaint, (arc, "c3", "critical", "integration_error", "t2"))
        at(52, self._arc_health, (arc, 25.0))
        at(52, self._arc_complaint_resolved, (arc, "c2"))
        at(56, self._arc_rejoin, arc)
        at(60, self._arc_complaint_resolved, (arc, "c3"))

    def _arc_health(self, t: int, arg: tuple[_Arc, float]) -> Event:
        arc, score = arg
        client = arc.client
        client.health = score
        payload = {"client_id": client.id, "health_score": score}
        return self.env(t, "client.health_updated", client.tenant.name, "crm", payload)

    def _arc_ticket(self, t: int, arg: tuple[_Arc, str, str, str, _Script]) -> Event:
        arc, name, category, prio, script = arg
        client = arc.client
        tk, event = self._scripted_ticket(t, (client.tenant, client, category, prio, script))
        arc.tickets[name] = tk
        return event

    def _arc_complaint(self, t: int, arg: tuple[_Arc, str, str, str, str | None]) -> Event:
        arc, name, severity, category, ticket = arg
        client, ten = arc.client, arc.client.tenant
        cat = self.category[category]
        cp = Complaint(f"cmp-{ten.name}-{next(ten.counter):06d}", ten, client, severity, cat)
        arc.complaints[name] = cp
        return self._complaint_event(t, cp, arc.tickets[ticket].id if ticket else None)

    def _arc_escalated(self, t: int, arg: tuple[_Arc, str]) -> Event:
        arc, name = arg
        return self._escalated_event(t, arc.complaints[name])

    def _arc_complaint_resolved(self, t: int, arg: tuple[_Arc, str]) -> Event:
        arc, name = arg
        return self._complaint_resolved(t, arc.complaints[name])

    def _arc_rejoin(self, t: int, arc: _Arc) -> None:
        """The arc is over: back into random traffic, as a troubled client."""
        client, ten = arc.client, arc.client.tenant
        client.base_health = _ARC_REJOIN_HEALTH
        index = ten.clients.index(client)
        ten.scripted.discard(index)
        ten.troubled.add(index)
        ten.reweight()
        self.push(t + int(DAY * self.rng.uniform(0.8, 1.2)), self._client_health, client)
