"""Live-operations dataflow: sessions, messages, statuses and CSAT -> per-tenant snapshots."""

from __future__ import annotations

from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.config import FlowConfig
from flows.core.clock import Tick
from flows.core.clock_flow import with_ticks
from flows.core.io import FlowIO
from flows.core.keys import event_tenant, instance_of
from flows.ops.live_ops import LIVE_OPS_EVENT_TYPES
from flows.ops.stateful import LiveOpsLogic
from schemas.ops import OpsSnapshot, QueueRow
from schemas.results import DeadLetter
from schemas.transport import Accepted


def concerns_ops(a: Accepted) -> bool:
    return a.event.event_type in LIVE_OPS_EVENT_TYPES


def queue_rows(s: OpsSnapshot) -> list[QueueRow]:
    return [QueueRow(s.tenant_id, s.as_of, q) for q in s.queues]


def add_live_ops(
    events: Stream[Accepted], ticks: Stream[Tick], cfg: FlowConfig, io: FlowIO
) -> Stream[DeadLetter]:
    relevant = op.filter("ops_events", events, concerns_ops)
    by_tenant = op.key_on("by_tenant", relevant, event_tenant)
    out = op.key_rm(
        "ops",
        op.stateful_batch(
            "live_ops", with_ticks("live_ops", by_tenant, ticks, None), partial(LiveOpsLogic, cfg)
        ),
    )
    snaps = op.filter_map("ops_rows", out, partial(instance_of, OpsSnapshot))
    op.output("ops_snapshots_out", snaps, io.sink("ops_snapshots"))
    rows = op.flat_map("queue_rows", snaps, queue_rows)
    op.output("ops_queues_out", rows, io.sink("ops_queue_snapshots"))
    return op.filter_map("ops_letters", out, partial(instance_of, DeadLetter))
