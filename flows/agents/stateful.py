"""Bytewax adapters for agent performance: ticket facts per ticket shard, windows per
agent shard (pure logic in :mod:`flows.agents.facts` and :mod:`flows.agents.windows`)."""

from __future__ import annotations

from collections.abc import Iterable

from flows.agents.facts import AgentFact, TicketTracker
from flows.agents.windows import AgentWindowAggregator
from flows.core.origin import EventLogic, derived_origin
from flows.core.stateful import EventTimeLogic, Origin
from flows.core.timeutil import to_ms
from schemas.events import ClientErasureRequested
from schemas.results import AgentWindow, LateEvent
from schemas.transport import Accepted

_EXPIRE_EVERY_MS = 3_600_000


class TicketFactsLogic(EventLogic[TicketTracker, AgentFact]):
    """Joins each ticket's events into agent facts (see :mod:`flows.agents.facts`): every
    fact leaves with the event that makes it, so this step needs no watermark."""

    flow = "agent_performance"

    def new_state(self) -> TicketTracker:
        return TicketTracker()

    def configure(self) -> None:
        self.state.lateness_ms = int(self.cfg.allowed_lateness_s * 1000)
        self._next_expiry = 0  # when to drop idle tickets (memory only, see expire)

    def on_item(self, item: Accepted) -> Iterable[AgentFact]:
        request = item.event.payload
        if isinstance(request, ClientErasureRequested):  # reaches every ticket shard
            self.state.forget_client(item.event.tenant_id, request.client_id)
            return ()
        out = self.state.on_event(item.event, item.partition, item.late_bound_ms)
        if self.state.max_ms >= self._next_expiry:
            self.state.expire()
            self._next_expiry = self.state.max_ms + _EXPIRE_EVERY_MS
        return out


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
