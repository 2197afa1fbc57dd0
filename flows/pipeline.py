"""The whole cxpulse dataflow: ingest plus every selected downstream flow.

One dataflow reads the events topic once and fans out, so selecting flows never
re-reads Kafka or double-writes dead letters.
"""

from __future__ import annotations

from bytewax.dataflow import Dataflow

from flows.agent_performance import add_agent_performance
from flows.client_risk_flow import add_client_risk
from flows.config import FlowConfig
from flows.demand_flow import add_demand
from flows.ingest import add_ingest
from flows.io import FlowIO
from flows.kb_flow import add_kb
from flows.live_ops_flow import add_live_ops


def build_flow(cfg: FlowConfig, io: FlowIO) -> Dataflow:
    flow = Dataflow("cxpulse")
    events = add_ingest(flow, cfg, io)
    if "agent_performance" in cfg.flows:
        add_agent_performance(events, cfg, io)
    if "client_risk" in cfg.flows:
        add_client_risk(events, cfg, io)
    if "live_ops" in cfg.flows:
        add_live_ops(events, cfg, io)
    if "demand" in cfg.flows:
        add_demand(events, cfg, io)
    if "kb" in cfg.flows:
        add_kb(events, cfg, io)
    return flow
