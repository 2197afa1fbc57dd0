"""Client-risk dataflow: SLA breaches and reopenings (by ticket), complaints, CSAT, health
and any client activity (by client) -> churn-risk scores with their history, and alerts."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.clock_flow import sourced, to_shards, with_ticks
from flows.core.io import FlowIO
from flows.core.keys import instance_of, ticket_key
from flows.core.sharding import shard_of
from flows.risk.client_risk import RiskSignal, signals_from_event
from flows.risk.stateful import ClientRiskLogic, TicketRiskLogic
from schemas.results import Alert, DeadLetter
from schemas.risk import ClientRisk
from schemas.transport import Accepted

TICKET_TYPES = frozenset({"ticket.created", "ticket.resolved", "ticket.reopened"})
CLIENT_TYPES = frozenset(
    {
        "complaint.created",
        "complaint.escalated",
        "complaint.resolved",
        "csat.received",
        "client.health_updated",
        "service.requested",
    }
)


def about_tickets(a: Accepted) -> bool:
    return a.event.event_type in TICKET_TYPES


def about_clients(a: Accepted) -> bool:
    return a.event.event_type in CLIENT_TYPES


def direct_signals(a: Accepted) -> list[RiskSignal]:
    """Signals that name their client (reopenings need the ticket map, not here); a late
    event's signals sort at the bound it missed."""
    signals = signals_from_event(a.event, {})
    if a.late_bound_ms is None:
        return signals
    return [replace(s, order_ms=a.late_bound_ms) for s in signals]


def client_key(shards: int, s: RiskSignal) -> str:
    return shard_of(shards, s.tenant_id, s.client_id)


def add_client_risk(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Stream[DeadLetter]:
    tickets = op.key_on(
        "risk_by_ticket",
        op.filter("risk_ticket_events", events, about_tickets),
        partial(ticket_key, cfg.shards),
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
    sla_alerts = op.filter_map("sla_alerts", ticket_out, partial(instance_of, Alert))
    ticket_signals = op.filter_map("ticket_signals", ticket_out, partial(instance_of, RiskSignal))
    forwarded = op.flat_map(
        "ticket_risk_forward",
        op.filter_map("ticket_risk_forwarded", ticket_out, partial(instance_of, Tick)),
        partial(to_shards, cfg.shards),
    )

    direct = op.flat_map(
        "client_signals", op.filter("risk_client_events", events, about_clients), direct_signals
    )
    signals = op.merge("all_signals", ticket_signals, direct)
    by_client = op.key_on("by_client", signals, partial(client_key, cfg.shards))
    scored = op.key_rm(
        "scored",
        op.stateful_batch(
            "client_risk",
            op.merge("client_risk_with_ticks", by_client, forwarded),
            partial(ClientRiskLogic, cfg),
        ),
    )
    rows = op.filter_map("risk_rows", scored, partial(instance_of, ClientRisk))
    op.output("client_risk_out", rows, io.sink("client_risk"))
    risk_alerts = op.filter_map("risk_alerts", scored, partial(instance_of, Alert))

    alerts = op.merge("risk_and_sla_alerts", sla_alerts, risk_alerts)
    op.output("risk_alerts_out", alerts, io.sink("alerts"))
    op.output("risk_alerts_topic_out", alerts, io.sink("alerts_topic"))
    return op.merge(
        "risk_dead_letters",
        op.filter_map("ticket_risk_letters", ticket_out, partial(instance_of, DeadLetter)),
        op.filter_map("client_risk_letters", scored, partial(instance_of, DeadLetter)),
    )
