"""The read side of the sinks: what the API asks ClickHouse, tenant by tenant.

Every query is bound to one tenant with server-side parameters (``{name:Type}``), never
by formatting user input into SQL; column lists come from the row types. Tables are
ReplacingMergeTree, so reads use ``FINAL`` to see exactly one (the latest) row per key.
Rows are read by column name and validated into their row type (:mod:`schemas.rows`),
which also makes the naive ``DateTime64(3, 'UTC')`` values some drivers (the embedded
engine among them) return aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.ops import AgentBoardRow, OpsSnapshot, OpsSnapshotRow, QueueRow
from schemas.results import AgentSummary, AgentWindow
from schemas.risk import ClientRisk
from sinks.clickhouse_client import LazyClient
from sinks.reader_alerts import AlertQueries
from sinks.reader_audit import AuditQueries
from sinks.reader_demand import DemandQueries
from sinks.reader_kb import KbQueries
from sinks.reader_privacy import ErasureQueries
from sinks.reader_routing import RoutingQueries
from sinks.reader_rules import RuleQueries
from sinks.sql_host import read_rows, select_list
from sinks.time_values import clamp_ts

ClientFactory = Callable[[], Client]

# Server-side parameter type for instants: microsecond precision, compared as UTC.
_TS = "DateTime64(6, 'UTC')"

# The tenant's reference day is the start of its latest daily window (event time, so a
# replayed history reads as it did then); the rolling CSAT covers that day and the 29
# before it, and "today" is that day. Columns are named like AgentSummary's fields.
_AGENTS_SQL = """
WITH (
    SELECT toStartOfDay(max(window_start))
    FROM agent_performance
    WHERE tenant_id = {tenant:String} AND `window` = '1d'
) AS ref_day
SELECT
    agent_id,
    sumIf(csat_sum, window_start >= ref_day - INTERVAL 29 DAY)
        / nullIf(sumIf(csat_count, window_start >= ref_day - INTERVAL 29 DAY), 0)
        AS csat_avg_30d,
    sumIf(csat_count, window_start >= ref_day - INTERVAL 29 DAY) AS csat_count_30d,
    sumIf(low_csat_count, window_start >= ref_day - INTERVAL 29 DAY) AS low_csat_count_30d,
    sumIf(tickets_assigned, window_start = ref_day) AS tickets_assigned_today,
    sumIf(tickets_resolved, window_start = ref_day) AS tickets_resolved_today,
    sumIf(handle_time_sum_s, window_start = ref_day)
        / nullIf(sumIf(handle_time_count, window_start = ref_day), 0)
        AS avg_handle_time_s_today,
    sumIf(first_response_sum_s, window_start = ref_day)
        / nullIf(sumIf(first_response_count, window_start = ref_day), 0)
        AS avg_first_response_s_today,
    max(window_end) AS last_window_end
FROM agent_performance FINAL
WHERE tenant_id = {tenant:String} AND `window` = '1d'
GROUP BY agent_id
ORDER BY agent_id
"""

_PERFORMANCE_SQL = f"""
SELECT {select_list(AgentWindow)}
FROM agent_performance FINAL
WHERE tenant_id = {{tenant:String}}
  AND `window` = {{window:String}}
  AND agent_id = {{agent:String}}
  AND window_start >= {{start:{_TS}}}
  AND window_start < {{end:{_TS}}}
ORDER BY window_start
"""

_AGENT_EXISTS_SQL = """
SELECT 1 AS found FROM agent_performance
WHERE tenant_id = {tenant:String} AND agent_id = {agent:String}
LIMIT 1
"""

# The latest version of each of the tenant's clients; filters on the score (level) apply
# *after* picking it, so a client is never listed with a superseded score.
_LATEST_RISK_SQL = f"""
SELECT {select_list(ClientRisk)}
FROM client_risk FINAL
WHERE tenant_id = {{tenant:String}}
ORDER BY client_id, version DESC
LIMIT 1 BY client_id
"""

_CLIENT_RISK_SQL = f"""
SELECT {select_list(ClientRisk)}
FROM client_risk FINAL
WHERE tenant_id = {{tenant:String}} AND client_id = {{client:String}}
ORDER BY version DESC
LIMIT {{limit:UInt32}}
"""

_LATEST_OPS_SQL = f"""
SELECT {select_list(OpsSnapshotRow)}
FROM ops_snapshots FINAL
WHERE tenant_id = {{tenant:String}}
ORDER BY as_of DESC
LIMIT 1
"""

_OPS_QUEUES_SQL = f"""
SELECT {select_list(QueueRow)}
FROM ops_queue_snapshots FINAL
WHERE tenant_id = {{tenant:String}} AND as_of = {{as_of:{_TS}}}
ORDER BY queue
"""

# The board keeps each agent's latest state (ReplacingMergeTree(as_of)): one row each.
_OPS_BOARD_SQL = f"""
SELECT {select_list(AgentBoardRow)}
FROM ops_agent_board FINAL
WHERE tenant_id = {{tenant:String}}
ORDER BY agent_id
"""


class ResultsReader(
    AlertQueries,
    DemandQueries,
    KbQueries,
    RuleQueries,
    ErasureQueries,
    AuditQueries,
    RoutingQueries,
):
    """Tenant-scoped reads of cxpulse results; opens its client on first use.

    ``open_client`` must return a client bound to the cxpulse database. The reader is
    shared by the API's worker threads: the client is opened once, under a lock.
    """

    def __init__(self, open_client: ClientFactory) -> None:
        self._lazy = LazyClient(open_client)

    def _get_client(self) -> Client:
        return self._lazy.get()

    def _named(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        result = self._get_client().query(sql, parameters=parameters)
        return list(result.named_results())

    def _insert(self, table: str, rows: list[list[Any]], columns: Sequence[str]) -> None:
        self._get_client().insert(table, rows, column_names=list(columns))

    def ping(self) -> None:
        """``SELECT 1``; raises if ClickHouse cannot be reached or answers wrongly."""
        rows = self._named("SELECT 1 AS one", {})
        if not rows or rows[0].get("one") != 1:
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
        return read_rows(self, AgentSummary, _AGENTS_SQL, {"tenant": tenant_id})

    def agent_exists(self, tenant_id: str, agent_id: str) -> bool:
        """Whether the tenant has any row (any window) for this agent."""
        return bool(self._named(_AGENT_EXISTS_SQL, {"tenant": tenant_id, "agent": agent_id}))

    def agent_performance(
        self,
        tenant_id: str,
        agent_id: str,
        window: str,
        start: datetime,
        end: datetime,
    ) -> list[AgentWindow]:
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
        return read_rows(self, AgentWindow, _PERFORMANCE_SQL, params)

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
        return read_rows(self, ClientRisk, sql, params)

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
        history = read_rows(self, ClientRisk, _CLIENT_RISK_SQL, params)
        if not history:
            return None
        return history[0], history

    def ops_live(self, tenant_id: str) -> OpsSnapshot | None:
        """The tenant's latest live-operations snapshot (greatest ``as_of``), or ``None``,
        with its queues and the board: every agent's latest board row."""
        rows = read_rows(self, OpsSnapshotRow, _LATEST_OPS_SQL, {"tenant": tenant_id})
        if not rows:
            return None
        params = {"tenant": tenant_id, "as_of": rows[0].as_of}
        queues = read_rows(self, QueueRow, _OPS_QUEUES_SQL, params)
        board = read_rows(self, AgentBoardRow, _OPS_BOARD_SQL, {"tenant": tenant_id})
        return rows[0].snapshot([q.state for q in queues], [b.state for b in board])
