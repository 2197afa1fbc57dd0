"""The whole cxpulse dataflow: ingest plus every selected downstream flow.

One dataflow reads the events topic once and fans out, so selecting flows never
re-reads Kafka or double-writes dead letters. Every flow hands back its dead letters
(processing errors); they leave through one pair of outputs with ingest's rejections.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from flows.agents.flow import add_agent_performance
from flows.config import FlowConfig
from flows.core.io import FlowIO
from flows.demand.flow import add_demand
from flows.ingest.flow import add_ingest
from flows.kb.flow import add_kb
from flows.ops.flow import add_live_ops
from flows.risk.flow import add_client_risk

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
    letters = [rejected]
    for name, add in _FLOWS:
        if name in cfg.flows:
            letters.append(add(events, ticks, cfg, io))
    dead = op.merge("dead_letters", *letters)
    op.output("dead_letters_out", dead, io.sink("dead_letters"))
    op.output("dlq_topic_out", dead, io.sink("dlq_topic"))
    return flow
