"""Client-risk dataflow: SLA breaches and reopenings (by ticket), complaints, low CSAT and
health (by client) -> churn-risk scores with their history, and alerts."""

from __future__ import annotations

from functools import partial
from typing import TypeGuard

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.client_risk import RiskSignal, signals_from_event
from flows.config import FlowConfig
from flows.io import FlowIO
from flows.routing import instance_of, ticket_key
from flows.sharding import shard_of
from flows.stateful_risk import ClientRiskLogic, TicketRiskLogic
from schemas.results import Alert
from schemas.risk import ClientRisk
from schemas.transport import Accepted

TICKET_TYPES = frozenset({"ticket.created", "ticket.resolved", "ticket.reopened"})
CLIENT_TYPES = frozenset(
    {"complaint.created", "complaint.escalated", "csat.received", "client.health_updated"}
)


def about_tickets(a: Accepted) -> bool:
    return a.event.event_type in TICKET_TYPES


def about_clients(a: Accepted) -> bool:
    return a.event.event_type in CLIENT_TYPES


def direct_signals(a: Accepted) -> list[RiskSignal]:
    """Signals that name their client (reopenings need the ticket map, not here)."""
    return signals_from_event(a.event, {})


def client_key(shards: int, s: RiskSignal) -> str:
    return shard_of(shards, s.tenant_id, s.client_id)


def is_signal(item: Alert | RiskSignal) -> TypeGuard[RiskSignal]:
    return isinstance(item, RiskSignal)


def is_risk_row(item: ClientRisk | Alert) -> TypeGuard[ClientRisk]:
    return isinstance(item, ClientRisk)


def add_client_risk(events: Stream[Accepted], cfg: FlowConfig, io: FlowIO) -> None:
    tickets = op.key_on(
        "risk_by_ticket",
        op.filter("risk_ticket_events", events, about_tickets),
        partial(ticket_key, cfg.shards),
    )
    ticket_out = op.key_rm(
        "ticket_risk_out", op.stateful_batch("ticket_risk", tickets, partial(TicketRiskLogic, cfg))
    )
    split = op.branch("signal_or_breach", ticket_out, is_signal)
    sla_alerts: Stream[Alert] = op.filter_map(
        "sla_alerts", split.falses, partial(instance_of, Alert)
    )

    direct = op.flat_map(
        "client_signals", op.filter("risk_client_events", events, about_clients), direct_signals
    )
    signals = op.merge("all_signals", split.trues, direct)
    by_client = op.key_on("by_client", signals, partial(client_key, cfg.shards))
    scored = op.key_rm(
        "scored", op.stateful_batch("client_risk", by_client, partial(ClientRiskLogic, cfg))
    )
    rows = op.branch("row_or_alert", scored, is_risk_row)
    op.output("client_risk_out", rows.trues, io.sink("client_risk"))
    risk_alerts: Stream[Alert] = op.filter_map(
        "risk_alerts", rows.falses, partial(instance_of, Alert)
    )

    alerts = op.merge("risk_and_sla_alerts", sla_alerts, risk_alerts)
    op.output("risk_alerts_out", alerts, io.sink("alerts"))
    op.output("risk_alerts_topic_out", alerts, io.sink("alerts_topic"))
