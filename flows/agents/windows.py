"""Per-agent tumbling windows (5 min, 1 h, 1 d) over agent facts, for one shard.

Why not Bytewax's window operators: they keep one window state machine per key and
slow down sharply with many live keys. Here one aggregator owns a whole shard of
agents with plain dicts and a heap of window ends, so cost per fact is O(1) and
closing is O(windows closed), whatever the number of agents.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from flows.agents.facts import LOW_CSAT_MAX, AgentFact, FactKind
from flows.core.timeutil import from_ms, to_ms, window_start
from flows.core.watermark import NO_TIME
from schemas.ids import stable_id
from schemas.results import WINDOW_SECONDS, AgentWindow, LateEvent, WindowName

WINDOWS_MS: dict[WindowName, int] = {
    "5m": WINDOW_SECONDS["5m"] * 1000,
    "1h": WINDOW_SECONDS["1h"] * 1000,
    "1d": WINDOW_SECONDS["1d"] * 1000,
}

# accumulator slots: events, assigned, resolved, ht_sum, ht_n, fr_sum, fr_n, cs_sum, cs_n,
# low_n, and the window's row id (computed once, reused by every live and final row).
# A list (not an object) keeps the hot path and snapshots cheap.
_EVENTS, _ASSIGNED, _RESOLVED, _HT_SUM, _HT_N, _FR_SUM, _FR_N, _CS_SUM, _CS_N, _LOW = range(10)
_ID = 10
WindowKey = tuple[str, str, WindowName, int]  # tenant, agent, window, start_ms


def _new_acc(key: WindowKey) -> list[Any]:
    return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, _row_id(*key)]


@dataclass
class AgentWindowAggregator:
    """Folds facts into windows; emits provisional, final and late records.

    Lateness is decided upstream (the input clock stamps each event's verdict, carried by
    its facts); windows of a tenant close when that tenant's watermark passes their end.
    Every fact without a verdict is stamped at or after its causing event's floor (see
    :mod:`flows.agents.facts`), so in a bounded replay its window is still open; one for
    a window already closed (live mode: a partition idled past) is late too.
    """

    flow: str = "agent_performance"
    windows: dict[WindowKey, list[Any]] = field(default_factory=dict)
    _ends: dict[str, list[tuple[int, WindowKey]]] = field(default_factory=dict)
    _closed: dict[str, int] = field(default_factory=dict)  # applied watermark per tenant
    _dirty: set[WindowKey] = field(default_factory=set)

    def add(self, fact: AgentFact, now_ms: int) -> LateEvent | None:
        """Fold one fact in, or return its late record."""
        bound = fact.late_bound_ms
        if bound is None:
            closed = self._closed.get(fact.tenant_id, NO_TIME)
            if fact.at_ms < closed:
                bound = closed
        if bound is not None:
            return self._late(fact, bound, now_ms)
        self._fold(fact)
        return None

    def add_batch(self, facts: list[AgentFact], now_ms: int) -> list[LateEvent]:
        """:meth:`add` for a batch; the late records."""
        out: list[LateEvent] = []
        for fact in facts:
            late = self.add(fact, now_ms)
            if late is not None:
                out.append(late)
        return out

    def _fold(self, fact: AgentFact) -> None:
        ends = self._ends.get(fact.tenant_id)
        if ends is None:
            ends = self._ends[fact.tenant_id] = []
        for name, size in WINDOWS_MS.items():
            start = window_start(fact.at_ms, size)
            key = (fact.tenant_id, fact.agent_id, name, start)
            acc = self.windows.get(key)
            if acc is None:
                acc = self.windows[key] = _new_acc(key)
                heapq.heappush(ends, (start + size, key))
            _fold_into(acc, fact)
            self._dirty.add(key)

    def close_due(self, tenant: str, watermark_ms: int) -> list[AgentWindow]:
        """Final rows of the tenant's windows whose end the watermark has passed."""
        if watermark_ms > self._closed.get(tenant, NO_TIME):
            self._closed[tenant] = watermark_ms
        out: list[AgentWindow] = []
        ends = self._ends.get(tenant)
        while ends and ends[0][0] <= watermark_ms:
            _, key = heapq.heappop(ends)
            acc = self.windows.pop(key)
            self._dirty.discard(key)
            out.append(_row(key, acc, final=True))
        return out

    def provisional(self) -> list[AgentWindow]:
        """Rows of open windows changed since the last call (live numbers)."""
        out = [_row(k, self.windows[k], final=False) for k in self._dirty]
        self._dirty.clear()
        return out

    def flush_all(self) -> list[AgentWindow]:
        """End of input: every open window as final. State is kept, so more input in a
        later run folds in and re-emits the window with a higher version."""
        self._dirty.clear()
        return [_row(k, acc, final=True) for k, acc in self.windows.items()]

    def _late(self, fact: AgentFact, bound_ms: int, now_ms: int) -> LateEvent:
        return LateEvent(
            late_id=stable_id("late", self.flow, fact.event_id, int(fact.kind)),
            flow=self.flow,
            event_id=fact.event_id,
            tenant_id=fact.tenant_id,
            event_type=fact.event_type,
            occurred_at=from_ms(fact.at_ms),
            watermark=from_ms(bound_ms),
            recorded_at=from_ms(now_ms),
        )


