"""The read side of the sinks: what the API asks ClickHouse, tenant by tenant.

Every query is bound to one tenant with server-side parameters (``{name:Type}``), never
by formatting user input into SQL. Tables are ReplacingMergeTree, so reads use ``FINAL``
to see exactly one (the latest) row per key. ClickHouse ``DateTime64(3, 'UTC')`` values
come back naive from some drivers (the embedded engine among them); they are turned
into aware UTC datetimes here so nothing downstream has to guess.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from schemas.ops import AGENT_STATUSES, CSAT_RATINGS, MESSAGE_KINDS, OpsSnapshot, QueueState
from schemas.risk import ClientRisk, RiskFactor
from sinks.clickhouse_client import LazyClient
from sinks.reader_demand import DemandQueries
from sinks.reader_kb import KbQueries
from sinks.time_values import as_utc, clamp_ts

ClientFactory = Callable[[], Client]

# Server-side parameter type for instants: microsecond precision, compared as UTC.
_TS = "DateTime64(6, 'UTC')"


def _ratio(total: float, count: int) -> float | None:
    return total / count if count else None


@dataclass(frozen=True, slots=True)
class AgentSummary:
    """One agent's current figures: rolling 30-day CSAT and its latest day."""

    agent_id: str
    csat_avg_30d: float | None
    csat_count_30d: int
    low_csat_count_30d: int
    tickets_assigned_today: int
    tickets_resolved_today: int
    avg_handle_time_s_today: float | None
    avg_first_response_s_today: float | None
    last_window_end: datetime


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    """One agent's metrics in one window (the latest version of the row)."""

    window_start: datetime
    window_end: datetime
    tickets_assigned: int
    tickets_resolved: int
    avg_handle_time_s: float | None
    avg_first_response_s: float | None
    csat_avg: float | None
    csat_count: int
    low_csat_count: int
    is_final: bool


@dataclass(frozen=True, slots=True)
class AlertOut:
    """One stored alert, details parsed from JSON."""

    alert_id: UUID
    tenant_id: str
    kind: str
    severity: str
    subject_type: str
    subject_id: str
    title: str
    details: dict[str, Any]
    event_time: datetime
    fired_at: datetime


# The tenant's reference day is the start of its latest daily window (event time, so a
# replayed history reads as it did then); the rolling CSAT covers that day and the 29
# before it, and "today" is that day.
_AGENTS_SQL = """
WITH (
    SELECT toStartOfDay(max(window_start))
    FROM agent_performance
    WHERE tenant_id = {tenant:String} AND `window` = '1d'
) AS ref_day
SELECT
    agent_id,
    sumIf(csat_sum, window_start >= ref_day - INTERVAL 29 DAY) AS csat_sum_30d,
    sumIf(csat_count, window_start >= ref_day - INTERVAL 29 DAY) AS csat_count_30d,
    sumIf(low_csat_count, window_start >= ref_day - INTERVAL 29 DAY) AS low_csat_count_30d,
    sumIf(tickets_assigned, window_start = ref_day) AS assigned_today,
    sumIf(tickets_resolved, window_start = ref_day) AS resolved_today,
    sumIf(handle_time_sum_s, window_start = ref_day) AS handle_sum_today,
    sumIf(handle_time_count, window_start = ref_day) AS handle_count_today,
    sumIf(first_response_sum_s, window_start = ref_day) AS first_response_sum_today,
    sumIf(first_response_count, window_start = ref_day) AS first_response_count_today,
    max(window_end) AS last_window_end
FROM agent_performance FINAL
WHERE tenant_id = {tenant:String} AND `window` = '1d'
GROUP BY agent_id
ORDER BY agent_id
"""

_PERFORMANCE_SQL = f"""
SELECT window_start, window_end, tickets_assigned, tickets_resolved,
       avg_handle_time_s, avg_first_response_s, csat_avg, csat_count, low_csat_count,
       is_final
FROM agent_performance FINAL
WHERE tenant_id = {{tenant:String}}
  AND `window` = {{window:String}}
  AND agent_id = {{agent:String}}
  AND window_start >= {{start:{_TS}}}
  AND window_start < {{end:{_TS}}}
ORDER BY window_start
"""

_AGENT_EXISTS_SQL = """
SELECT count() > 0
FROM (
    SELECT 1 FROM agent_performance
    WHERE tenant_id = {tenant:String} AND agent_id = {agent:String}
    LIMIT 1
)
"""

_RISK_COLUMNS = (
    "risk_id, tenant_id, client_id, version, scored_at, churn_probability, risk_level, "
    "factor_names, factor_contributions, trigger_event_id"
)

# The latest version of each of the tenant's clients; filters on the score (level) apply
# *after* picking it, so a client is never listed with a superseded score.
_LATEST_RISK_SQL = f"""
SELECT {_RISK_COLUMNS}
FROM client_risk FINAL
WHERE tenant_id = {{tenant:String}}
ORDER BY client_id, version DESC
LIMIT 1 BY client_id
"""

