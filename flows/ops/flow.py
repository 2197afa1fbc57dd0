"""Live-operations dataflow: sessions, messages, statuses, CSAT, complaints and ticket
assignments -> per-tenant snapshots, their queues and the per-agent board."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.core.clock import Tick
from flows.core.clock_flow import ticked
from flows.core.io import FlowIO
from flows.core.keys import event_tenant
from flows.core.outputs import (
    ALERT_ACTIONS,
    ALERT_FEED_TOPIC,
    ALERTS,
    OPS_AGENT_BOARD,
    OPS_QUEUE_SNAPSHOTS,
    OPS_SNAPSHOTS,
)
from flows.core.wiring import Emitted, letters, pick, pick_out, select
from flows.ops.live_ops import LIVE_OPS_EVENT_TYPES
from flows.ops.stateful import LiveOpsLogic
from schemas.alert_lifecycle import AlertStateChange
from schemas.alert_rules import RuleChange, SlaBreachFact
from schemas.ops import OpsSnapshot, QueueRow
from schemas.privacy import ERASURE_EVENT
from schemas.results import Alert
from schemas.transport import Accepted, RawMessage

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


def queue_rows(s: OpsSnapshot) -> list[QueueRow]:
    return [QueueRow(s.tenant_id, s.as_of, q) for q in s.queues]


def rule_change(msg: RawMessage) -> RuleChange | None:
    """A message of the rules topic (an invalid one is skipped: only the API writes it)."""
    if msg.value is None:
        return None
    try:
        return RuleChange.model_validate_json(msg.value)
    except ValueError:
        return None


def change_tenant(change: RuleChange) -> str:
    return change.tenant_id


def alert_feed(item: object) -> Alert | AlertStateChange | None:
    """What goes to the alerts topic, in the step's output order."""
    return item if isinstance(item, Alert | AlertStateChange) else None


def fact_tenant(fact: SlaBreachFact) -> str:
    return fact.tenant_id


def add_live_ops(
    events: Stream[Accepted],
    ticks: Stream[Tick],
    cfg: FlowConfig,
    io: FlowIO,
    breaches: Stream[SlaBreachFact | Tick] | None = None,
    breach_sources: int = 0,
) -> Emitted:
    """``breaches``: SLA breach facts and the watermarks ``breach_sources`` upstream
    shards forward after them (each ``Tick`` naming its shard), from the pipeline; the
    step's watermark then waits for theirs too (see flows/ops/stateful.py)."""
    # per_tenant's steps (same ids: recovery stores stay valid) plus the API's rule
    # changes, keyed by tenant into the same state
    by_tenant = op.key_on(
        "live_ops_by_tenant",
        select("live_ops_events", events, LIVE_OPS_EVENT_TYPES | {ERASURE_EVENT}),
        event_tenant,
    )
    changes = op.filter_map(
        "live_ops_rule_changes", op.input("rules_in", events.flow(), io.rules_source()), rule_change
    )
    keyed_changes = op.key_on("live_ops_rules_by_tenant", changes, change_tenant)
    data = op.merge("live_ops_with_rules", by_tenant, keyed_changes)
    if breaches is not None:
        facts = op.key_on(
            "live_ops_breaches_by_tenant",
            pick("live_ops_breaches", breaches, SlaBreachFact),
            fact_tenant,
        )
        data = op.merge("live_ops_with_breaches", data, facts)
        ticks = op.merge(
            "live_ops_vouched_ticks", ticks, pick("live_ops_breach_ticks", breaches, Tick)
        )
    logic = partial(LiveOpsLogic, cfg, breach_sources=breach_sources if breaches else 0)
    out = ticked("live_ops_out", "live_ops", data, ticks, None, logic)
    snaps = pick("ops_rows", out, OpsSnapshot)
    op.output("ops_snapshots_out", snaps, io.sink(OPS_SNAPSHOTS))
    rows = op.flat_map("queue_rows", snaps, queue_rows)
    op.output("ops_queues_out", rows, io.sink(OPS_QUEUE_SNAPSHOTS))
    pick_out(io, "ops_board_rows", "ops_board_out", out, OPS_AGENT_BOARD)
    # threshold rules: alerts stored, an ended episode's resolution stored (alert_actions);
    # both published to the alerts topic through one sink, so a state change never
    # precedes its alert there (the pipeline's alert output would be a second producer)
    pick_out(io, "ops_rule_alerts", "ops_rule_alerts_out", out, ALERTS)
    pick_out(io, "ops_rule_actions", "ops_rule_actions_out", out, ALERT_ACTIONS)
    feed: Stream[Alert | AlertStateChange] = op.filter_map("ops_rule_feed", out, alert_feed)
    op.output("ops_rule_feed_out", feed, io.sink(ALERT_FEED_TOPIC))
    return Emitted(None, letters("ops_dead_letters", ("ops_letters", out)))
