"""Reads of routing recommendations and the adoption of their decisions (issue #15).

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_named`` (see
:class:`sinks.sql_host.SqlHost`). Every query is bound to the caller's tenant with a
server-side parameter; the adoption figures are aggregated in SQL over the latest
version of each decision (``FINAL``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.routing import AdoptionReport, OutcomeFigures, RoutingRecommendation, SubjectType
from sinks.sql_host import SqlHost, read_rows, select_list

_TS = "DateTime64(6, 'UTC')"
_RECOMMENDATION_SQL = f"""
SELECT {select_list(RoutingRecommendation)}
FROM routing_recommendations FINAL
WHERE tenant_id = {{tenant:String}}
  AND subject_type = {{subject_type:String}}
  AND subject_id = {{subject_id:String}}
LIMIT 1
"""

# one group of decisions: "f" followed (a candidate got it), "n" not followed
_GROUPS = {"f": "adoption != 'outside'", "n": "adoption = 'outside'"}
_GROUP_COLUMNS = ",\n".join(
    f"countIf({cond}) AS {g}_assignments, "
    f"avgOrNullIf(first_response_s, {cond}) AS {g}_first_response_s_avg, "
    f"avgOrNullIf(handle_time_s, {cond}) AS {g}_handle_time_s_avg, "
    f"avgOrNullIf(csat, {cond}) AS {g}_csat_avg, "
    f"countIf({cond} AND csat IS NOT NULL) AS {g}_csat_count, "
    f"countIf({cond} AND handle_time_s IS NOT NULL) AS {g}_resolved, "
    f"countIf({cond} AND reopened) AS {g}_reopened"
    for g, cond in _GROUPS.items()
)
_ADOPTION_SQL = f"""
SELECT
    count() AS decisions,
    countIf(adoption = 'top') AS top,
    countIf(adoption = 'top_n') AS top_n,
    countIf(adoption = 'outside') AS outside,
    countIf(assigned_by = 'auto') AS auto,
    {_GROUP_COLUMNS}
FROM routing_decisions FINAL
WHERE tenant_id = {{tenant:String}}
  AND assigned_at >= {{start:{_TS}}}
  AND assigned_at < {{end:{_TS}}}
"""


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _figures(row: dict[str, Any], g: str) -> OutcomeFigures:
    resolved = int(row[f"{g}_resolved"])
    return OutcomeFigures(
        assignments=int(row[f"{g}_assignments"]),
        first_response_s_avg=row[f"{g}_first_response_s_avg"],
        handle_time_s_avg=row[f"{g}_handle_time_s_avg"],
        csat_avg=row[f"{g}_csat_avg"],
        csat_count=int(row[f"{g}_csat_count"]),
        resolved=resolved,
        reopen_rate=_ratio(int(row[f"{g}_reopened"]), resolved),
    )


class RoutingQueries:
    def recommendation(
        self: SqlHost, tenant_id: str, subject_type: SubjectType, subject_id: str
    ) -> RoutingRecommendation | None:
        """The tenant's recommendation for one ticket or complaint, if any."""
        rows = read_rows(
            self,
            RoutingRecommendation,
            _RECOMMENDATION_SQL,
            {"tenant": tenant_id, "subject_type": subject_type, "subject_id": subject_id},
        )
        return rows[0] if rows else None

    def adoption(self: SqlHost, tenant_id: str, start: datetime, end: datetime) -> AdoptionReport:
        """Adoption and outcomes of the tenant's tickets first assigned in [start, end)."""
        (row,) = self._named(_ADOPTION_SQL, {"tenant": tenant_id, "start": start, "end": end})
        decisions = int(row["decisions"])
        top, top_n = int(row["top"]), int(row["top_n"])
        return AdoptionReport(
            start=start,
            end=end,
            decisions=decisions,
            top=top,
            top_n=top_n,
            outside=int(row["outside"]),
            auto=int(row["auto"]),
            adoption_rate=_ratio(top + top_n, decisions),
            top_pick_rate=_ratio(top, decisions),
            followed=_figures(row, "f"),
            not_followed=_figures(row, "n"),
        )
