"""Bytewax adapters for client risk: ticket-side SLA and reopen tracking, client scoring.

Both steps hold their inputs until the tenant's watermark passes them and apply them in
event-time order (:mod:`flows.core.stateful`), with SLA deadlines decided in the same
order, so a replay gives the same breaches, scores and alerts however it is batched.
The ticket step forwards each watermark after acting on it; the scoring step takes the
minimum over the ticket shards, so a breach signal is never behind its watermark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from flows.core.origin import EventLogic, derived_origin, event_order
from flows.core.stateful import EventTimeLogic, Origin
from flows.risk.client_risk import (
    ERASURE,
    ClientRiskTracker,
    RiskSignal,
    TicketClients,
    risk_alert,
    signals_from_event,
)
from flows.risk.complaints import ComplaintAlerts
from flows.risk.sla import SlaTracker, breach_alert, breach_signal
from schemas.events import ClientErasureRequested
from schemas.results import Alert
from schemas.risk import ClientRisk
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


@dataclass
class TicketRiskState:
    """One shard of tickets: SLA deadlines and the ticket -> client map."""

    sla: SlaTracker
    clients: TicketClients = field(default_factory=TicketClients)


class TicketRiskLogic(EventLogic[TicketRiskState, Alert | RiskSignal]):
    """Raises SLA breaches as the tenant's watermark passes deadlines; maps reopenings
    to clients."""

    flow = "client_risk"
    cfg: FlowConfig  # the capability tunables, not only the core ones
    hold = True
    forward = True

    def new_state(self) -> TicketRiskState:
        return TicketRiskState(SlaTracker(self.cfg.sla_policy))

    def configure(self) -> None:
        self.state.sla.policy = self.cfg.sla_policy  # a changed policy applies from now on

    def on_item(self, item: Accepted) -> Iterable[Alert | RiskSignal]:
        s = self.state
        request = item.event.payload
        if isinstance(request, ClientErasureRequested):  # reaches every ticket shard
            s.sla.forget_client(item.event.tenant_id, request.client_id)
            s.clients.forget_client(item.event.tenant_id, request.client_id)
            return ()
        s.sla.on_event(item.event)
        signals = [*s.clients.on_event(item.event)]
        signals.extend(signals_from_event(item.event, s.clients.clients))
        # A signal stamped before the item that released it (a late item's, or a
        # reopening that waited for its ticket's creation) sorts where it was released,
        # never behind a watermark the scoring step may have applied already.
        at, _ = event_order(item)
        return [replace(sig, order_ms=at) if sig.at_ms < at else sig for sig in signals]

    def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[Alert | RiskSignal]:
        now = self.cfg.now()
        out: list[Alert | RiskSignal] = []
        for b in self.state.sla.due(tenant, watermark_ms):
            out.append(breach_alert(b, now))
            out.append(breach_signal(b))
        return out


def signal_order(s: RiskSignal) -> tuple[int, str]:
    at = s.at_ms if s.order_ms is None else s.order_ms
    return at, f"{s.event_id}/{s.factor}"


class ClientRiskLogic(EventTimeLogic[ClientRiskTracker, RiskSignal, ClientRisk | Alert]):
    """Scores one shard of clients; a level that rises raises a ``client_risk`` alert."""

    flow = "client_risk"
    cfg: FlowConfig  # the capability tunables, not only the core ones
    hold = True

    def new_state(self) -> ClientRiskTracker:
        return ClientRiskTracker(self.cfg.risk_model)

    def configure(self) -> None:
        self.state.model = self.cfg.risk_model  # a changed model applies from now on

    def tick_sources(self) -> int:
        return self.cfg.shards  # every ticket-risk shard forwards its watermark

    def tenant_of(self, item: RiskSignal) -> str:
        return item.tenant_id

    def order_of(self, item: RiskSignal) -> tuple[int, str]:
        return signal_order(item)

    def origin_of(self, item: RiskSignal) -> Origin:
        return derived_origin(
            -1,
            f"risk_signal/{item.factor}",
            str(item.event_id),
            item.tenant_id,
            client=item.client_id,
        )

    def on_item(self, item: RiskSignal) -> Iterable[ClientRisk | Alert]:
        tracker = self.state
        if item.factor == ERASURE:  # its rows are deleted from ClickHouse: none is due
            tracker.forget_client(item.tenant_id, item.client_id)
            return ()
        before = tracker.last_level(item.tenant_id, item.client_id)
        row = tracker.on_signal(item)
        if row is None:
            return ()
        alert = risk_alert(before, row, self.cfg.now())
        return (row,) if alert is None else (row, alert)


class ComplaintAlertLogic(EventLogic[ComplaintAlerts, Alert]):
    """Raises ``complaint_escalation`` alerts for one shard of complaints on arrival (not
    held back); an escalation whose creation has not arrived yet waits for it, at most
    until the tenant's watermark passes it (see :mod:`flows.risk.complaints`)."""

    flow = "client_risk"

    def new_state(self) -> ComplaintAlerts:
        return ComplaintAlerts()

    def on_item(self, item: Accepted) -> Iterable[Alert]:
        tenant = item.event.tenant_id
        request = item.event.payload
        if isinstance(request, ClientErasureRequested):  # reaches every complaint shard
            self.state.forget_client(tenant, request.client_id)
            return ()
        late = item.late_bound_ms is not None
        return self.state.on_event(item.event, late, self.time.watermark(tenant), self.cfg.now())

    def on_watermark(self, tenant: str, watermark_ms: int) -> Iterable[Alert]:
        return self.state.on_watermark(tenant, watermark_ms, self.cfg.now())

    def on_end(self) -> Iterable[Alert]:
        return self.state.flush(self.cfg.now())