_CLIENT_RISK_SQL = f"""
SELECT {_RISK_COLUMNS}
FROM client_risk FINAL
WHERE tenant_id = {{tenant:String}} AND client_id = {{client:String}}
ORDER BY version DESC
LIMIT {{limit:UInt32}}
"""

_OPS_COLUMNS = (
    "as_of, agents_active, agents_idle, agents_in_call, agents_offline, "
    "csat_1, csat_2, csat_3, csat_4, csat_5, "
    "messages_text, messages_image, messages_file, messages_audio, messages_video"
)

_LATEST_OPS_SQL = f"""
SELECT {_OPS_COLUMNS}
FROM ops_snapshots FINAL
WHERE tenant_id = {{tenant:String}}
ORDER BY as_of DESC
LIMIT 1
"""

_OPS_QUEUES_SQL = f"""
SELECT queue, depth, oldest_wait_s, avg_wait_s
FROM ops_queue_snapshots FINAL
WHERE tenant_id = {{tenant:String}} AND as_of = {{as_of:{_TS}}}
ORDER BY queue
"""

_ALERT_COLUMNS = (
    "alert_id, tenant_id, kind, severity, subject_type, subject_id, title, details, "
    "event_time, fired_at"
)


class ResultsReader(DemandQueries, KbQueries):
    """Tenant-scoped reads of cxpulse results; opens its client on first use.

    ``open_client`` must return a client bound to the cxpulse database. The reader is
    shared by the API's worker threads: the client is opened once, under a lock.
    """

    def __init__(self, open_client: ClientFactory) -> None:
        self._lazy = LazyClient(open_client)

    def _get_client(self) -> Client:
        return self._lazy.get()

    def _rows(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        result = self._get_client().query(sql, parameters=parameters)
        rows: Sequence[Sequence[Any]] = result.result_rows
        return rows

    def _insert(self, table: str, rows: list[list[Any]], columns: Sequence[str]) -> None:
        self._get_client().insert(table, rows, column_names=list(columns))

    def ping(self) -> None:
        """``SELECT 1``; raises if ClickHouse cannot be reached or answers wrongly."""
        rows = self._rows("SELECT 1", {})
        if not rows or rows[0][0] != 1:
            raise RuntimeError(f"unexpected answer to SELECT 1: {rows!r}")

    def close(self) -> None:
        self._lazy.close()

    def agents(self, tenant_id: str) -> list[AgentSummary]:
        """Every agent of the tenant with a daily window, ordered by agent id.

        The reference day is the start of the tenant's latest daily window (event time,
        not the wall clock). ``csat_*_30d`` sum the daily windows from 29 days before it
        through it; the ``*_today`` figures are the agent's daily window *on that day*
        (zero / ``None`` when the agent had no activity that day); ``last_window_end``
        is the end of the agent's latest daily window.
        """
        out: list[AgentSummary] = []
        for row in self._rows(_AGENTS_SQL, {"tenant": tenant_id}):
            (
                agent_id,
                csat_sum,
                csat_count,
                low_csat,
                assigned,
                resolved,
                handle_sum,
                handle_count,
                first_sum,
                first_count,
                last_end,
            ) = row
            out.append(
                AgentSummary(
                    agent_id=str(agent_id),
                    csat_avg_30d=_ratio(float(csat_sum), int(csat_count)),
                    csat_count_30d=int(csat_count),
                    low_csat_count_30d=int(low_csat),
                    tickets_assigned_today=int(assigned),
                    tickets_resolved_today=int(resolved),
                    avg_handle_time_s_today=_ratio(float(handle_sum), int(handle_count)),
                    avg_first_response_s_today=_ratio(float(first_sum), int(first_count)),
                    last_window_end=as_utc(last_end),
                )
            )
        return out

    def agent_exists(self, tenant_id: str, agent_id: str) -> bool:
        """Whether the tenant has any row (any window) for this agent."""
        rows = self._rows(_AGENT_EXISTS_SQL, {"tenant": tenant_id, "agent": agent_id})
        return bool(rows and rows[0][0])

    def agent_performance(
        self,
        tenant_id: str,
        agent_id: str,
        window: str,
        start: datetime,
        end: datetime,
    ) -> list[WindowMetrics]:
        """The agent's ``window`` rows with ``start <= window_start < end``, oldest first.

        Naive ``start``/``end`` are taken as UTC; both are clamped to ``DateTime64``'s range.
        """
        params = {
            "tenant": tenant_id,
            "agent": agent_id,
            "window": window,
            "start": clamp_ts(start),
            "end": clamp_ts(end),
        }
        return [
            WindowMetrics(
                window_start=as_utc(ws),
                window_end=as_utc(we),
                tickets_assigned=int(assigned),
                tickets_resolved=int(resolved),
                avg_handle_time_s=None if aht is None else float(aht),
                avg_first_response_s=None if afr is None else float(afr),
                csat_avg=None if csat is None else float(csat),
                csat_count=int(csat_count),
                low_csat_count=int(low),
                is_final=bool(final),
            )
            for (
                ws,
                we,
                assigned,
                resolved,
                aht,
                afr,
                csat,
                csat_count,
                low,
                final,
            ) in self._rows(_PERFORMANCE_SQL, params)
        ]

    def alerts(
        self,
        tenant_id: str,
        kind: str | None = None,
        severity: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AlertOut]:
        """The tenant's alerts, newest event first; ``since`` bounds ``event_time >=``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where = ["tenant_id = {tenant:String}"]
        params: dict[str, Any] = {"tenant": tenant_id, "limit": limit}
        if kind is not None:
            where.append("kind = {kind:String}")
            params["kind"] = kind
        if severity is not None:
            where.append("severity = {severity:String}")
            params["severity"] = severity
        if since is not None:
            where.append(f"event_time >= {{since:{_TS}}}")
            params["since"] = clamp_ts(since)
        sql = (
            f"SELECT {_ALERT_COLUMNS} FROM alerts FINAL WHERE {' AND '.join(where)} "
            "ORDER BY event_time DESC, alert_id LIMIT {limit:UInt32}"
        )
        return [
            AlertOut(
                alert_id=_uuid(alert_id),
                tenant_id=str(tenant),
                kind=str(kind_),
                severity=str(severity_),
                subject_type=str(subject_type),
                subject_id=str(subject_id),
                title=str(title),
                details=_parse_details(details),
                event_time=as_utc(event_time),
                fired_at=as_utc(fired_at),
            )
            for (
                alert_id,
                tenant,
                kind_,
                severity_,
                subject_type,
                subject_id,
                title,
                details,
                event_time,
                fired_at,
            ) in self._rows(sql, params)
        ]

    def client_risks(
        self, tenant_id: str, level: str | None = None, limit: int = 100
    ) -> list[ClientRisk]:
        """The latest score of each client, most likely to churn first (then client id).

        ``level`` keeps only clients whose *latest* score has that level.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        params: dict[str, Any] = {"tenant": tenant_id, "limit": limit}
        where = ""
        if level is not None:
            where = "WHERE risk_level = {level:String}"
            params["level"] = level
        sql = (
            f"SELECT * FROM ({_LATEST_RISK_SQL}) {where} "
            "ORDER BY churn_probability DESC, client_id LIMIT {limit:UInt32}"
        )
        return [_client_risk(row) for row in self._rows(sql, params)]

    def client_risk(
        self, tenant_id: str, client_id: str, history_limit: int = 100
    ) -> tuple[ClientRisk, list[ClientRisk]] | None:
        """``(current, history)`` of one client, or ``None`` if the tenant has no such client.

        ``history`` holds the client's latest ``history_limit`` versions, newest first; its
        first element is ``current``.
        """
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        params = {"tenant": tenant_id, "client": client_id, "limit": history_limit}
        history = [_client_risk(row) for row in self._rows(_CLIENT_RISK_SQL, params)]
        if not history:
            return None
        return history[0], history

    def ops_live(self, tenant_id: str) -> OpsSnapshot | None:
        """The tenant's latest live-operations snapshot (greatest ``as_of``), or ``None``."""
        rows = self._rows(_LATEST_OPS_SQL, {"tenant": tenant_id})
        if not rows:
            return None
        as_of_raw, *counts = rows[0]
        as_of = as_utc(as_of_raw)
        agents, csat, messages = counts[:4], counts[4:9], counts[9:14]
        queue_rows = self._rows(_OPS_QUEUES_SQL, {"tenant": tenant_id, "as_of": as_of})
        return OpsSnapshot(
            tenant_id=tenant_id,
            as_of=as_of,
            queues=[
                QueueState(
                    queue=str(queue),
                    depth=int(depth),
                    oldest_wait_s=float(oldest),
                    avg_wait_s=float(avg),
                )
                for queue, depth, oldest, avg in queue_rows
            ],
            agents_by_status={s: int(n) for s, n in zip(AGENT_STATUSES, agents, strict=True)},
            csat_distribution={r: int(n) for r, n in zip(CSAT_RATINGS, csat, strict=True)},
            messages_last_hour={k: int(n) for k, n in zip(MESSAGE_KINDS, messages, strict=True)},
        )


def _uuid(raw: Any) -> UUID:
    return raw if isinstance(raw, UUID) else UUID(str(raw))


def _client_risk(row: Sequence[Any]) -> ClientRisk:
    (
        risk_id,
        tenant,
        client,
        version,
        scored_at,
        probability,
        level,
        names,
        contributions,
        trigger,
    ) = row
    return ClientRisk(
        risk_id=_uuid(risk_id),
        tenant_id=str(tenant),
        client_id=str(client),
        version=int(version),
        scored_at=as_utc(scored_at),
        churn_probability=float(probability),
        risk_level=str(level),  # validated against RiskLevel by the model
        factors=[
            RiskFactor(name=str(n), contribution=float(c))
            for n, c in zip(names, contributions, strict=True)
        ],
        trigger_event_id=_uuid(trigger),
    )


def _parse_details(raw: Any) -> dict[str, Any]:
    """The stored JSON object; anything else is kept, wrapped, rather than lost."""
    text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return {"raw": text}
    if isinstance(parsed, dict):
        return parsed
    return {"value": parsed}
