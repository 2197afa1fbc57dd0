"""Bytewax adapter for live operations: one tenant's state, applied in event-time order
behind the tenant's watermark, with history snapshots on an event-time grid and, when
tailing, live snapshots on a wall-clock timer. Each snapshot comes with the board rows
of the agents that changed since the previous one (the board table keeps each agent's
latest row), so a snapshot costs O(changed agents), not O(agents).

When the pipeline hands it the client-risk flow's SLA breaches (``breach_sources`` > 0),
they are held and applied like events, at their breach time, and the tenant's watermark
is the minimum of the input clock's and of every ticket-risk shard's forwarded one: a
shard forwards a watermark after the breaches it decided on it, so every breach a point
counts is applied before it, whatever the batches and interleavings."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flows.core.origin import EventLogic, derived_origin, event_order
from flows.core.stateful import Origin
from flows.core.timeutil import to_ms
from flows.ops.cadence import Cadence
from flows.ops.live_ops import LiveOps
from flows.ops.rules import RecentBreaches, RuleEvaluator, RuleOut
from schemas.alert_rules import MAX_RULES_PER_TENANT, Rule, RuleChange, SlaBreachFact
from schemas.ops import AgentBoardRow, OpsSnapshot
from schemas.transport import Accepted

if TYPE_CHECKING:  # annotations only: capabilities never import the composition
    from flows.config import FlowConfig


@dataclass
class OpsState:
    ops: LiveOps | None
    cadence: Cadence
    changed: bool = field(default=False)
    rules: RuleEvaluator | None = None  # threshold rules' open episodes (issue #12)
    # the API's rules of the tenant: rule id -> (version, rule)
    api_rules: dict[str, tuple[int, Rule]] = field(default_factory=dict)
    # the tenant's SLA breaches of about the last hour (sla_breaches_1h)
    breaches: RecentBreaches = field(default_factory=RecentBreaches)


OpsOut = OpsSnapshot | AgentBoardRow | RuleOut


def emit(ops: LiveOps, as_of_ms: int) -> list[OpsOut]:
    """The snapshot at ``as_of_ms`` (without its board) and the board's changed rows."""
    return [ops.snapshot(as_of_ms, board=False), *ops.board_changes(as_of_ms)]


class LiveOpsLogic(EventLogic[OpsState, OpsOut]):
    """One tenant's live operations (see :mod:`flows.ops.live_ops`).

    The history (grid snapshots) comes from inputs applied in event-time order, so it
    replays identically. The live snapshot also shows the inputs still held back (on a
    copy), so the live view is not behind by the allowed lateness.
    """

    flow = "live_ops"
    cfg: FlowConfig  # the capability tunables, not only the core ones
    hold = True

    def __init__(self, cfg: FlowConfig, snapshot: bytes | None, *, breach_sources: int = 0) -> None:
        self.breach_sources = breach_sources  # ticket-risk shards forwarding watermarks
        super().__init__(cfg, snapshot)

    def new_state(self) -> OpsState:
        return OpsState(None, Cadence(int(self.cfg.ops_snapshot_interval_s * 1000)))

    def tick_sources(self) -> int:
        return 1 + self.breach_sources

    def tenant_of(self, item: Accepted | SlaBreachFact) -> str:
        return item.tenant_id if isinstance(item, SlaBreachFact) else item.event.tenant_id

    def order_of(self, item: Accepted | SlaBreachFact) -> tuple[int, str]:
        if isinstance(item, SlaBreachFact):
            return item.breached_ms, f"sla_breach/{item.ticket_id}"
        return event_order(item)

    def origin_of(self, item: Accepted | SlaBreachFact) -> Origin:
        if isinstance(item, SlaBreachFact):
            return derived_origin(-1, "sla_breach", item.ticket_id, item.tenant_id)
        return super().origin_of(item)

    def on_item(self, item: Accepted | SlaBreachFact) -> Iterable[OpsOut]:
        s = self.state
        if isinstance(item, SlaBreachFact):
            # not an evaluation point: counted from the next one on. No later point is
            # before the grid point under it, so older breaches are forgotten.
            s.breaches.add(item)
            interval = s.cadence.interval_ms
            floor = item.breached_ms - interval
            s.breaches.forget_before(
                floor if s.ops is None else max(floor, s.ops.as_of_ms or floor)
            )
            return ()
        if s.ops is None:
            s.ops = LiveOps(item.event.tenant_id)
        due = s.cadence.due(to_ms(item.event.occurred_at))
        out: list[OpsOut] = []
        if due is not None:
            out.extend(emit(s.ops, due))
            out.extend(self.evaluate(s.ops, due))
        s.ops.on_event(item.event)
        s.changed = True
        if s.ops.as_of_ms is not None:
            out.extend(self.evaluate(s.ops, s.ops.as_of_ms))
            s.breaches.forget_before(s.ops.as_of_ms)  # later points are after it
        return out

    def on_batch(self, values: list[Any]) -> tuple[Iterable[Any], bool]:
        """Rule changes (the API's, from the rules topic) apply on arrival: a rule is
        configuration, evaluated from the next evaluation point on; events and ticks go
        the event-time way."""
        rest = []
        for v in values:
            if isinstance(v, RuleChange):
                self.on_rule_change(v)
            else:
                rest.append(v)
        return super().on_batch(rest)

    def on_rule_change(self, change: RuleChange) -> None:
        """Keep the latest version of each rule; a deletion forgets the rule (so the
        state holds at most the tenant's rule limit, however many come and go)."""
        rules = self.state.api_rules
        known = rules.get(change.rule_id)
        if known is not None and change.version < known[0]:
            return  # an older change never wins
        if change.rule is None:
            rules.pop(change.rule_id, None)
        elif known is not None or len(rules) < MAX_RULES_PER_TENANT:  # the API's bound
            rules[change.rule_id] = (change.version, change.rule)

    def rules_of(self, tenant: str) -> list[Rule]:
        """The file's rules, then the API's by rule id (a file rule's id wins)."""
        rules = list(self.cfg.alert_rules.get(tenant, ()))
        taken = {r.rule_id for r in rules}
        for rule_id in sorted(self.state.api_rules):
            if rule_id not in taken:
                rules.append(self.state.api_rules[rule_id][1])
        return rules

    def evaluate(self, ops: LiveOps, at_ms: int) -> list[RuleOut]:
        """The tenant's threshold rules at an evaluation point (see flows/ops/rules.py)."""
        rules = self.rules_of(ops.tenant_id)
        s = self.state
        if s.rules is None:
            if not rules:
                return []
            s.rules = RuleEvaluator(ops.tenant_id)
        return s.rules.evaluate(rules, ops, at_ms, self.cfg.now(), s.breaches)

    def on_timer(self) -> Iterable[OpsOut]:
        if not self.cfg.provisional:
            return ()
        held = [
            i
            for heap in self.time.held.values()
            for *_, i in sorted(heap)
            if isinstance(i, Accepted)
        ]
        if not held and not self.state.changed:
            return ()
        self.state.changed = False
        live = copy.deepcopy(self.state.ops)
        for a in held:
            if live is None:
                live = LiveOps(a.event.tenant_id)
            live.on_event(a.event)
        if live is None or live.as_of_ms is None:
            return ()
        return emit(live, live.as_of_ms)

    def on_end(self) -> Iterable[OpsOut]:
        ops = self.state.ops
        if ops is None or ops.as_of_ms is None or not self.state.changed:
            return ()
        self.state.changed = False
        return emit(ops, ops.as_of_ms)
