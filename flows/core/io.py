"""The ports a dataflow needs: one source and named sinks, injected by the runner.

Flows never create clients; the runner hands them Bytewax sources and sinks, so a test
can swap in real Kafka/ClickHouse or in-memory ones without touching the wiring.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from bytewax.inputs import Source
from bytewax.outputs import Sink

from schemas.transport import RawMessage

SinkName = Literal[
    "events",
    "dead_letters",
    "dlq_topic",
    "agent_performance",
    "late_events",
    "alerts",
    "alerts_topic",
    "ops_snapshots",
    "ops_queue_snapshots",
    "client_risk",
    "demand_hourly",
    "demand_forecast",
    "demand_backtest",
    "kb_suggestions",
]


class FlowIO(Protocol):
    def source(self) -> Source[RawMessage]: ...

    def sink(self, name: SinkName) -> Sink[Any]: ...