def _fold_into(acc: list[Any], fact: AgentFact) -> None:
    acc[_EVENTS] += 1
    kind, value = fact.kind, fact.value
    if kind is FactKind.ASSIGNED:
        acc[_ASSIGNED] += 1
    elif kind is FactKind.RESOLVED:
        acc[_RESOLVED] += 1
        if value is not None:
            acc[_HT_SUM] += value
            acc[_HT_N] += 1
    elif kind is FactKind.HANDLE_TIME and value is not None:  # its resolution counted
        acc[_HT_SUM] += value
        acc[_HT_N] += 1
    elif kind in (FactKind.FIRST_RESPONSE, FactKind.RESPONSE_TIME):
        if value is not None:
            acc[_FR_SUM] += value
            acc[_FR_N] += 1
    elif kind is FactKind.CSAT and value is not None:
        acc[_CS_SUM] += value
        acc[_CS_N] += 1
        if value <= LOW_CSAT_MAX:
            acc[_LOW] += 1


def window_row_id(tenant: str, agent: str, window: str, start: datetime) -> UUID:
    return _row_id(tenant, agent, window, to_ms(start))


def _row_id(tenant: str, agent: str, window: str, start_ms: int) -> UUID:
    return stable_id("agent_window", tenant, agent, window, start_ms)


def _row(key: WindowKey, acc: list[Any], *, final: bool) -> AgentWindow:
    tenant, agent, name, start_ms = key
    start = from_ms(start_ms)
    # model_construct: every value here is computed, not input, so re-validating
    # ~1 row per event at high agent counts would only burn CPU.
    return AgentWindow.model_construct(
        row_id=acc[_ID],
        version=int(acc[_EVENTS]) * 2 + (1 if final else 0),
        is_final=final,
        tenant_id=tenant,
        agent_id=agent,
        window=name,
        window_start=start,
        window_end=from_ms(start_ms + WINDOWS_MS[name]),
        tickets_assigned=int(acc[_ASSIGNED]),
        tickets_resolved=int(acc[_RESOLVED]),
        handle_time_sum_s=acc[_HT_SUM] / 1000,
        handle_time_count=int(acc[_HT_N]),
        first_response_sum_s=acc[_FR_SUM] / 1000,
        first_response_count=int(acc[_FR_N]),
        csat_sum=int(acc[_CS_SUM]),
        csat_count=int(acc[_CS_N]),
        low_csat_count=int(acc[_LOW]),
    )
