"""Demand dataflow: demand events -> hourly counts, forecast snapshots, backtests and
hotspot alerts, one stateful step per tenant."""

from __future__ import annotations

from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.clock_flow import with_ticks
from flows.core.io import FlowIO
from flows.core.keys import event_tenant, instance_of
from flows.demand.stateful import DemandLogic
from flows.demand.tenant import DEMAND_EVENT_TYPES
from schemas.demand import BacktestRow, DemandHourly, ForecastSnapshot
from schemas.results import Alert, DeadLetter
from schemas.transport import Accepted


def is_demand(a: Accepted) -> bool:
    return a.event.event_type in DEMAND_EVENT_TYPES


def add_demand(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Stream[DeadLetter]:
    by_tenant = op.key_on(
        "demand_by_tenant", op.filter("demand_events", events, is_demand), event_tenant
    )
    out = op.key_rm(
        "demand_out",
        op.stateful_batch(
            "demand", with_ticks("demand", by_tenant, ticks, None), partial(DemandLogic, cfg)
        ),
    )
    op.output(
        "demand_hourly_out",
        op.filter_map("demand_hourly", out, partial(instance_of, DemandHourly)),
        io.sink("demand_hourly"),
    )
    op.output(
        "demand_forecast_out",
        op.filter_map("demand_snapshots", out, partial(instance_of, ForecastSnapshot)),
        io.sink("demand_forecast"),
    )
    op.output(
        "demand_backtest_out",
        op.filter_map("demand_backtests", out, partial(instance_of, BacktestRow)),
        io.sink("demand_backtest"),
    )
    alerts = op.filter_map("demand_alerts", out, partial(instance_of, Alert))
    op.output("demand_alerts_out", alerts, io.sink("alerts"))
    op.output("demand_alerts_topic_out", alerts, io.sink("alerts_topic"))
    return op.filter_map("demand_letters", out, partial(instance_of, DeadLetter))
