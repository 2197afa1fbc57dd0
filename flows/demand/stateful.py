"""Bytewax adapter for demand: one tenant's counts, forecasts and hotspots per key.

Inputs are applied in event-time order behind the tenant's watermark and hours close in
the same order (:mod:`flows.core.stateful`), so counts, refits and forecasts do not
depend on how a replay is batched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flows.core.origin import EventLogic
from flows.core.timeutil import to_ms
from flows.demand.tenant import DemandOutput, DemandTenant
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig

log = logging.getLogger(__name__)


class DemandLogic(EventLogic[DemandTenant | None, DemandOutput]):
    """Counts one tenant's demand events and closes hours as its watermark passes them."""

    flow = "demand"
    cfg: FlowConfig  # the capability tunables, not only the core ones
    hold = True

    def new_state(self) -> DemandTenant | None:
        return None

    def configure(self) -> None:
        if self.state is not None:
            self.state.cfg = self.cfg.demand  # changed settings apply from now on

    def on_item(self, item: Accepted) -> Iterable[DemandOutput]:
        if self.state is None:
            self.state = DemandTenant(item.event.tenant_id, self.cfg.demand)
        return self.state.on_event(item.event, to_ms(item.event.occurred_at))

    def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[DemandOutput]:
        t = self.state
        if t is None:
            return ()
        before = t.untracked_events
        out = t.close(watermark_ms, self.cfg.now())
        if t.untracked_events and not before:
            log.warning(
                "tenant %s has %d demand segments (the maximum): events of new segments "
                "are stored but not forecast",
                t.tenant_id,
                len(t.segments),
            )
        return out
