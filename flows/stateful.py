"""Bytewax adapters for ingest dedup and agent performance (pure logic elsewhere)."""

from __future__ import annotations

import pickle
from collections.abc import Iterable

from bytewax.operators import StatefulBatchLogic

from flows.agent_facts import AgentFact, TicketTracker
from flows.agent_windows import AgentWindowAggregator
from flows.config import FlowConfig
from flows.core.stateful import EventTimeLogic, IncompatibleStateError, Origin
from flows.dedup import Deduplicator
from flows.origin import EventLogic, derived_origin
from flows.timeutil import to_ms
from schemas.results import AgentWindow, LateEvent
from schemas.transport import Accepted

_EXPIRE_EVERY_MS = 3_600_000


class DedupLogic(StatefulBatchLogic[Accepted, Accepted, bytes]):
    """Passes each ``(tenant, event_id)`` once per shard (see :mod:`flows.dedup`)."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.state: Deduplicator = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else Deduplicator(int(cfg.dedup_window_s * 1000))
        )
        if not hasattr(self.state, "tenants"):  # ids were not scoped by tenant yet
            raise IncompatibleStateError("dedup")

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[Accepted], bool]:
        accept = self.state.accept
        out = [
            a
            for a in values
            if accept(
                a.event.event_id, to_ms(a.event.occurred_at), tenant=a.event.tenant_id, evict=False
            )
        ]
        self.state.evict()
        return out, False

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)


class TicketFactsLogic(EventLogic[TicketTracker, AgentFact]):
    """Joins each ticket's events into agent facts (see :mod:`flows.agent_facts`)."""

    flow = "agent_performance"

    def new_state(self) -> TicketTracker:
        return TicketTracker()

    def configure(self) -> None:
        self._next_expiry = 0

    def on_item(self, item: Accepted) -> Iterable[AgentFact]:
        out = self.state.on_event(item.event, item.partition, item.late_bound_ms)
        if self.state.max_ms >= self._next_expiry:
            out.extend(self.state.expire())
            self._next_expiry = self.state.max_ms + _EXPIRE_EVERY_MS
        return out

    def on_end(self) -> Iterable[AgentFact]:
        return self.state.flush()


class AgentWindowLogic(EventTimeLogic[AgentWindowAggregator, AgentFact, AgentWindow | LateEvent]):
    """Windows one shard of agents: finals as each tenant's watermark passes window
    ends, live rows on a wall-clock timer."""

    flow = "agent_performance"

    def new_state(self) -> AgentWindowAggregator:
        return AgentWindowAggregator()

    def tenant_of(self, item: AgentFact) -> str:
        return item.tenant_id

    def origin_of(self, item: AgentFact) -> Origin:
        return derived_origin(
            item.partition, f"agent_fact/{item.kind.name}", str(item.event_id), item.tenant_id
        )

    def on_item(self, item: AgentFact) -> Iterable[AgentWindow | LateEvent]:
        late = self.state.add(item, to_ms(self.cfg.now()))
        return () if late is None else (late,)

    def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[AgentWindow]:
        return self.state.close_due(tenant, watermark_ms)

    def on_timer(self) -> Iterable[AgentWindow]:
        return self.state.provisional() if self.cfg.provisional else ()

    def on_end(self) -> Iterable[AgentWindow]:
        return self.state.flush_all()
