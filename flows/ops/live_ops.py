"""Live operations of one tenant (queues, agents, CSAT, messages), as pure state.

No Bytewax, Kafka or I/O here: ``LiveOps`` folds events in (``on_event``) and answers
``snapshot()``; the flow keys one instance per tenant and decides when to snapshot.
Everything runs on event time (integer ms), so a replay gives identical snapshots, and
the state is a plain picklable dataclass (Bytewax recovery snapshots it as is).

Semantics
---------
* Queues: a session waits from its ``session.queued`` until its ``session.started`` or
  ``session.ended`` (whatever ``queue`` those carry: the session leaves the queue it was
  queued in). A session that started or ended is finished for good: its ``queued``
  arriving later (out of order) is ignored. Finished ids are remembered for
  ``retention_ms`` of event time (and at most ``max_finished`` of them, oldest dropped
  first); a ``queued`` older than that retention is ignored too, so forgetting a
  finished session can never resurrect it. Sessions waiting longer than
  ``retention_ms`` are taken as lost (their end event never came) and dropped.
  A second ``queued`` of a waiting session (a transfer) moves it to the queue of the
  latest one by event time; its wait still counts from the first.
* Agents: latest status by event time; a late, older status never overrides a newer one.
  Equal event times are broken by event id, so the result never depends on arrival
  order. Agents are never forgotten (their number is bounded by the roster).
* CSAT and messages: counts per rating / kind in one-minute buckets. Bucket ``c`` holds
  event times in ``((c - 1) min, c min]`` (closed on the right), and a window of length
  ``W`` ending at ``as_of`` covers ``(E - W, E]`` with ``E`` = ``as_of`` rounded *up* to a
  whole minute. For a minute-aligned ``as_of`` that is exactly ``(as_of - W, as_of]``;
  otherwise the window reaches up to one minute further back, and never drops anything
  at or before ``as_of``. Events already older than the window when they arrive are
  dropped on arrival.

* Active sessions: a session is active from its ``session.started`` until its
  ``session.ended``; an end seen first (out of order) keeps a later-arriving start from
  activating it (ends are remembered like finished sessions). A second start of an
  active session (a transfer) moves it to the queue and agent of the latest start by
  event time. Active sessions are counted per queue and per agent; one started over
  ``retention_ms`` ago without an end is taken as lost and dropped.
* Open complaints: a complaint is open from its first ``complaint.created`` or
  ``complaint.escalated`` (an escalation seen first opens it) until its
  ``complaint.resolved``; its severity is that of its latest created/escalated event by
  (event time, event id), so a late, older event never lowers or raises it. Resolution
  is final: created/escalated events of a resolved complaint, whatever their event
  time, change nothing (there is no reopen event; resolved ids are remembered for
  ``complaint_retention_ms`` of event time, and events older than that are ignored,
  so forgetting one can never reopen it). A repeated event (same or new id) is a no-op
  beyond the severity rule: complaints are counted by id.
* Per-agent board (``agents``): every agent named by an event this state sees.
  ``status``/``since``: the latest status by (event time, id); ``since`` is the event
  time of the first of the trailing status events equal to the latest one (a repeated
  status keeps the earlier ``since``; a late status event lands where its time puts it,
  so the arrival order never matters; of a run longer than 32 events its start and
  latest 31 are kept, so only a late change inside a very long run is approximated).
  ``last_event_at``: the greatest event time of a status change, a session event naming
  the agent, a ``ticket.assigned``/``first_response``/``resolved`` or a
  ``complaint.resolved`` by it, or a ``message.sent`` by the agent (sender ``agent``) in
  a session active with it when the message is applied (the one place where the arrival
  order of late events can matter). ``open_tickets``: tickets whose latest assignment
  (by event time, id) is to the agent and whose latest lifecycle event among
  assigned/resolved/reopened is not a resolution (a reopening reopens it for its latest
  assignee). Resolved tickets are remembered for ``retention_ms``; an open ticket with
  no lifecycle event for ``ticket_retention_ms`` is taken as abandoned and dropped.
* "Today": the UTC day ``[00:00, 24:00)`` of ``as_of`` (event time). ``sessions_today``
  counts the distinct sessions an agent started with an event time in it (a
  transferred session counts for each agent it was started with; a session started
  before midnight and again after it counts for both days); the day's message
  counts per clock hour ``[h, h + 1 h)`` give ``messages_peak_hour`` (ties: the earlier
  hour). When event time enters a new day both start again from zero; late events of
  an earlier day are not counted.

Snapshots are meant for ``as_of`` at or after the latest event time (the default is
that time): waits are clamped at 0 for ``as_of`` earlier than a queueing, but queue and
agent state is current state, not history, and pruned buckets are gone.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from flows.core.timeutil import from_ms, to_ms
from schemas.events import (
    AgentStatus,
    AgentStatusChanged,
    ClientErasureRequested,
    ComplaintCreated,
    ComplaintEscalated,
    ComplaintResolved,
    CsatReceived,
    Event,
    MessageSent,
    SessionLifecycle,
    Severity,
    TicketAssigned,
    TicketFirstResponse,
    TicketReopened,
    TicketResolved,
)
from schemas.ops import (
    AGENT_STATUSES,
    CSAT_RATINGS,
    CSAT_WINDOW_S,
    MESSAGE_KINDS,
    MESSAGE_WINDOW_S,
    SEVERITIES,
    AgentBoardRow,
    AgentBoardState,
    OpsSnapshot,
    PeakHour,
    QueueState,
)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BUCKET_MS = MINUTE_MS
PRUNE_EVERY_MS = MINUTE_MS  # on_event prunes at most once per minute of event time
RUN_CAP = 32  # status events kept per agent's current run (its start and the latest)
CSAT_WINDOW_MS = CSAT_WINDOW_S * 1000
MESSAGE_WINDOW_MS = MESSAGE_WINDOW_S * 1000
_CSAT_BUCKETS = CSAT_WINDOW_MS // BUCKET_MS
_MESSAGE_BUCKETS = MESSAGE_WINDOW_MS // BUCKET_MS

SESSION_EVENT_TYPES = frozenset({"session.queued", "session.started", "session.ended"})
COMPLAINT_EVENT_TYPES = frozenset(
    {"complaint.created", "complaint.escalated", "complaint.resolved"}
)
TICKET_EVENT_TYPES = frozenset(
    {"ticket.assigned", "ticket.first_response", "ticket.resolved", "ticket.reopened"}
)
LIVE_OPS_EVENT_TYPES = (
    SESSION_EVENT_TYPES
    | COMPLAINT_EVENT_TYPES
    | TICKET_EVENT_TYPES
    | {"message.sent", "agent.status_changed", "csat.received"}
)

_KIND_INDEX = {kind: i for i, kind in enumerate(MESSAGE_KINDS)}
_KINDS = len(MESSAGE_KINDS)
_RATINGS = len(CSAT_RATINGS)


def bucket_of(ts_ms: int) -> int:
    """The one-minute bucket holding ``ts_ms``: bucket ``c`` covers ``((c-1) min, c min]``."""
    return -(-ts_ms // BUCKET_MS)


def day_of(ts_ms: int) -> int:
    """Start of the UTC day ``[00:00, 24:00)`` holding ``ts_ms``."""
    return ts_ms - ts_ms % DAY_MS


@dataclass
class Tombstones:
    """Keys remembered with a time, forgotten once that time is at or before a cutoff,
    or (oldest first) when more than ``cap`` are held. The heap orders expiry; entries
    for a key whose time has moved on are skipped."""

    cap: int
    times: dict[str, int] = field(default_factory=dict)
    heap: list[tuple[int, str]] = field(default_factory=list)

    def __contains__(self, key: str) -> bool:
        return key in self.times

    def __len__(self) -> int:
        return len(self.times)

    def add(self, key: str, ts: int) -> None:
        """Remember ``key`` at ``ts`` (the latest time wins)."""
        previous = self.times.get(key)
        if previous is not None and ts <= previous:
            return
        self.times[key] = ts
        heapq.heappush(self.heap, (ts, key))
        if previous is None and len(self.times) > self.cap:
            self.expire(None)

    def expire(self, cutoff: int | None) -> None:
        """Forget keys at or before ``cutoff``; None: the oldest, down to the cap."""
        heap, times = self.heap, self.times
        while heap:
            if cutoff is None:
                if len(times) <= self.cap:
                    break
            elif heap[0][0] > cutoff:
                break
            ts, key = heapq.heappop(heap)
            if times.get(key) == ts:
                del times[key]

    def discard(self, keys: set[str]) -> None:
        """Forget ``keys`` now, leaving no trace of them in the heap either."""
        if keys & self.times.keys():
            for key in keys:
                self.times.pop(key, None)
            self.heap = [(ts, key) for key, ts in self.times.items()]
            heapq.heapify(self.heap)


@dataclass(slots=True)
class _Ticket:
    """What the board needs of one ticket: its latest assignee and lifecycle event."""

    assignee: str | None = None
    assigned: tuple[int, str] = (-(2**62), "")  # (time, event id) of the latest assignment
    last: tuple[int, str] = (-(2**62), "")  # ... of the latest assigned/resolved/reopened
    resolved: bool = False  # whether ``last`` is a resolution

    @property
    def holder(self) -> str | None:
        """The agent it is open for, if it is open."""
        return None if self.resolved else self.assignee


def _new_tombstones() -> Tombstones:
    return Tombstones(200_000)


@dataclass
class LiveOps:
    """One tenant's live-operations state; see the module docstring for the semantics."""

    tenant_id: str
    retention_ms: int = DAY_MS
    max_finished: int = 200_000
    complaint_retention_ms: int = 30 * DAY_MS
    ticket_retention_ms: int = 30 * DAY_MS
    as_of_ms: int | None = None  # max event time seen
    # session -> (queued_at_ms = earliest queued, (time, queue) of the latest queued)
    waiting: dict[str, tuple[int, tuple[int, str]]] = field(default_factory=dict)
    # queue -> latest event time of any session event naming it
    queue_seen: dict[str, int] = field(default_factory=dict)
    # session -> latest started/ended time; the heap orders expiry (stale entries skipped)
    finished: dict[str, int] = field(default_factory=dict)
    finished_heap: list[tuple[int, str]] = field(default_factory=list)
    # agent -> (event time, event id, status) of its latest status
    agents: dict[str, tuple[int, str, AgentStatus]] = field(default_factory=dict)
    agent_counts: dict[AgentStatus, int] = field(
        default_factory=lambda: dict.fromkeys(AGENT_STATUSES, 0)
    )
    # bucket -> counts per rating 1..5 / per kind in MESSAGE_KINDS order
    csat_buckets: dict[int, list[int]] = field(default_factory=dict)
    message_buckets: dict[int, list[int]] = field(default_factory=dict)
    pruned_to_ms: int | None = None  # latest as_of passed to prune()
    last_prune_ms: int | None = None  # event time of the last prune run by on_event
    # ---- active sessions: session -> (started at, queue, agent) of its latest start
    active: dict[str, tuple[int, str, str | None]] = field(default_factory=dict)
    active_by_queue: dict[str, int] = field(default_factory=dict)
    active_by_agent: dict[str, int] = field(default_factory=dict)
    ended: Tombstones = field(default_factory=_new_tombstones)  # sessions seen ending
    starts: Tombstones = field(default_factory=_new_tombstones)  # "session/agent" today
    # ---- complaints: open complaint -> (time, event id, severity) of its latest event
    complaints: dict[str, tuple[int, str, Severity]] = field(default_factory=dict)
    complaint_counts: dict[Severity, int] = field(
        default_factory=lambda: dict.fromkeys(SEVERITIES, 0)
    )
    resolved_complaints: Tombstones = field(default_factory=_new_tombstones)
    # complaint (open or resolved, as above) -> its client, so an erasure can forget it
    complaint_clients: dict[str, str] = field(default_factory=dict)
    # ---- the board
    agent_since: dict[str, int] = field(default_factory=dict)  # start of current status
    # agent -> its current status run: (time, event id, status), see _status_run
    status_runs: dict[str, list[tuple[int, str, AgentStatus]]] = field(default_factory=dict)
    agent_last: dict[str, int] = field(default_factory=dict)  # latest event naming it
    tickets: dict[str, _Ticket] = field(default_factory=dict)
    ticket_expiry: list[tuple[int, str]] = field(default_factory=list)  # (expires, ticket)
    open_by_agent: dict[str, int] = field(default_factory=dict)
    today_ms: int | None = None  # the UTC day sessions_today and message_hours count
    sessions_today: dict[str, int] = field(default_factory=dict)
    message_hours: dict[int, int] = field(default_factory=dict)  # hour start -> messages
    board_dirty: set[str] = field(default_factory=set)  # changed since board_changes()

    # ---- input ------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Fold one event in; other event types are ignored. O(1) amortised."""
        event_type = event.event_type
        if isinstance(event.payload, ClientErasureRequested):
            self.forget_client(event.payload.client_id)
            return
        if event_type not in LIVE_OPS_EVENT_TYPES:
            return
        if event.tenant_id != self.tenant_id:
            raise ValueError(
                f"event of tenant {event.tenant_id!r} fed to the state of {self.tenant_id!r}"
            )
        ts = to_ms(event.occurred_at)
        if self.as_of_ms is None or ts > self.as_of_ms:
            self.as_of_ms = ts
        self._roll_day(day_of(self.as_of_ms))
        payload = event.payload
        event_id = str(event.event_id)
        if isinstance(payload, SessionLifecycle):
            self._on_session(event_type, payload, ts)
        elif isinstance(payload, MessageSent):
            self._on_message(payload, ts)
        elif isinstance(payload, AgentStatusChanged):
            self._on_status(payload, ts, event_id)
        elif isinstance(payload, CsatReceived):
            self._count(self.csat_buckets, ts, _CSAT_BUCKETS, payload.rating - 1, _RATINGS)
        elif isinstance(payload, ComplaintCreated | ComplaintEscalated | ComplaintResolved):
            self._on_complaint(payload, ts, event_id)
        elif isinstance(payload, TicketAssigned | TicketResolved | TicketReopened):
            self._on_ticket(payload, ts, event_id)
        elif isinstance(payload, TicketFirstResponse):
            self._touch(payload.agent_id, ts)
        now = self.as_of_ms
        if self.last_prune_ms is None or now - self.last_prune_ms >= PRUNE_EVERY_MS:
            self.last_prune_ms = now
            self.prune(now)

    def _horizon(self) -> int:
        """The earliest ``as_of`` any future snapshot is meant for."""
        assert self.as_of_ms is not None
        if self.pruned_to_ms is None:
            return self.as_of_ms
        return max(self.as_of_ms, self.pruned_to_ms)

    def _on_session(self, event_type: str, payload: SessionLifecycle, ts: int) -> None:
        sid, queue = payload.session_id, payload.queue
        if payload.agent_id is not None:
            self._touch(payload.agent_id, ts)
        seen = self.queue_seen.get(queue)
        if seen is None or ts > seen:
            self.queue_seen[queue] = ts
        expired = ts <= self._horizon() - self.retention_ms
        if event_type == "session.queued":
            if expired or sid in self.finished:
                return
            current = self.waiting.get(sid)
            if current is None:
                self.waiting[sid] = (ts, (ts, queue))
            else:
                queued_at, latest = current
                self.waiting[sid] = (min(queued_at, ts), max(latest, (ts, queue)))
            return
        # session.started / session.ended
        self.waiting.pop(sid, None)
        if expired:
            return  # any queued of it is at least as old, hence ignored as expired too
        if event_type == "session.started":
            self._on_started(sid, queue, payload.agent_id, ts)
        else:
            self._on_ended(sid, ts)
        previous = self.finished.get(sid)
        if previous is None or ts > previous:
            self.finished[sid] = ts
            heapq.heappush(self.finished_heap, (ts, sid))
            if previous is None and len(self.finished) > self.max_finished:
                self._expire_finished(None)

    def _expire_finished(self, cutoff: int | None) -> None:
        """Forget finished sessions at or before ``cutoff``; None: the oldest, down to cap."""
        heap, finished = self.finished_heap, self.finished
        while heap:
            if cutoff is None:
                if len(finished) <= self.max_finished:
                    break
            elif heap[0][0] > cutoff:
                break
            ts, sid = heapq.heappop(heap)
            if finished.get(sid) == ts:
                del finished[sid]

    def _on_status(self, payload: AgentStatusChanged, ts: int, event_id: str) -> None:
        agent, status = payload.agent_id, payload.status
        self._touch(agent, ts)
        self._status_run(agent, (ts, event_id, status))
        current = self.agents.get(agent)
        if current is not None:
            if (ts, event_id) <= current[:2]:
                return  # older (late) than what we have
            self.agent_counts[current[2]] -= 1
        self.agents[agent] = (ts, event_id, status)
        self.agent_counts[status] += 1
        self.board_dirty.add(agent)

    def _status_run(self, agent: str, entry: tuple[int, str, AgentStatus]) -> None:
        """Fold one status event into the agent's current run (its trailing statuses
        equal to the latest, by (time, id), plus the differing one before them), so
        ``since`` is the run's first time whatever order the events arrive in."""
        log = self.status_runs.setdefault(agent, [])
        i = bisect.bisect_left(log, entry)
        if i < len(log) and log[i][:2] == entry[:2]:
            return  # the same event again
        if i == 0 and log and log[0][2] != log[-1][2]:
            return  # before the change that started the run: cannot matter
        log.insert(i, entry)
        latest = log[-1][2]
        first = len(log) - 1
        while first > 0 and log[first - 1][2] == latest:
            first -= 1
        head = max(0, first - 1)  # keep the differing entry before the run, if any
        if len(log) - first > RUN_CAP:  # keep the run's start and its latest entries
            del log[first + 1 : len(log) - RUN_CAP + 1]
        del log[:head]
        self.agent_since[agent] = log[first - head][0]

    def _touch(self, agent: str, ts: int) -> None:
        """An event at ``ts`` names ``agent``: it is on the board, active at ``ts``."""
        last = self.agent_last.get(agent)
        if last is None or ts > last:
            self.agent_last[agent] = ts
            self.board_dirty.add(agent)

    # ---- sessions, messages, today ----------------------------------------------------

    def _roll_day(self, day_ms: int) -> None:
        """Event time reached the UTC day ``day_ms``: today's counts start from zero."""
        if self.today_ms is not None and day_ms <= self.today_ms:
            return
        self.today_ms = day_ms
        self.board_dirty.update(self.sessions_today)
        self.sessions_today = {}
        self.message_hours = {}
        self.starts = _new_tombstones()

    def _is_today(self, ts: int) -> bool:
        return self.today_ms is not None and day_of(ts) == self.today_ms

    def _on_started(self, sid: str, queue: str, agent: str | None, ts: int) -> None:
        if agent is not None and self._is_today(ts):
            counted = f"{sid}\x1f{agent}"  # today's only: starts are cleared each day
            if counted not in self.starts:
                self.starts.add(counted, ts)
                self.sessions_today[agent] = self.sessions_today.get(agent, 0) + 1
                self.board_dirty.add(agent)
        if sid in self.ended:
            return  # ended already (out of order): never active
        current = self.active.get(sid)
        if current is not None:
            # the latest start wins; two at the same instant: the greater agent id, so
            # that the arrival order never decides
            if (ts, agent or "") <= (current[0], current[2] or ""):
                return
            self._deactivate(sid)
        self.active[sid] = (ts, queue, agent)
        self.active_by_queue[queue] = self.active_by_queue.get(queue, 0) + 1
        if agent is not None:
            self.active_by_agent[agent] = self.active_by_agent.get(agent, 0) + 1
            self.board_dirty.add(agent)

    def _on_ended(self, sid: str, ts: int) -> None:
        self.ended.add(sid, ts)
        if sid in self.active:
            self._deactivate(sid)

    def _deactivate(self, sid: str) -> None:
        _, queue, agent = self.active.pop(sid)
        _decrement(self.active_by_queue, queue)
        if agent is not None:
            _decrement(self.active_by_agent, agent)
            self.board_dirty.add(agent)

    def _on_message(self, payload: MessageSent, ts: int) -> None:
        self._count(self.message_buckets, ts, _MESSAGE_BUCKETS, _KIND_INDEX[payload.kind], _KINDS)
        if self._is_today(ts):
            hour = ts - ts % HOUR_MS
            self.message_hours[hour] = self.message_hours.get(hour, 0) + 1
        if payload.sender == "agent":
            session = self.active.get(payload.session_id)
            if session is not None and session[2] is not None:
                self._touch(session[2], ts)

    # ---- complaints and tickets -------------------------------------------------------

    def _on_complaint(
        self,
        payload: ComplaintCreated | ComplaintEscalated | ComplaintResolved,
        ts: int,
        event_id: str,
    ) -> None:
        cid = payload.complaint_id
        if isinstance(payload, ComplaintResolved):
            self._touch(payload.agent_id, ts)
        if ts <= self._horizon() - self.complaint_retention_ms:
            return  # older than any resolution still remembered: cannot judge it
        self.complaint_clients[cid] = payload.client_id
        current = self.complaints.get(cid)
        if isinstance(payload, ComplaintResolved):
            self.resolved_complaints.add(cid, ts)
            if current is not None:
                del self.complaints[cid]
                self.complaint_counts[current[2]] -= 1
            return
        if cid in self.resolved_complaints:
            return  # resolution is final
        if current is not None:
            if (ts, event_id) <= current[:2]:
                return  # an older event never changes the severity
            self.complaint_counts[current[2]] -= 1
        self.complaints[cid] = (ts, event_id, payload.severity)
        self.complaint_counts[payload.severity] += 1

    def forget_client(self, client_id: str) -> int:
        """Forget the client's complaints, open (no longer counted) or resolved (a data
        subject's erasure); returns how many. Tickets here name no client (live ops
        sees no ``ticket.created``): only ingest's suppression concerns them."""
        gone = {cid for cid, who in self.complaint_clients.items() if who == client_id}
        for cid in gone:
            del self.complaint_clients[cid]
            current = self.complaints.pop(cid, None)
            if current is not None:
                self.complaint_counts[current[2]] -= 1
        self.resolved_complaints.discard(gone)
        return len(gone)

    def _on_ticket(
        self, payload: TicketAssigned | TicketResolved | TicketReopened, ts: int, event_id: str
    ) -> None:
        if isinstance(payload, TicketAssigned | TicketResolved):
            self._touch(payload.agent_id, ts)
        if ts <= self._horizon() - self.retention_ms:
            return  # older than any resolution still remembered: cannot judge it
        tid = payload.ticket_id
        ticket = self.tickets.get(tid)
        if ticket is None:
            ticket = self.tickets[tid] = _Ticket()
        before = ticket.holder
        key = (ts, event_id)
        if isinstance(payload, TicketAssigned) and key > ticket.assigned:
            ticket.assigned, ticket.assignee = key, payload.agent_id
        if key > ticket.last:
            ticket.last, ticket.resolved = key, isinstance(payload, TicketResolved)
            heapq.heappush(self.ticket_expiry, (ts + self.retention_ms, tid))
        self._ticket_moved(before, ticket.holder)

    def _ticket_moved(self, before: str | None, after: str | None) -> None:
        if before == after:
            return
        if before is not None:
            _decrement(self.open_by_agent, before)
            self.board_dirty.add(before)
        if after is not None:
            self.open_by_agent[after] = self.open_by_agent.get(after, 0) + 1
            self.board_dirty.add(after)

    def _expire_tickets(self, as_of_ms: int) -> None:
        """Forget resolved tickets ``retention_ms`` and open ones ``ticket_retention_ms``
        after their latest lifecycle event. Each event queues a check ``retention_ms``
        after it; a ticket still open then queues its final one, so the heap holds at
        most a day of checks plus one per ticket open for longer."""
        heap = self.ticket_expiry
        while heap and heap[0][0] <= as_of_ms:
            due, tid = heapq.heappop(heap)
            ticket = self.tickets.get(tid)
            if ticket is None:
                continue
            last = ticket.last[0]
            if due == last + self.retention_ms and not ticket.resolved:
                heapq.heappush(heap, (last + self.ticket_retention_ms, tid))
            elif due == last + self.retention_ms or due == last + self.ticket_retention_ms:
                del self.tickets[tid]
                self._ticket_moved(ticket.holder, None)
            # else: a later event queued a check of its own

    def _count(
        self, buckets: dict[int, list[int]], ts: int, span: int, slot: int, width: int
    ) -> None:
        bucket = bucket_of(ts)
        if bucket <= bucket_of(self._horizon()) - span:
            return  # outside the window of any snapshot still to come
        counts = buckets.get(bucket)
        if counts is None:
            counts = buckets[bucket] = [0] * width
        counts[slot] += 1

    # ---- housekeeping -----------------------------------------------------------------

    def prune(self, as_of_ms: int) -> None:
        """Drop what no snapshot at ``as_of_ms`` or later can need: CSAT buckets beyond
        24 h, message buckets beyond 1 h, sessions (finished, waiting, active) beyond
        ``retention_ms``, resolved complaints and tickets beyond their retention.
        Cost: O(dropped + waiting and active sessions + queues)."""
        if self.pruned_to_ms is None or as_of_ms > self.pruned_to_ms:
            self.pruned_to_ms = as_of_ms
        last = bucket_of(as_of_ms)
        for buckets, span in (
            (self.csat_buckets, _CSAT_BUCKETS),
            (self.message_buckets, _MESSAGE_BUCKETS),
        ):
            cut = last - span
            for bucket in [b for b in buckets if b <= cut]:
                del buckets[bucket]
        cutoff = as_of_ms - self.retention_ms
        self._expire_finished(cutoff)
        for sid in [s for s, (queued_at, _) in self.waiting.items() if queued_at <= cutoff]:
            del self.waiting[sid]
        for sid in [s for s, (started, _, _) in self.active.items() if started <= cutoff]:
            self._deactivate(sid)  # lost: its end never came
        self.ended.expire(cutoff)
        self.starts.expire(cutoff)
        self.resolved_complaints.expire(as_of_ms - self.complaint_retention_ms)
        held = len(self.complaints) + len(self.resolved_complaints)
        if len(self.complaint_clients) > 2 * held + 1024:  # forgotten complaints' clients
            self.complaint_clients = {
                cid: who
                for cid, who in self.complaint_clients.items()
                if cid in self.complaints or cid in self.resolved_complaints
            }
        self._expire_tickets(as_of_ms)
        busy = {queue for _, (_, queue) in self.waiting.values()}
        busy.update(self.active_by_queue)
        for queue in [q for q, ts in self.queue_seen.items() if ts <= cutoff and q not in busy]:
            del self.queue_seen[queue]

    def state_sizes(self) -> dict[str, int]:
        """Entry counts of every growing structure (for memory checks and metrics)."""
        return {
            "waiting": len(self.waiting),
            "queues": len(self.queue_seen),
            "finished": len(self.finished),
            "finished_heap": len(self.finished_heap),
            "agents": len(self.agents),
            "csat_buckets": len(self.csat_buckets),
            "message_buckets": len(self.message_buckets),
            "active": len(self.active),
            "ended": len(self.ended),
            "starts": len(self.starts),
            "complaints": len(self.complaints),
            "resolved_complaints": len(self.resolved_complaints),
            "tickets": len(self.tickets),
            "ticket_expiry": len(self.ticket_expiry),
        }

    # ---- output -----------------------------------------------------------------------

    def snapshot(self, as_of_ms: int | None = None, *, board: bool = True) -> OpsSnapshot:
        """The tenant's live operations at ``as_of_ms`` (default: latest event time seen).

        ``board=False`` leaves ``agents`` empty (the flow stores the board as changes,
        see :meth:`board_changes`). Cost: O(waiting sessions + queues + buckets), plus
        O(agents) for the board; independent of the event rate.
        """
        if as_of_ms is None:
            as_of_ms = self.as_of_ms
        if as_of_ms is None:
            raise ValueError("no event seen yet: pass as_of_ms")
        cutoff = as_of_ms - self.retention_ms
        waits: dict[str, list[int]] = {q: [] for q, ts in self.queue_seen.items() if ts > cutoff}
        for queued_at, (_, queue) in self.waiting.values():
            if queued_at > cutoff:
                waits.setdefault(queue, []).append(max(0, as_of_ms - queued_at))
        for queue in self.active_by_queue:
            waits.setdefault(queue, [])
        queues = [
            QueueState(
                queue=queue,
                depth=len(w),
                oldest_wait_s=max(w) / 1000 if w else 0.0,
                avg_wait_s=sum(w) / (len(w) * 1000) if w else 0.0,
                active_sessions=self.active_by_queue.get(queue, 0),
            )
            for queue, w in sorted(waits.items())
        ]
        csat = _window_sum(self.csat_buckets, as_of_ms, _CSAT_BUCKETS, _RATINGS)
        messages = _window_sum(self.message_buckets, as_of_ms, _MESSAGE_BUCKETS, _KINDS)
        return OpsSnapshot(
            tenant_id=self.tenant_id,
            as_of=from_ms(as_of_ms),
            queues=queues,
            agents_by_status={s: self.agent_counts[s] for s in AGENT_STATUSES},
            csat_distribution={r: csat[i] for i, r in enumerate(CSAT_RATINGS)},
            messages_last_hour={k: messages[i] for i, k in enumerate(MESSAGE_KINDS)},
            open_complaints=dict(self.complaint_counts),
            messages_peak_hour=self.peak_hour(as_of_ms),
            agents=self.board(as_of_ms, sorted(self.agent_last)) if board else [],
        )

    def peak_hour(self, as_of_ms: int) -> PeakHour | None:
        """The busiest hour of the UTC day of ``as_of_ms`` (ties: the earlier), if any
        message was sent that day."""
        if self.today_ms != day_of(as_of_ms) or not self.message_hours:
            return None
        hour, count = min(self.message_hours.items(), key=_busiest_first)
        return PeakHour(hour=from_ms(hour), count=count)

    def board(self, as_of_ms: int, agents: Iterable[str]) -> list[AgentBoardState]:
        """The board rows of ``agents`` (each named by some event) at ``as_of_ms``."""
        today = self.today_ms == day_of(as_of_ms)
        rows = []
        for agent in agents:
            status = self.agents.get(agent)
            since = self.agent_since.get(agent)
            rows.append(
                AgentBoardState(
                    agent_id=agent,
                    status=None if status is None else status[2],
                    since=None if since is None else from_ms(since),
                    last_event_at=from_ms(self.agent_last[agent]),
                    active_sessions=self.active_by_agent.get(agent, 0),
                    sessions_today=self.sessions_today.get(agent, 0) if today else 0,
                    open_tickets=self.open_by_agent.get(agent, 0),
                )
            )
        return rows

    def board_changes(self, as_of_ms: int) -> list[AgentBoardRow]:
        """Board rows (at ``as_of_ms``) of the agents whose board state changed since the
        previous call, by agent id; the first call gives every agent. Entering a new UTC
        day counts as a change for every agent with sessions the day before.
        Cost: O(changed agents)."""
        self._roll_day(day_of(as_of_ms))
        changed, self.board_dirty = sorted(self.board_dirty), set()
        as_of = from_ms(as_of_ms)
        return [
            AgentBoardRow(self.tenant_id, as_of, state) for state in self.board(as_of_ms, changed)
        ]


def _decrement(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def _busiest_first(item: tuple[int, int]) -> tuple[int, int]:
    hour, count = item
    return -count, hour


def _window_sum(buckets: dict[int, list[int]], as_of_ms: int, span: int, width: int) -> list[int]:
    """Counts summed over the buckets of the window ``span`` minutes long ending at
    ``as_of_ms`` rounded up to a minute."""
    last = bucket_of(as_of_ms)
    first = last - span  # exclusive
    total = [0] * width
    for bucket, counts in buckets.items():
        if first < bucket <= last:
            for i, n in enumerate(counts):
                total[i] += n
    return total
