"""Demand dataflow: demand events -> hourly counts, forecast snapshots, backtests and
hotspot alerts, one stateful step per tenant."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bytewax.dataflow import Stream

from flows.core.clock import Tick
from flows.core.clock_flow import per_tenant
from flows.core.io import FlowIO
from flows.core.outputs import DEMAND_BACKTEST, DEMAND_FORECAST, DEMAND_HOURLY
from flows.core.wiring import Emitted, letters, pick, pick_out
from flows.demand.stateful import DemandLogic
from flows.demand.tenant import DEMAND_EVENT_TYPES
from schemas.results import Alert
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


def add_demand(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Emitted:
    out = per_tenant("demand", events, DEMAND_EVENT_TYPES, ticks, partial(DemandLogic, cfg))
    pick_out(io, "demand_hourly", "demand_hourly_out", out, DEMAND_HOURLY)
    pick_out(io, "demand_snapshots", "demand_forecast_out", out, DEMAND_FORECAST)
    pick_out(io, "demand_backtests", "demand_backtest_out", out, DEMAND_BACKTEST)
    return Emitted(
        pick("demand_alerts", out, Alert),
        letters("demand_dead_letters", ("demand_letters", out)),
    )
