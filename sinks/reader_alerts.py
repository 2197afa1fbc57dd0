"""Alert reads with their lifecycle state, and the lifecycle actions the API records.

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_named`` and ``_insert``
(see :class:`sinks.sql_host.SqlHost`).

An alert's state is derived in SQL from its ``alert_actions`` the way
:func:`schemas.alert_lifecycle.state_of` derives it: ``resolved`` once any resolve row
exists, else ``acknowledged`` once any acknowledge row exists, else ``open``; ``state_at``
is the earliest action that reached that state. The actions are aggregated per alert in
a subquery bound to the tenant (the table's sorting key starts with ``tenant_id``,
``alert_id``), then LEFT JOINed to the tenant's alerts, so the state filter applies to
the derived state, before the page is cut. Duplicate rows of one action (a retried
request, a replay) change neither aggregate, so the subquery needs no ``FINAL``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from schemas.alert_lifecycle import AlertAction, AlertState, AlertWithState
from schemas.results import Alert
from sinks.sql_host import SqlHost, read_rows, select_list
from sinks.tables import ALERT_ACTIONS
from sinks.time_values import clamp_ts

_TS = "DateTime64(6, 'UTC')"

# Columns named like AlertWithState's fields: the alert's, then its state.
_SELECT = (
    f"SELECT {select_list(Alert, 'a')}, "
    "multiIf(s.resolved_at IS NOT NULL, 'resolved', "
    "        s.acknowledged_at IS NOT NULL, 'acknowledged', 'open') AS state, "
    "multiIf(s.resolved_at IS NOT NULL, s.resolved_at, s.acknowledged_at) AS state_at "
)
_ACTIONS = (
    "SELECT alert_id, "
    "minIfOrNull(at, action = 'acknowledge') AS acknowledged_at, "
    "minIfOrNull(at, action = 'resolve') AS resolved_at "
    "FROM alert_actions WHERE {where} GROUP BY alert_id"
)


class AlertQueries:
    """Alert reads (with state) and lifecycle writes; mixed into ``ResultsReader``."""

    def alerts(
        self: SqlHost,
        tenant_id: str,
        kind: str | None = None,
        severity: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        state: AlertState | None = None,
        alert_id: UUID | None = None,
    ) -> list[AlertWithState]:
        """The tenant's alerts with their state, newest event first (then ``alert_id``).

        ``since`` bounds ``event_time >=`` (naive is UTC); ``state`` keeps the alerts whose
        *derived* state is that one; ``alert_id`` picks one alert.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where = ["tenant_id = {tenant:String}"]
        params: dict[str, Any] = {"tenant": tenant_id, "limit": limit}
        if alert_id is not None:
            where.append("alert_id = {alert:UUID}")
            params["alert"] = alert_id
        actions_where = " AND ".join(where)  # the tenant (and the alert), nothing else
        if kind is not None:
            where.append("kind = {kind:String}")
            params["kind"] = kind
        if severity is not None:
            where.append("severity = {severity:String}")
            params["severity"] = severity
        if since is not None:
            where.append(f"event_time >= {{since:{_TS}}}")
            params["since"] = clamp_ts(since)
        having = ""
        if state is not None:
            having = "WHERE state = {state:String} "
            params["state"] = state
        # Only names of our own (columns, placeholders) are formatted in; values are bound.
        sql = (
            f"{_SELECT}"
            f"FROM (SELECT * FROM alerts FINAL WHERE {' AND '.join(where)}) AS a "
            f"LEFT JOIN ({_ACTIONS.format(where=actions_where)}) AS s "
            "ON s.alert_id = a.alert_id "
            f"{having}"
            "ORDER BY a.event_time DESC, a.alert_id LIMIT {limit:UInt32} "
            "SETTINGS join_use_nulls = 1"
        )
        return read_rows(self, AlertWithState, sql, params)

    def alert(self: SqlHost, tenant_id: str, alert_id: UUID) -> AlertWithState | None:
        """One of the tenant's alerts with its state; ``None`` when the tenant has no
        such alert (another tenant's alert included)."""
        found = AlertQueries.alerts(self, tenant_id, alert_id=alert_id, limit=1)
        return found[0] if found else None

    def record_alert_action(self: SqlHost, action: AlertAction) -> None:
        """Stores one lifecycle action (a row of ``alert_actions``)."""
        row = list(ALERT_ACTIONS.to_row(action))
        self._insert(ALERT_ACTIONS.table, [row], ALERT_ACTIONS.columns)
