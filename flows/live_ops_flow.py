"""Live-operations dataflow: sessions, messages, statuses and CSAT -> per-tenant snapshots."""

from __future__ import annotations

from functools import partial

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.config import FlowConfig
from flows.io import FlowIO
from flows.live_ops import LIVE_OPS_EVENT_TYPES
from flows.routing import event_tenant
from flows.stateful_ops import LiveOpsLogic
from schemas.ops import OpsSnapshot, QueueRow
from schemas.transport import Accepted


def concerns_ops(a: Accepted) -> bool:
    return a.event.event_type in LIVE_OPS_EVENT_TYPES


def queue_rows(s: OpsSnapshot) -> list[QueueRow]:
    return [QueueRow(s.tenant_id, s.as_of, q) for q in s.queues]


def add_live_ops(events: Stream[Accepted], cfg: FlowConfig, io: FlowIO) -> None:
    relevant = op.filter("ops_events", events, concerns_ops)
    by_tenant = op.key_on("by_tenant", relevant, event_tenant)
    snaps = op.key_rm("ops", op.stateful_batch("live_ops", by_tenant, partial(LiveOpsLogic, cfg)))
    op.output("ops_snapshots_out", snaps, io.sink("ops_snapshots"))
    rows = op.flat_map("queue_rows", snaps, queue_rows)
    op.output("ops_queues_out", rows, io.sink("ops_queue_snapshots"))
