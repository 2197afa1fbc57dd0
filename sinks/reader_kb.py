"""KB suggestion reads and reviewer feedback, per tenant.

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_named`` and ``_insert``
(see :class:`sinks.sql_host.SqlHost`).
Feedback is the one thing the API writes here: the latest verdict per suggestion
counts, so reviewers may change their mind; precision = accepted / judged.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from schemas.kb import KbFeedback, KbPrecision, KbSuggestion, ReviewedSuggestion, Verdict
from sinks.sql_host import SqlHost, read_rows, select_list
from sinks.tables import KB_FEEDBACK

# Columns named like ReviewedSuggestion's fields: the suggestion's, then its verdict.
_SUGGESTIONS_SQL = (
    f"SELECT {select_list(KbSuggestion, 's')}, f.verdict, f.decided_at "
    "FROM (SELECT * FROM kb_suggestions FINAL WHERE tenant_id = {tenant:String} "
    "      AND ({status:String} = '' OR status = {status:String})) AS s "
    "LEFT JOIN (SELECT suggestion_id, verdict, decided_at FROM kb_feedback FINAL "
    "           WHERE tenant_id = {tenant:String}) AS f ON f.suggestion_id = s.suggestion_id "
    "ORDER BY s.size DESC, s.first_seen, s.suggestion_id LIMIT {limit:UInt32} "
    "SETTINGS join_use_nulls = 1"
)
_EXISTS_SQL = (
    "SELECT 1 AS found FROM kb_suggestions WHERE tenant_id = {tenant:String} "
    "AND suggestion_id = {id:UUID} LIMIT 1"
)
_PRECISION_SQL = (
    "SELECT countIf(verdict = 'accepted') AS accepted, "
    "countIf(verdict = 'dismissed') AS dismissed "
    "FROM kb_feedback FINAL WHERE tenant_id = {tenant:String}"
)


class KbQueries:
    """KB reads and feedback writes; mixed into ``ResultsReader``."""

    def kb_suggestions(
        self: SqlHost, tenant_id: str, status: str = "", limit: int = 100
    ) -> list[ReviewedSuggestion]:
        """Suggestions (latest version each), biggest first, with their latest verdict."""
        params = {"tenant": tenant_id, "status": status, "limit": limit}
        return read_rows(self, ReviewedSuggestion, _SUGGESTIONS_SQL, params)

    def kb_suggestion_exists(self: SqlHost, tenant_id: str, suggestion_id: UUID) -> bool:
        return bool(self._named(_EXISTS_SQL, {"tenant": tenant_id, "id": suggestion_id}))

    def record_kb_feedback(
        self: SqlHost, tenant_id: str, suggestion_id: UUID, verdict: Verdict, decided_at: datetime
    ) -> None:
        row = KbFeedback(
            tenant_id=tenant_id, suggestion_id=suggestion_id, verdict=verdict, decided_at=decided_at
        )
        self._insert(KB_FEEDBACK.table, [list(KB_FEEDBACK.to_row(row))], KB_FEEDBACK.columns)

    def kb_precision(self: SqlHost, tenant_id: str) -> KbPrecision:
        rows = read_rows(self, KbPrecision, _PRECISION_SQL, {"tenant": tenant_id})
        return rows[0] if rows else KbPrecision(accepted=0, dismissed=0)
