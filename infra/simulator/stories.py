"""Scripted demo stories on top of the random traffic.

Random traffic alone rarely shows what a demo needs, so eight scripted *stories* run on
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

The five stories below feed the operational alerts: complaint escalations, demand
anomalies and the threshold rules on live state. Each runs daily per tenant at
``HH:MM + (i % 4) * 10 min`` (the staff gap: ``* 5 min``) and is switched by its own
flag. The figures are measured on the default config; the unit tests
(``tests/unit/test_simulator_alert_stories.py``) assert them on the first three days.

4. **Complaint wave** (``story_complaint_wave``), 13:00: ten complaints about one
   category (rotating daily), one every 4 min from random clients, severities
   ``critical, high, medium, high, low, critical, medium, high, low, medium``; the 3rd
   (medium -> high) and the 4th (high -> critical) are escalated 60-90 min after
   creation. Complaints without an escalation are resolved 6-10 h after creation,
   escalated ones 4-6 h after the escalation. Seven ``complaint_escalation`` alerts
   (created: three high, two critical; escalated: one high, one critical) on top of
   random traffic's own (a dozen or so a tenant-day), and ``open_complaints`` up by
   ten for hours (critical by two, then three).
5. **Demand spike** (``story_demand_spike``): a storm in one region. In the clock hour
   of ``T0 + 8 d + 6 h`` (the weekly demand model forecasts from 192 h of a segment's
   history on, and only its forecasts are judged; nine days of backfill show the first
   spike), then every 24 h: ``max(2.5 x the region's usual peak rate, 30)`` ``repair``
   service requests between HH:05 and HH:55 (45 with the default config) in region
   ``regions[(epoch_day + i) % len(regions)]``. The hour closes far above its 95 %
   interval: an ``anomaly`` alert on ``region:<r>`` and one on ``service_type:repair``.
   (At well under 20 tickets an hour the repair segment is too sparse for a weekly
   model, and only the region alerts.) The queue surges (1) are anomalies too.
6. **Low-CSAT burst** (``story_csat_burst``), 14:00: an agent's botched afternoon.
   Ten ``high`` ``performance`` tickets, one every 2 min, all assigned to one on-shift
   agent of that queue's team, each resolved 15 min after creation and rated 1 or 2
   25 min after it: ten ``coaching`` alerts for one agent, and ``low_csat_share_1h``
   at 0.3-0.7 by ~14:50 (0-0.25 at that time of day otherwise).
7. **Message flood** (``story_message_flood``), 16:00: a broadcast gone wrong. 24 chat
   sessions, one every 75 s, each with 20-30 messages at chat pace:
   ``messages_last_hour`` climbs to 650-850 by ~16:45 (its usual level is 50-450, the
   highest at the 10:00 peak).
8. **Staff gap** (``story_staff_gap``), 15:00 + ``(i % 4) * 5 min``: an all-hands
   meeting. Every on-shift agent but the two who logged in first goes ``offline`` for
   30 min (their status changes wait until it ends), then comes back ``active``:
   ``agents_available`` (active + idle) drops to two or fewer from 6-12 on weekday
   afternoons. (The night shift is that thin anyway, so a rule such as
   ``agents_available < 3`` fires at night too.)

The queue surge (1) is the story of the queue metrics (``queue_depth``,
``queue_oldest_wait_s``, ``queue_avg_wait_s``), the urgent breaches (3) that of
``sla_breaches_1h``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.simulator.engine import Event, Handler
from infra.simulator.entities import Agent, Client, Complaint, Session, Surge, Tenant, Ticket
from infra.simulator.timeline import DAY, HOUR, MIN, SEC
from infra.simulator.traffic import Traffic
from infra.simulator.vocabulary import (
    COMMENTS_BAD,
    SERVICE_RATIO,
    SESSION_RATIO,
    URGENCY,
)

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
# complaint wave: (severity, escalated) of each complaint, one every _WAVE_GAP_MS
_WAVE = (
    ("critical", False),
    ("high", False),
    ("medium", True),
    ("high", True),
    ("low", False),
    ("critical", False),
    ("medium", False),
    ("high", False),
    ("low", False),
    ("medium", False),
)
_WAVE_HOUR = 13
_WAVE_GAP_MS = 4 * MIN
_WAVE_CATEGORIES = ("outage", "double_charge", "integration_error", "wrong_item")
_SPIKE_AFTER_MS = 8 * DAY + 6 * HOUR  # the first spike hour: T0 + this, floored
_SPIKE_FACTOR = 2.5  # spike requests / the region's usual peak demand (tickets + service)
_SPIKE_MIN = 30
_SPIKE_SPAN_MS = 50 * MIN  # from HH:05 to HH:55: all in one clock hour
_SPIKE_SERVICE = "repair"
_BURST_HOUR = 14
_BURST_TICKETS = 10
_BURST_CATEGORY = "performance"
_FLOOD_HOUR = 16
_FLOOD_SESSIONS = 24
_FLOOD_GAP_MS = 75 * SEC
_GAP_HOUR = 15
_GAP_MS = 30 * MIN
_GAP_CREW = 2  # on-shift agents who keep working through the meeting


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
    agent: Agent | None = None  # assigned to this agent (None: routed as usual)


# the urgent-breach story's pair (resolve times get up to 30 / 10 min of jitter)
_URGENT_LATE = _Script(assign=2 * MIN, respond=10 * MIN, resolve=150 * MIN)
_URGENT_IN_TIME = _Script(assign=MIN, respond=5 * MIN, resolve=35 * MIN)
# the low-CSAT burst: each ticket rated 1 or 2 (its own copy of this script)
_BURST_SCRIPT = _Script(assign=MIN, respond=4 * MIN, resolve=15 * MIN, csat_at=25 * MIN)


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
        offset = (i % 4) * 10 * MIN
        if cfg.story_complaint_wave:
            self.push(_daily(t0, _WAVE_HOUR * HOUR + offset), self._complaint_wave, ten)
        if cfg.story_demand_spike:
            first = t0 + _SPIKE_AFTER_MS
            self.push(first - first % HOUR + 5 * MIN, self._demand_spike, ten)
        if cfg.story_csat_burst:
            self.push(_daily(t0, _BURST_HOUR * HOUR + offset), self._csat_burst, ten)
        if cfg.story_message_flood:
            self.push(_daily(t0, _FLOOD_HOUR * HOUR + offset), self._message_flood, ten)
        if cfg.story_staff_gap:
            gap = _GAP_HOUR * HOUR + (i % 4) * 5 * MIN
            self.push(_daily(t0, gap), self._staff_gap, ten)

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

        at(script.assign, self._scripted_assigned, (tk, script.agent))
        at(script.respond, self._scripted_first_response, tk)
        at(script.resolve, self._scripted_resolved, tk)
        if script.csat_at is not None:
            at(script.csat_at, self._scripted_csat, (tk, script.csat))
        if script.reopen_at is not None:
            at(script.reopen_at, self._scripted_reopened, tk)
            at(script.reresolve_at, self._scripted_resolved, tk)
        return tk, self._created_event(t, tk, details)

    def _scripted_assigned(self, t: int, arg: tuple[Ticket, Agent | None]) -> Event:
        tk, agent = arg
        tk.agent = agent or self._pick_agent(tk.tenant, tk.queue)
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

    # complaint wave

    def _complaint_wave(self, t: int, ten: Tenant) -> None:
        """Daily: ten complaints about one category, two of them escalated later."""
        self.push(t + DAY, self._complaint_wave, ten)
        cat = self.category[_WAVE_CATEGORIES[(t // DAY + ten.index) % len(_WAVE_CATEGORIES)]]
        for k, (severity, escalate) in enumerate(_WAVE):
            at = t + k * _WAVE_GAP_MS + self.rng.randrange(MIN)
            self.push(at, self._wave_complaint, (ten, cat.name, severity, escalate))

    def _wave_complaint(self, t: int, arg: tuple[Tenant, str, str, bool]) -> Event:
        ten, category, severity, escalate = arg
        rng = self.rng
        client = ten.complaint_pick.pick(rng.random())
        cp = Complaint(
            f"cmp-{ten.name}-{next(ten.counter):06d}",
            ten,
            client,
            severity,
            self.category[category],
        )
        client.health -= 8.0
        if escalate:
            self.push(t + rng.randrange(60 * MIN, 90 * MIN), self._wave_escalated, cp)
        else:
            self.push(t + rng.randrange(6 * HOUR, 10 * HOUR), self._complaint_resolved, cp)
        return self._complaint_event(t, cp, None)

    def _wave_escalated(self, t: int, cp: Complaint) -> Event:
        self.push(t + self.rng.randrange(4 * HOUR, 6 * HOUR), self._complaint_resolved, cp)
        return self._escalated_event(t, cp)

    # demand spike

    def _demand_spike(self, t: int, ten: Tenant) -> None:
        """Every 24 h: a burst of repair requests in one region within one clock hour."""
        self.push(t + DAY, self._demand_spike, ten)
        regions = self.cfg.regions
        region = regions[(t // DAY + ten.index) % len(regions)]
        usual = self.cfg.tickets_per_hour * (1.0 + SERVICE_RATIO) / len(regions)
        n = max(round(_SPIKE_FACTOR * usual), _SPIKE_MIN)
        local = [
            c for i, c in enumerate(ten.clients) if c.region == region and i not in ten.scripted
        ]
        pool = local or ten.clients
        for k in range(n):
            at = t + k * _SPIKE_SPAN_MS // n + self.rng.randrange(_SPIKE_SPAN_MS // n)
            self.push(at, self._spike_request, (ten, region, pool[self.rng.randrange(len(pool))]))

    def _spike_request(self, t: int, arg: tuple[Tenant, str, Client]) -> Event:
        ten, region, client = arg
        request_id = f"srv-{ten.name}-{next(ten.counter):06d}"
        payload = {
            "request_id": request_id,
            "client_id": client.id,
            "region": region,
            "service_type": _SPIKE_SERVICE,
            "urgency": URGENCY.pick(self.rng.random()),
        }
        return self.env(t, "service.requested", ten.name, "field-service", payload, request_id)

    # low-CSAT burst

    def _csat_burst(self, t: int, ten: Tenant) -> None:
        """Daily: ten quick performance tickets of one agent, each rated 1 or 2."""
        self.push(t + DAY, self._csat_burst, ten)
        agent = self._pick_agent(ten, self.queue_of[_BURST_CATEGORY])
        for k in range(_BURST_TICKETS):
            self.push(t + k * 2 * MIN, self._burst_ticket, (ten, agent))

    def _burst_ticket(self, t: int, arg: tuple[Tenant, Agent]) -> Event:
        ten, agent = arg
        b = _BURST_SCRIPT
        rating = 1 + self.rng.randrange(2)
        script = _Script(b.assign, b.respond, b.resolve, b.csat_at, rating, agent=agent)
        return self._scripted_ticket(t, (ten, None, _BURST_CATEGORY, "high", script))[1]

    # message flood

    def _message_flood(self, t: int, ten: Tenant) -> None:
        """Daily: 24 chat sessions with 20-30 messages each, one every 75 s."""
        self.push(t + DAY, self._message_flood, ten)
        for k in range(_FLOOD_SESSIONS):
            self.push(t + k * _FLOOD_GAP_MS, self._flood_session, ten)

    def _flood_session(self, t: int, ten: Tenant) -> Event:
        rng = self.rng
        queue = self.cfg.queues[rng.randrange(len(self.cfg.queues))]
        sid = f"ses-{ten.name}-{next(ten.counter):06d}"
        ss = Session(sid, ten, "chat", queue, rng.randrange(20, 31))
        surge = ten.surges.get(queue)
        if surge is not None:  # never with the default hours; keep a surge's line intact
            surge.waiting.append(ss)
        else:
            self.push(self.after(t, 30 * SEC, 5 * SEC), self._session_started, ss)
        return self._session_event(t, "session.queued", ss)

    # staff gap

    def _staff_gap(self, t: int, ten: Tenant) -> None:
        """Daily: all on-shift agents but the first two go offline for a 30 min meeting."""
        self.push(t + DAY, self._staff_gap, ten)
        for ag in ten.on_shift[_GAP_CREW:]:
            ag.away_until = t + _GAP_MS
            self.push(t, self._meeting_leave, ag)

    def _meeting_leave(self, t: int, ag: Agent) -> Event:
        return self._agent_status(t, ag, "offline")


def _daily(t0: int, at: int) -> int:
    """The first ``day + at`` (``at`` ms into a UTC day) at or after ``t0``."""
    first = t0 - t0 % DAY + at
    return first if first >= t0 else first + DAY
