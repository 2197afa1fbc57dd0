"""Threshold rules defined through the API: their rows in ``alert_rules`` (issue #12).

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_named`` and ``_insert``
(see :class:`sinks.sql_host.SqlHost`). Every query is parametrised and tenant-scoped.
"""

from __future__ import annotations

import json
from datetime import datetime

from schemas.alert_rules import Rule, StoredRule
from sinks.sql_host import SqlHost
from sinks.tables import ALERT_RULES

_LIVE = (
    "SELECT rule_id, rule FROM alert_rules FINAL WHERE tenant_id = {tenant:String} AND deleted = 0"
)


class RuleQueries:
    def rules(self: SqlHost, tenant_id: str) -> list[Rule]:
        """The tenant's live API rules, by rule id."""
        rows = self._named(f"{_LIVE} ORDER BY rule_id", {"tenant": tenant_id})
        return [
            Rule.model_validate({**json.loads(r["rule"]), "rule_id": r["rule_id"]}) for r in rows
        ]

    def rule(self: SqlHost, tenant_id: str, rule_id: str) -> Rule | None:
        """One live API rule of the tenant (None: unknown, deleted or another tenant's)."""
        rows = self._named(
            f"{_LIVE} AND rule_id = {{rule:String}}", {"tenant": tenant_id, "rule": rule_id}
        )
        if not rows:
            return None
        return Rule.model_validate({**json.loads(rows[0]["rule"]), "rule_id": rows[0]["rule_id"]})

    def record_rule(
        self: SqlHost, tenant_id: str, rule_id: str, rule: Rule | None, at: datetime, version: int
    ) -> None:
        """Stores a version of a rule (``rule`` None: its deletion)."""
        row = StoredRule.of(tenant_id, rule_id, rule, at, version)
        self._insert(ALERT_RULES.table, [list(ALERT_RULES.to_row(row))], ALERT_RULES.columns)
