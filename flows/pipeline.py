"""The whole cxpulse dataflow: ingest plus every selected downstream flow.

One dataflow reads the events topic once and fans out, so selecting flows never
re-reads Kafka or double-writes dead letters. Every flow hands back its alerts and its
dead letters (processing errors); each kind leaves through one pair of outputs (table
and topic), the dead letters with ingest's rejections.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream

from flows.agents.flow import add_agent_performance
from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.io import FlowIO
from flows.core.outputs import ALERTS, ALERTS_TOPIC, DEAD_LETTERS, DLQ_TOPIC
from flows.core.timeutil import to_ms
from flows.demand.flow import add_demand
from flows.ingest.flow import add_ingest
from flows.kb.flow import add_kb
from flows.ops.flow import add_live_ops
from flows.risk.flow import add_client_risk
from flows.routing.flow import add_routing
from schemas.alert_rules import SlaBreachFact
from schemas.results import Alert, DeadLetter

_FLOWS = (
    ("agent_performance", add_agent_performance),
    ("client_risk", add_client_risk),
    ("live_ops", add_live_ops),
    ("demand", add_demand),
    ("kb", add_kb),
    ("routing", add_routing),
)


def breach_fact(item: Alert | Tick) -> SlaBreachFact | Tick | None:
    """An ``sla_breach`` alert as the live-ops flow's fact (forwarded ticks pass)."""
    if isinstance(item, Tick):
        return item
    if item.kind != "sla_breach":
        return None
    d = item.details
    return SlaBreachFact(
        tenant_id=item.tenant_id,
        ticket_id=item.subject_id,
        priority=str(d["priority"]),
        queue=str(d["queue"]),
        breached_ms=to_ms(item.event_time),
    )


def build_flow(cfg: FlowConfig, io: FlowIO) -> Dataflow:
    flow = Dataflow("cxpulse")
    events, ticks, rejected = add_ingest(flow, cfg, io)
    alerts: list[Stream[Alert]] = []
    letters: list[Stream[DeadLetter]] = [rejected]
    sla: Stream[Alert | Tick] | None = None
    for name, add in _FLOWS:
        if name not in cfg.flows:
            continue
        if name == "live_ops" and sla is not None:
            # the client-risk flow's breaches, as facts, for sla_breaches_1h (ops and risk
            # stay independent: only this composition root knows both)
            facts: Stream[SlaBreachFact | Tick] = op.filter_map(
                "sla_breach_facts", sla, breach_fact
            )
            emitted = add_live_ops(events, ticks, cfg, io, facts, cfg.shards)
        else:
            emitted = add(events, ticks, cfg, io)
            sla = sla if emitted.sla is None else emitted.sla
        letters.append(emitted.letters)
        if emitted.alerts is not None:
            alerts.append(emitted.alerts)
    if alerts:
        raised = op.merge("alerts", *alerts)
        op.output("alerts_out", raised, io.sink(ALERTS))
        op.output("alerts_topic_out", raised, io.sink(ALERTS_TOPIC))
    dead = op.merge("dead_letters", *letters)
    op.output("dead_letters_out", dead, io.sink(DEAD_LETTERS))
    op.output("dlq_topic_out", dead, io.sink(DLQ_TOPIC))
    return flow
