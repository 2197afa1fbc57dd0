"""Adapters from pure logic to Bytewax's StatefulBatchLogic.

Snapshots are pickled bytes: immutable by construction and cheaper than a deep copy.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bytewax.operators import StatefulBatchLogic

from flows.agent_facts import AgentFact, TicketTracker
from flows.agent_windows import AgentWindowAggregator
from flows.config import FlowConfig
from flows.dedup import Deduplicator
from flows.timeutil import to_ms
from flows.watermark import Watermark
from schemas.results import AgentWindow, LateEvent
from schemas.transport import Accepted

_EXPIRE_EVERY_MS = 3_600_000


def _restore(snapshot: bytes | None) -> Any:
    return None if snapshot is None else pickle.loads(snapshot)  # noqa: S301 - our own state


def _dump(state: object) -> bytes:
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


class DedupLogic(StatefulBatchLogic[Accepted, Accepted, bytes]):
    """Passes each event id once per shard (see :mod:`flows.dedup`)."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.state: Deduplicator = _restore(snapshot) or Deduplicator(
            int(cfg.dedup_window_s * 1000)
        )

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[Accepted], bool]:
        accept = self.state.accept
        out = [
            a for a in values if accept(a.event.event_id, to_ms(a.event.occurred_at), evict=False)
        ]
        self.state.evict()
        return out, False

    def snapshot(self) -> bytes:
        return _dump(self.state)


class TicketFactsLogic(StatefulBatchLogic[Accepted, AgentFact, bytes]):
    """Joins each ticket's events into agent facts (see :mod:`flows.agent_facts`)."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.state: TicketTracker = _restore(snapshot) or TicketTracker()
        self._next_expiry = 0

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[AgentFact], bool]:
        out: list[AgentFact] = []
        on_event = self.state.on_event
        for a in values:
            out.extend(on_event(a.event, a.partition))
        if self.state.max_ms >= self._next_expiry:
            out.extend(self.state.expire())
            self._next_expiry = self.state.max_ms + _EXPIRE_EVERY_MS
        return out, False

    def on_eof(self) -> tuple[Iterable[AgentFact], bool]:
        return self.state.flush(), False

    def snapshot(self) -> bytes:
        return _dump(self.state)


class AgentWindowLogic(StatefulBatchLogic[AgentFact, AgentWindow | LateEvent, bytes]):
    """Windows one shard of agents; live rows on a wall-clock timer, finals on watermark."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        self.state: AgentWindowAggregator = _restore(snapshot) or AgentWindowAggregator(
            Watermark(int(cfg.allowed_lateness_s * 1000))
        )
        # Run-level settings may differ between runs of the same state.
        self.state.watermark.idle_advance = cfg.idle_advance
        self.state.watermark.partitions = cfg.input_partitions
        self._interval = timedelta(seconds=cfg.provisional_interval_s)
        self._next_notify = cfg.now() + self._interval

    def _now_ms(self) -> int:
        return to_ms(self.cfg.now())

    def on_batch(self, values: list[AgentFact]) -> tuple[Iterable[AgentWindow | LateEvent], bool]:
        now = self._now_ms()
        out: list[AgentWindow | LateEvent] = [*self.state.add_batch(values, now)]
        out.extend(self.state.close_due(now))
        return out, False

    def on_notify(self) -> tuple[Iterable[AgentWindow | LateEvent], bool]:
        out: list[AgentWindow | LateEvent] = [*self.state.close_due(self._now_ms())]
        if self.cfg.provisional:
            out.extend(self.state.provisional())
        self._next_notify = self.cfg.now() + self._interval
        return out, False

    def on_eof(self) -> tuple[Iterable[AgentWindow | LateEvent], bool]:
        out: list[AgentWindow | LateEvent] = [*self.state.close_due(self._now_ms())]
        out.extend(self.state.flush_all())
        return out, False

    def notify_at(self) -> datetime:
        return self._next_notify

    def snapshot(self) -> bytes:
        return _dump(self.state)
