"""Client-risk dataflow: SLA breaches and reopenings (by ticket), complaints, CSAT, health
and any client activity (by client) -> churn-risk scores with their history, and alerts;
complaint escalations (by complaint) -> ``complaint_escalation`` alerts on arrival."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.core.clock import Tick
from flows.core.clock_flow import sourced, ticked, to_shards, with_ticks
from flows.core.io import FlowIO
from flows.core.keys import erasures_to_every_shard, ticket_key
from flows.core.outputs import CLIENT_RISK
from flows.core.sharding import shard_of
from flows.core.wiring import Emitted, letters, pick, pick_out, select, stateful
from flows.risk.client_risk import RiskSignal, erasure_signals, signals_from_event
from flows.risk.complaints import COMPLAINT_TYPES
from flows.risk.stateful import ClientRiskLogic, ComplaintAlertLogic, TicketRiskLogic
from schemas.privacy import ERASURE_EVENT
from schemas.results import Alert
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig

# an erasure reaches every step that may hold the client: all ticket and complaint
# shards (broadcast), its own client shard (as a signal)
TICKET_TYPES = frozenset({"ticket.created", "ticket.resolved", "ticket.reopened", ERASURE_EVENT})
CLIENT_TYPES = frozenset(
    {
        "complaint.created",
        "complaint.escalated",
        "complaint.resolved",
        "csat.received",
        "client.health_updated",
        "service.requested",
        ERASURE_EVENT,
    }
)


def direct_signals(a: Accepted) -> list[RiskSignal]:
    """Signals that name their client (reopenings need the ticket map, not here); a late
    event's signals sort at the bound it missed."""
    signals = signals_from_event(a.event, {}) or erasure_signals(a.event)
    if a.late_bound_ms is None:
        return signals
    return [replace(s, order_ms=a.late_bound_ms) for s in signals]


def client_key(shards: int, s: RiskSignal) -> str:
    return shard_of(shards, s.tenant_id, s.client_id)


def complaint_key(shards: int, a: Accepted) -> str:
    """Every event of a complaint meets its state (the payload names the complaint)."""
    return shard_of(shards, a.event.tenant_id, a.event.payload.__dict__["complaint_id"])


def add_client_risk(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Emitted:
    tickets = op.flat_map_batch(
        "risk_by_ticket",
        select("risk_ticket_events", events, TICKET_TYPES),
        partial(erasures_to_every_shard, cfg.shards, partial(ticket_key, cfg.shards)),
    )
    ticket_out = op.map(
        "ticket_risk_out",
        op.stateful_batch(
            "ticket_risk",
            with_ticks("ticket_risk", tickets, ticks, cfg.shards),
            partial(TicketRiskLogic, cfg),
        ),
        sourced,
    )
    shard_ticks = pick("ticket_risk_forwarded", ticket_out, Tick)
    forwarded = op.flat_map("ticket_risk_forward", shard_ticks, partial(to_shards, cfg.shards))
    sla_alerts = pick("sla_alerts", ticket_out, Alert)
    direct = op.flat_map(
        "client_signals", select("risk_client_events", events, CLIENT_TYPES), direct_signals
    )
    signals = op.merge("all_signals", pick("ticket_signals", ticket_out, RiskSignal), direct)
    by_client = op.key_on("by_client", signals, partial(client_key, cfg.shards))
    scored = stateful(
        "scored",
        "client_risk",
        op.merge("client_risk_with_ticks", by_client, forwarded),
        partial(ClientRiskLogic, cfg),
    )
    pick_out(io, "risk_rows", "client_risk_out", scored, CLIENT_RISK)
    complaints = op.flat_map_batch(
        "by_complaint",
        select("complaint_alert_events", events, COMPLAINT_TYPES | {ERASURE_EVENT}),
        partial(erasures_to_every_shard, cfg.shards, partial(complaint_key, cfg.shards)),
    )
    complaint_out = ticked(
        "complaint_alerts_out",
        "complaint_alerts",
        complaints,
        ticks,
        cfg.shards,
        partial(ComplaintAlertLogic, cfg),
    )
    alerts = op.merge(
        "risk_and_sla_alerts",
        sla_alerts,
        pick("risk_alerts", scored, Alert),
        pick("escalation_alerts", complaint_out, Alert),
    )
    return Emitted(
        alerts,
        letters(
            "risk_dead_letters",
            ("ticket_risk_letters", ticket_out),
            ("client_risk_letters", scored),
            ("complaint_alert_letters", complaint_out),
        ),
        # the breaches with the watermarks forwarded after them (see Emitted)
        op.merge("sla_with_watermarks", sla_alerts, shard_ticks),
    )
