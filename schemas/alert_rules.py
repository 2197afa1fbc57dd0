"""Threshold rules on live operations (issue #12): the rule a tenant defines, validated.

A rule names a ``metric`` of the live-ops state, an optional ``scope`` narrowing it, a
comparison (``op`` ``>`` or ``<`` against ``threshold``) and ``for_s``: how long, in
event time, the comparison must hold before an alert of kind ``threshold`` fires (see
``flows/ops/rules.py`` for the evaluation). Rules come from the rules file
(``CXPULSE_ALERT_RULES_FILE``: tenant id -> list of rules) and from ``POST /v1/rules``.

Validation is strict (unknown fields, metrics, scope keys and ops are refused, sizes are
bounded), so a bad rules file stops the start with the rule and the reason.

Metrics and their scopes
------------------------
* ``queue_depth``, ``queue_oldest_wait_s``, ``queue_avg_wait_s``: scope ``{"queue": q}``
  (one queue) or none (every waiting session of the tenant, as one queue).
* ``agents_available``: agents whose latest status is ``active`` or ``idle``; no scope.
* ``low_csat_share_1h``: the share (0..1) of CSAT ratings <= 2 among the ratings of the
  last hour; no ratings in the hour: no value, so the rule does not hold. No scope.
* ``messages_last_hour``: messages sent in the last hour; no scope.
* ``open_complaints``: open complaints; scope ``{"severity": s}`` or none (all).
* ``sla_breaches_1h``: the tenant's SLA breaches whose breach time (the ticket's
  deadline) lies in the last hour; scope ``{"priority": p}`` and/or ``{"queue": q}`` or
  none. Breaches are judged by the client-risk flow; the pipeline hands them to the
  live-ops flow as :class:`SlaBreachFact` (capabilities do not import each other), so the
  metric is 0 unless the ``client_risk`` flow runs too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.ids import stable_id
from schemas.results import AlertSeverity
from schemas.rows import Row, UtcDatetime

RuleMetric = Literal[
    "queue_depth",
    "queue_oldest_wait_s",
    "queue_avg_wait_s",
    "agents_available",
    "low_csat_share_1h",
    "messages_last_hour",
    "open_complaints",
    "sla_breaches_1h",
]
RULE_METRICS: tuple[str, ...] = RuleMetric.__args__  # type: ignore[attr-defined]
QUEUE_METRICS = frozenset({"queue_depth", "queue_oldest_wait_s", "queue_avg_wait_s"})
# the scope keys each metric accepts (every key optional)
SCOPE_KEYS: dict[str, frozenset[str]] = {
    **dict.fromkeys(QUEUE_METRICS, frozenset({"queue"})),
    "agents_available": frozenset(),
    "low_csat_share_1h": frozenset(),
    "messages_last_hour": frozenset(),
    "open_complaints": frozenset({"severity"}),
    "sla_breaches_1h": frozenset({"priority", "queue"}),
}
COMPLAINT_SEVERITIES = ("low", "medium", "high", "critical")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")

MAX_RULES_PER_TENANT = 100
MAX_ID_CHARS = 64
MAX_SCOPE_CHARS = 128
MAX_THRESHOLD = 1e12
MAX_FOR_S = 7 * 86_400
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
TENANT_PATTERN = r"^[A-Za-z0-9_.-]+$"  # as an event's tenant_id


class RuleSpec(BaseModel):
    """One rule as written in the rules file or posted (``rule_id`` optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID_CHARS,
        pattern=ID_PATTERN,
        description="Stable id; derived from the tenant and the rule's content when missing",
    )
    metric: str = Field(description="One of: " + ", ".join(RULE_METRICS))
    scope: dict[str, str] = Field(
        default_factory=dict,
        description='Narrows the metric: {"queue": q} for queue metrics, '
        '{"severity": s} for open_complaints, {"priority": p} and/or {"queue": q} '
        "for sla_breaches_1h",
    )
    op: Literal[">", "<"]
    threshold: float = Field(ge=-MAX_THRESHOLD, le=MAX_THRESHOLD)
    for_s: float = Field(
        ge=0, le=MAX_FOR_S, description="How long (event time) the condition must hold"
    )
    severity: AlertSeverity

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in RULE_METRICS:
            raise ValueError(f"unknown metric {metric[:40]!r}; known: {', '.join(RULE_METRICS)}")
        return metric

    @field_validator("threshold", "for_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _scope_fits(self) -> RuleSpec:
        allowed = SCOPE_KEYS.get(self.metric, frozenset())
        for key, value in self.scope.items():
            if key not in allowed:
                fits = ", ".join(sorted(allowed)) or "no scope"
                raise ValueError(f"scope key {key[:40]!r} does not apply to {self.metric} ({fits})")
            if not 1 <= len(value) <= MAX_SCOPE_CHARS:
                raise ValueError(f"scope {key} must be 1..{MAX_SCOPE_CHARS} characters")
            if key == "severity" and value not in COMPLAINT_SEVERITIES:
                raise ValueError(f"scope severity must be one of {', '.join(COMPLAINT_SEVERITIES)}")
            if key == "priority" and value not in TICKET_PRIORITIES:
                raise ValueError(f"scope priority must be one of {', '.join(TICKET_PRIORITIES)}")
        return self

    def content(self) -> str:
        """The rule without its id, canonical (what a derived id hashes)."""
        body = self.model_dump(exclude={"rule_id"})
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    def for_tenant(self, tenant_id: str) -> Rule:
        """The rule with its id: the given one, else one derived from tenant and content."""
        rid = self.rule_id or f"r-{stable_id('alert_rule', tenant_id, self.content()).hex[:20]}"
        return Rule(**{**self.model_dump(), "rule_id": rid})


class Rule(RuleSpec):
    """A rule with its id (what the flows evaluate and the API returns)."""

    rule_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)

    def fingerprint(self) -> str:
        """Content and id: an episode of a rule that changed since ends."""
        return f"{self.rule_id}\x1f{self.content()}"


