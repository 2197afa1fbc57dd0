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

Snapshots are meant for ``as_of`` at or after the latest event time (the default is
that time): waits are clamped at 0 for ``as_of`` earlier than a queueing, but queue and
agent state is current state, not history, and pruned buckets are gone.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from flows.core.timeutil import from_ms, to_ms
from schemas.events import (
    AgentStatus,
    AgentStatusChanged,
    CsatReceived,
    Event,
    MessageSent,
    SessionLifecycle,
)
from schemas.ops import (
    AGENT_STATUSES,
    CSAT_RATINGS,
    CSAT_WINDOW_S,
    MESSAGE_KINDS,
    MESSAGE_WINDOW_S,
    OpsSnapshot,
    QueueState,
)

MINUTE_MS = 60_000
DAY_MS = 86_400_000
BUCKET_MS = MINUTE_MS
PRUNE_EVERY_MS = MINUTE_MS  # on_event prunes at most once per minute of event time
CSAT_WINDOW_MS = CSAT_WINDOW_S * 1000
MESSAGE_WINDOW_MS = MESSAGE_WINDOW_S * 1000
_CSAT_BUCKETS = CSAT_WINDOW_MS // BUCKET_MS
_MESSAGE_BUCKETS = MESSAGE_WINDOW_MS // BUCKET_MS

SESSION_EVENT_TYPES = frozenset({"session.queued", "session.started", "session.ended"})
LIVE_OPS_EVENT_TYPES = SESSION_EVENT_TYPES | {
    "message.sent",
    "agent.status_changed",
    "csat.received",
}

_KIND_INDEX = {kind: i for i, kind in enumerate(MESSAGE_KINDS)}
_KINDS = len(MESSAGE_KINDS)
_RATINGS = len(CSAT_RATINGS)


def bucket_of(ts_ms: int) -> int:
    """The one-minute bucket holding ``ts_ms``: bucket ``c`` covers ``((c-1) min, c min]``."""
    return -(-ts_ms // BUCKET_MS)


@dataclass
class LiveOps:
    """One tenant's live-operations state; see the module docstring for the semantics."""

    tenant_id: str
    retention_ms: int = DAY_MS
    max_finished: int = 200_000
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

    # ---- input ------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Fold one event in; other event types are ignored. O(1) amortised."""
        event_type = event.event_type
        if event_type not in LIVE_OPS_EVENT_TYPES:
            return
        if event.tenant_id != self.tenant_id:
            raise ValueError(
                f"event of tenant {event.tenant_id!r} fed to the state of {self.tenant_id!r}"
            )
        ts = to_ms(event.occurred_at)
        if self.as_of_ms is None or ts > self.as_of_ms:
            self.as_of_ms = ts
        payload = event.payload
        if isinstance(payload, SessionLifecycle):
            self._on_session(event_type, payload, ts)
        elif isinstance(payload, MessageSent):
            self._count(
                self.message_buckets, ts, _MESSAGE_BUCKETS, _KIND_INDEX[payload.kind], _KINDS
            )
        elif isinstance(payload, AgentStatusChanged):
            self._on_status(payload, ts, str(event.event_id))
        elif isinstance(payload, CsatReceived):
            self._count(self.csat_buckets, ts, _CSAT_BUCKETS, payload.rating - 1, _RATINGS)
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
        current = self.agents.get(agent)
        if current is not None:
            if (ts, event_id) <= current[:2]:
                return  # older (late) than what we have
            self.agent_counts[current[2]] -= 1
        self.agents[agent] = (ts, event_id, status)
        self.agent_counts[status] += 1

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
        24 h, message buckets beyond 1 h, and sessions (finished or waiting) beyond
        ``retention_ms``. Cost: O(dropped + waiting sessions + queues)."""
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
        busy = {queue for _, (_, queue) in self.waiting.values()}
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
        }

    # ---- output -----------------------------------------------------------------------

    def snapshot(self, as_of_ms: int | None = None) -> OpsSnapshot:
        """The tenant's live operations at ``as_of_ms`` (default: latest event time seen).

        Cost: O(waiting sessions + queues + buckets), independent of the event rate.
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
        queues = [
            QueueState(
                queue=queue,
                depth=len(w),
                oldest_wait_s=max(w) / 1000 if w else 0.0,
                avg_wait_s=sum(w) / (len(w) * 1000) if w else 0.0,
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
        )


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
