"""Bytewax adapter for routing: one tenant's :class:`RoutingTenant` per key.

Inputs are applied in event-time order behind the tenant's watermark
(:mod:`flows.core.stateful`), so an agent's eligibility, workload and figures are those
at the creation's event time, whatever the batching: a replay recommends the same
agents. The price is latency: a recommendation leaves once the tenant's watermark
passes its creation (the allowed lateness plus about an epoch when tailing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flows.core.origin import EventLogic
from flows.core.timeutil import to_ms
from flows.routing.tenant import RoutingOut, RoutingTenant
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


class RoutingLogic(EventLogic[RoutingTenant | None, RoutingOut]):
    """Routes one tenant's new tickets and complaints and logs the decisions."""

    flow = "routing"
    cfg: FlowConfig  # the capability tunables, not only the core ones
    hold = True

    def new_state(self) -> RoutingTenant | None:
        return None

    def configure(self) -> None:
        if self.state is not None:
            self.state.configure(self.cfg.routing_model)  # a changed model applies now

    def on_item(self, item: Accepted) -> Iterable[RoutingOut]:
        if self.state is None:
            self.state = RoutingTenant(item.event.tenant_id, self.cfg.routing_model)
        return self.state.on_event(item.event, to_ms(item.event.occurred_at), self.cfg.now())

    def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[RoutingOut]:
        if self.state is None:
            return ()
        return self.state.on_watermark(watermark_ms, self.cfg.now())
