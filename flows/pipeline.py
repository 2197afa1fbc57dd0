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
from flows.core.io import FlowIO
from flows.core.outputs import ALERTS, ALERTS_TOPIC, DEAD_LETTERS, DLQ_TOPIC
from flows.demand.flow import add_demand
from flows.ingest.flow import add_ingest
from flows.kb.flow import add_kb
from flows.ops.flow import add_live_ops
from flows.risk.flow import add_client_risk
from schemas.results import Alert, DeadLetter

_FLOWS = (
    ("agent_performance", add_agent_performance),
    ("client_risk", add_client_risk),
    ("live_ops", add_live_ops),
    ("demand", add_demand),
    ("kb", add_kb),
)


def build_flow(cfg: FlowConfig, io: FlowIO) -> Dataflow:
    flow = Dataflow("cxpulse")
    events, ticks, rejected = add_ingest(flow, cfg, io)
    alerts: list[Stream[Alert]] = []
    letters: list[Stream[DeadLetter]] = [rejected]
    for name, add in _FLOWS:
        if name in cfg.flows:
            emitted = add(events, ticks, cfg, io)
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