class RulesFileError(ValueError):
    """The rules file cannot be used; the message says where and why."""


_TENANT_RULES = TypeAdapter(dict[str, list[dict[str, Any]]])


def parse_rules(doc: Any) -> dict[str, tuple[Rule, ...]]:
    """The rules of a rules-file document (tenant id -> list of rule objects), checked:
    every rule valid, at most ``MAX_RULES_PER_TENANT`` per tenant, ids unique per tenant."""
    try:
        tenants = _TENANT_RULES.validate_python(doc)
    except ValidationError as exc:
        raise RulesFileError(f"expected an object of tenant id -> list of rules: {exc}") from exc
    out: dict[str, tuple[Rule, ...]] = {}
    for tenant, specs in sorted(tenants.items()):
        if len(tenant) > MAX_ID_CHARS or re.fullmatch(TENANT_PATTERN, tenant) is None:
            raise RulesFileError(f"{tenant[:40]!r} is not a tenant id")
        if len(specs) > MAX_RULES_PER_TENANT:
            raise RulesFileError(
                f"tenant {tenant}: {len(specs)} rules, at most {MAX_RULES_PER_TENANT}"
            )
        rules: dict[str, Rule] = {}
        for i, spec in enumerate(specs):
            try:
                rule = RuleSpec.model_validate(spec).for_tenant(tenant)
            except ValidationError as exc:
                raise RulesFileError(f"tenant {tenant}, rule #{i + 1}: {exc}") from exc
            if rule.rule_id in rules:
                raise RulesFileError(f"tenant {tenant}, rule #{i + 1}: duplicate {rule.rule_id}")
            rules[rule.rule_id] = rule
        out[tenant] = tuple(rules.values())
    return out


def load_rules_file(path: Path | None) -> dict[str, tuple[Rule, ...]]:
    """The rules of the file at ``path`` (None: no rules)."""
    if path is None:
        return {}
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RulesFileError(f"rules file {path}: {exc}") from exc
    try:
        return parse_rules(doc)
    except RulesFileError as exc:
        raise RulesFileError(f"rules file {path}: {exc}") from exc


class StoredRule(Row):
    """One version of an API rule: the row type of ``alert_rules`` (the highest
    ``version`` per rule wins; ``deleted`` 1 is a deletion, with ``rule`` empty)."""

    tenant_id: str
    rule_id: str
    rule: str = Field(description="The rule as JSON, without its rule_id; empty when deleted")
    deleted: int = Field(ge=0, le=1)
    version: int = Field(ge=0, description="Wall time of the change in ms")
    updated_at: UtcDatetime

    @classmethod
    def of(
        cls, tenant_id: str, rule_id: str, rule: Rule | None, at: datetime, version: int
    ) -> StoredRule:
        body = "" if rule is None else rule.model_dump_json(exclude={"rule_id"})
        return cls(
            tenant_id=tenant_id,
            rule_id=rule_id,
            rule=body,
            deleted=int(rule is None),
            version=version,
            updated_at=at,
        )


class RuleChange(BaseModel):
    """A change of an API rule, as published to the compacted rules topic (key
    ``<tenant>/<rule_id>``): ``rule`` None is a deletion. ``version`` (wall time, ms)
    orders the changes of one rule: an older one never replaces a newer one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, pattern=TENANT_PATTERN)
    rule_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)
    rule: Rule | None
    version: int = Field(ge=0)

    @model_validator(mode="after")
    def _same_rule(self) -> RuleChange:
        if self.rule is not None and self.rule.rule_id != self.rule_id:
            raise ValueError("rule.rule_id differs from rule_id")
        return self


@dataclass(frozen=True, slots=True)
class SlaBreachFact:
    """One SLA breach, as the live-ops flow sees it (the pipeline derives it from the
    client-risk flow's ``sla_breach`` alert): a fact, not the alert, so the live-ops
    capability does not depend on the client-risk one. ``breached_ms``: the ticket's
    deadline (event time, ms)."""

    tenant_id: str
    ticket_id: str
    priority: str
    queue: str
    breached_ms: int
