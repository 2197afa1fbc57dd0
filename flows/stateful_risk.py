"""Bytewax adapters for client risk: ticket-side SLA and reopen tracking, client scoring.

Batches are applied in event-time order (ties by event id), so how upstream exchanges
shuffled a batch never changes the result.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bytewax.operators import StatefulBatchLogic

from flows.client_risk import (
    ClientRiskTracker,
    RiskSignal,
    TicketClients,
    risk_alert,
    signals_from_event,
)
from flows.config import FlowConfig
from flows.sla import SlaTracker, breach_alert, breach_signal
from flows.stateful_ops import event_order
from flows.timeutil import to_ms
from flows.watermark import Watermark
from schemas.results import Alert
from schemas.risk import ClientRisk
from schemas.transport import Accepted


@dataclass
class TicketRiskState:
    """One shard of tickets: SLA deadlines, ticket->client map, the shard's watermark."""

    sla: SlaTracker
    clients: TicketClients = field(default_factory=TicketClients)
    watermark: Watermark = field(default_factory=lambda: Watermark(0))


class TicketRiskLogic(StatefulBatchLogic[Accepted, Alert | RiskSignal, bytes]):
    """Raises SLA breaches as the watermark passes deadlines; maps reopenings to clients."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        self.state: TicketRiskState = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else TicketRiskState(SlaTracker(cfg.sla_policy))
        )
        wm = self.state.watermark
        wm.lateness_ms = int(cfg.allowed_lateness_s * 1000)
        wm.idle_advance = cfg.idle_advance
        wm.partitions = cfg.input_partitions
        self._interval = timedelta(seconds=cfg.provisional_interval_s)
        self._next_notify = cfg.now() + self._interval

    def _breaches(self, *, end_of_input: bool = False) -> list[Alert | RiskSignal]:
        now = self.cfg.now()
        wm = self.state.watermark
        upto = wm.current(to_ms(now))
        if end_of_input:  # nothing more is coming now: every partition is caught up
            upto = max(upto, wm.newest_ms - wm.lateness_ms)
        out: list[Alert | RiskSignal] = []
        for b in self.state.sla.due(upto):
            out.append(breach_alert(b, now))
            out.append(breach_signal(b))
        return out

    def on_batch(self, values: list[Accepted]) -> tuple[Iterable[Alert | RiskSignal], bool]:
        s = self.state
        now_ms = to_ms(self.cfg.now())
        out: list[Alert | RiskSignal] = []
        for a in sorted(values, key=event_order):
            s.sla.on_event(a.event)
            out.extend(s.clients.on_event(a.event))
            out.extend(signals_from_event(a.event, s.clients.clients))
            s.watermark.observe(a.partition, to_ms(a.event.occurred_at), now_ms)
        out.extend(self._breaches())
        return out, False

    def on_notify(self) -> tuple[Iterable[Alert | RiskSignal], bool]:
        self._next_notify = self.cfg.now() + self._interval
        return self._breaches(), False

    def on_eof(self) -> tuple[Iterable[Alert | RiskSignal], bool]:
        return self._breaches(end_of_input=True), False

    def notify_at(self) -> datetime:
        return self._next_notify

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)


def signal_order(s: RiskSignal) -> tuple[int, str, str]:
    return s.at_ms, str(s.event_id), s.factor


class ClientRiskLogic(StatefulBatchLogic[RiskSignal, ClientRisk | Alert, bytes]):
    """Scores one shard of clients; a level that rises raises a ``client_risk`` alert."""

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None) -> None:
        self.cfg = cfg
        self.state: ClientRiskTracker = (
            pickle.loads(snapshot)  # noqa: S301 - our own state
            if snapshot is not None
            else ClientRiskTracker(cfg.risk_model)
        )
        self.state.model = cfg.risk_model  # a changed model applies from now on

    def on_batch(self, values: list[RiskSignal]) -> tuple[Iterable[ClientRisk | Alert], bool]:
        tracker = self.state
        now = self.cfg.now()
        out: list[ClientRisk | Alert] = []
        for s in sorted(values, key=signal_order):
            before = tracker.last_level(s.tenant_id, s.client_id)
            row = tracker.on_signal(s)
            if row is None:
                continue
            out.append(row)
            alert = risk_alert(before, row, now)
            if alert is not None:
                out.append(alert)
        return out, False

    def snapshot(self) -> bytes:
        return pickle.dumps(self.state, protocol=pickle.HIGHEST_PROTOCOL)
