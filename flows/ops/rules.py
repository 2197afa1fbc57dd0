"""Threshold rules on one tenant's live operations: pure evaluation, no Bytewax or I/O.

Semantics
---------
* A rule (:class:`schemas.alert_rules.Rule`) is evaluated at *evaluation points*: after
  each event the live-ops state applies, and at each snapshot grid point (event time,
  integer ms). Evaluation points are in event-time order, so a replay evaluates at the
  same points and gives the same alerts. Between two points nothing is evaluated: a
  condition that starts holding while the tenant is quiet is noticed at the next point.
* At a point ``t`` the rule *holds* when its metric has a value ``v`` and ``v op
  threshold``. The first point of a run of points where it holds starts an *episode*
  (``since = t``). At the first point ``t`` of the episode with ``t - since >= for_s``
  (so exactly at the boundary counts), one alert of kind ``threshold`` fires, with
  ``event_time = t`` and ``alert_id = stable_id("threshold", tenant, rule_id, since)``;
  a replay rewrites it rather than adding one.
* The first point where the rule no longer holds (or has no value) ends the episode. If
  its alert fired, the episode's end resolves it: an ``AlertAction`` (actor ``system``,
  action ``resolve``, at the end's event time) and the matching ``AlertStateChange``
  for the stream. A later run of points where it holds is a new episode.
* A rule that is removed or changed (same id, other content) ends its episode at the
  next evaluation point the same way; the changed rule starts afresh.

A metric without a value (``low_csat_share_1h`` over an hour without ratings) never
holds, whatever the op.

``sla_breaches_1h`` counts the :class:`schemas.alert_rules.SlaBreachFact` s the step
applied (held like events, in event-time order behind a watermark that the client-risk
flow vouches for too, so a breach is in before any point it counts at) whose breach time
``b`` lies in the hour ending at the point: ``t - 1 h < b <= t``. :class:`RecentBreaches`
keeps only the breaches a later point can still count.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from flows.core.timeutil import from_ms
from flows.ops.live_ops import BUCKET_MS, HOUR_MS, LiveOps, bucket_of
from schemas.alert_lifecycle import AlertAction, AlertStateChange
from schemas.alert_rules import QUEUE_METRICS, Rule, SlaBreachFact
from schemas.ids import stable_id
from schemas.results import Alert

LOW_CSAT_MAX = 2  # a rating <= 2 is low (as flows.agents.facts; capabilities don't share)
_HOUR_BUCKETS = HOUR_MS // BUCKET_MS

RuleOut = Alert | AlertAction | AlertStateChange


def threshold_alert_id(tenant_id: str, rule_id: str, since_ms: int) -> UUID:
    return stable_id("threshold", tenant_id, rule_id, since_ms)


def _breach_ms(entry: tuple[int, str, str, str]) -> int:
    return entry[0]


@dataclass
class RecentBreaches:
    """One tenant's SLA breaches that an evaluation point may still count, in time order:
    (breach ms, ticket id, priority, queue). A ticket breaches once; a repeat is ignored."""

    entries: list[tuple[int, str, str, str]] = field(default_factory=list)

    def add(self, fact: SlaBreachFact) -> None:
        entry = (fact.breached_ms, fact.ticket_id, fact.priority, fact.queue)
        i = bisect_left(self.entries, entry)
        if i < len(self.entries) and self.entries[i][:2] == entry[:2]:
            return
        self.entries.insert(i, entry)

    def forget_before(self, point_ms: int) -> None:
        """Drop what no evaluation point at or after ``point_ms`` counts (breach time at
        or before ``point_ms - 1 h``): the state holds at most an hour of breaches."""
        del self.entries[: bisect_right(self.entries, point_ms - HOUR_MS, key=_breach_ms)]

    def count(self, at_ms: int, priority: str | None, queue: str | None) -> int:
        """Breaches with ``at_ms - 1 h < time <= at_ms`` (of the priority and queue)."""
        lo = bisect_right(self.entries, at_ms - HOUR_MS, key=_breach_ms)
        hi = bisect_right(self.entries, at_ms, key=_breach_ms)
        return sum(
            1
            for _, _, p, q in self.entries[lo:hi]
            if (priority is None or p == priority) and (queue is None or q == queue)
        )


class Metrics:
    """The rule metrics of ``ops`` (and of the tenant's recent SLA breaches) at
    ``at_ms``, each computed once per evaluation point (the queue figures in one pass
    over the waiting sessions)."""

    def __init__(self, ops: LiveOps, at_ms: int, breaches: RecentBreaches | None = None) -> None:
        self.ops, self.at_ms = ops, at_ms
        self.breaches = breaches
        self._queues: dict[str, list[int]] | None = None
        self._cache: dict[tuple[str, str], float | None] = {}

    def value(self, metric: str, scope: dict[str, str]) -> float | None:
        key = (metric, "\x1f".join(f"{k}={v}" for k, v in sorted(scope.items())))
        if key not in self._cache:
            self._cache[key] = self._compute(metric, scope)
        return self._cache[key]

    def _waits(self, queue: str | None) -> list[int]:
        if self._queues is None:
            ops, at = self.ops, self.at_ms
            cutoff = at - ops.retention_ms
            queues: dict[str, list[int]] = {}
            for queued_at, (_, q) in ops.waiting.values():
                if queued_at > cutoff:
                    queues.setdefault(q, []).append(max(0, at - queued_at))
            self._queues = queues
        if queue is not None:
            return self._queues.get(queue, [])
        return [w for waits in self._queues.values() for w in waits]

    def _compute(self, metric: str, scope: dict[str, str]) -> float | None:
        ops = self.ops
        if metric in QUEUE_METRICS:
            waits = self._waits(scope.get("queue"))
            if metric == "queue_depth":
                return float(len(waits))
            if not waits:
                return 0.0
            if metric == "queue_oldest_wait_s":
                return max(waits) / 1000
            return sum(waits) / (len(waits) * 1000)
        if metric == "agents_available":
            return float(ops.agent_counts["active"] + ops.agent_counts["idle"])
        if metric == "open_complaints":
            severity = scope.get("severity")
            if severity is None:
                return float(sum(ops.complaint_counts.values()))
            return float(ops.complaint_counts.get(severity, 0))  # type: ignore[call-overload]
        if metric == "messages_last_hour":
            return float(sum(sum(c) for c in self._last_hour(ops.message_buckets)))
        if metric == "sla_breaches_1h":
            if self.breaches is None:
                return 0.0
            return float(self.breaches.count(self.at_ms, scope.get("priority"), scope.get("queue")))
        if metric == "low_csat_share_1h":
            ratings = [0] * 5
            for counts in self._last_hour(ops.csat_buckets):
                for i, n in enumerate(counts):
                    ratings[i] += n
            total = sum(ratings)
            return None if total == 0 else sum(ratings[:LOW_CSAT_MAX]) / total
        raise ValueError(f"unknown metric {metric!r}")

    def _last_hour(self, buckets: dict[int, list[int]]) -> Iterable[list[int]]:
        """The one-minute buckets of the hour ending at ``at_ms`` (as the snapshot's
        windows: ``at_ms`` rounded up to a minute)."""
        last = bucket_of(self.at_ms)
        first = last - _HOUR_BUCKETS
        return (counts for b, counts in buckets.items() if first < b <= last)


@dataclass
class Episode:
    """A run of evaluation points where a rule held."""

    fingerprint: str  # the rule's id and content when it started
    since_ms: int
    alert: Alert | None = None  # once fired


@dataclass
class RuleEvaluator:
    """One tenant's open episodes, by rule id; picklable (it is part of the ops state)."""

    tenant_id: str
    episodes: dict[str, Episode] = field(default_factory=dict)
    last_ms: int | None = None  # latest evaluation point

    def evaluate(
        self,
        rules: Iterable[Rule],
        ops: LiveOps,
        at_ms: int,
        fired_at: datetime,
        breaches: RecentBreaches | None = None,
    ) -> list[RuleOut]:
        """Evaluate ``rules`` on ``ops`` (and ``breaches``) at ``at_ms``; a point earlier
        than the latest one is skipped (evaluation points only move forward)."""
        if self.last_ms is not None and at_ms < self.last_ms:
            return []
        self.last_ms = at_ms
        metrics = Metrics(ops, at_ms, breaches)
        out: list[RuleOut] = []
        seen: set[str] = set()
        for rule in rules:
            seen.add(rule.rule_id)
            value = metrics.value(rule.metric, rule.scope)
            holds = value is not None and (
                value > rule.threshold if rule.op == ">" else value < rule.threshold
            )
            episode = self.episodes.get(rule.rule_id)
            if episode is not None and (not holds or episode.fingerprint != rule.fingerprint()):
                out.extend(self._end(rule.rule_id, at_ms))
                episode = None
            if not holds:
                continue
            assert value is not None
            if episode is None:
                episode = self.episodes[rule.rule_id] = Episode(rule.fingerprint(), at_ms)
            if episode.alert is None and at_ms - episode.since_ms >= rule.for_s * 1000:
                episode.alert = self._alert(rule, episode.since_ms, at_ms, value, fired_at)
                out.append(episode.alert)
        for rule_id in sorted(set(self.episodes) - seen):  # rules removed
            out.extend(self._end(rule_id, at_ms))
        return out

    def _end(self, rule_id: str, at_ms: int) -> list[RuleOut]:
        episode = self.episodes.pop(rule_id)
        if episode.alert is None:
            return []
        action = AlertAction.of(
            self.tenant_id, episode.alert.alert_id, "resolve", "system", from_ms(at_ms)
        )
        return [action, AlertStateChange.of(episode.alert, action)]

    def _alert(
        self, rule: Rule, since_ms: int, at_ms: int, value: float, fired_at: datetime
    ) -> Alert:
        scope = dict(sorted(rule.scope.items()))
        where = "".join(f" {k}={v}" for k, v in scope.items())
        details: dict[str, Any] = {
            "rule_id": rule.rule_id,
            "metric_name": rule.metric,
            "scope": scope,
            "op": rule.op,
            "threshold": rule.threshold,
            "for_s": rule.for_s,
            "actual_value": value,
            "since": from_ms(since_ms).isoformat(),
        }
        return Alert(
            alert_id=threshold_alert_id(self.tenant_id, rule.rule_id, since_ms),
            tenant_id=self.tenant_id,
            kind="threshold",
            severity=rule.severity,
            subject_type="rule",
            subject_id=rule.rule_id,
            title=(
                f"{rule.metric}{where} {rule.op} {rule.threshold:g} for {rule.for_s:g}s "
                f"(now {value:g})"
            ),
            details=details,
            event_time=from_ms(at_ms),
            fired_at=fired_at,
        )
