"""KB suggestion reads and reviewer feedback, per tenant.

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_rows`` and ``_insert``
(see :class:`sinks.sql_host.SqlHost`).
Feedback is the one thing the API writes here: the latest verdict per suggestion
counts, so reviewers may change their mind; precision = accepted / judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from schemas.kb import KbSuggestion
from sinks.sql_host import SqlHost
from sinks.time_values import as_utc

Verdict = Literal["accepted", "dismissed"]

_SUGGESTION_COLUMNS = (
    "s.suggestion_id, s.version, s.tenant_id, s.status, s.title, s.category, s.ticket_ids, "
    "s.size, s.confidence, s.covered_by, s.first_seen, s.updated_at"
)
_SUGGESTIONS_SQL = (
    f"SELECT {_SUGGESTION_COLUMNS}, f.verdict, f.decided_at "
    "FROM (SELECT * FROM kb_suggestions FINAL WHERE tenant_id = {tenant:String} "
    "      AND ({status:String} = '' OR status = {status:String})) AS s "
    "LEFT JOIN (SELECT suggestion_id, verdict, decided_at FROM kb_feedback FINAL "
    "           WHERE tenant_id = {tenant:String}) AS f ON f.suggestion_id = s.suggestion_id "
    "ORDER BY s.size DESC, s.first_seen, s.suggestion_id LIMIT {limit:UInt32} "
    "SETTINGS join_use_nulls = 1"
)
_EXISTS_SQL = (
    "SELECT 1 FROM kb_suggestions WHERE tenant_id = {tenant:String} "
    "AND suggestion_id = {id:UUID} LIMIT 1"
)
_PRECISION_SQL = (
    "SELECT countIf(verdict = 'accepted'), countIf(verdict = 'dismissed') "
    "FROM kb_feedback FINAL WHERE tenant_id = {tenant:String}"
)


@dataclass(frozen=True, slots=True)
class ReviewedSuggestion:
    suggestion: KbSuggestion
    verdict: Verdict | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class KbPrecision:
    accepted: int
    dismissed: int

    @property
    def precision(self) -> float | None:
        judged = self.accepted + self.dismissed
        return self.accepted / judged if judged else None


def _suggestion(row: Sequence[Any]) -> KbSuggestion:
    sid, version, tenant, status, title, cat, tickets, size, conf, covered, first, upd = row
    return KbSuggestion(
        suggestion_id=sid if isinstance(sid, UUID) else UUID(str(sid)),
        version=int(version),
        tenant_id=str(tenant),
        status=status,
        title=str(title),
        category=str(cat),
        ticket_ids=[str(t) for t in tickets],
        size=int(size),
        confidence=float(conf),
        covered_by=None if covered is None else str(covered),
        first_seen=as_utc(first),
        updated_at=as_utc(upd),
    )


class KbQueries:
    """KB reads and feedback writes; mixed into ``ResultsReader``."""

    def kb_suggestions(
        self: SqlHost, tenant_id: str, status: str = "", limit: int = 100
    ) -> list[ReviewedSuggestion]:
        """Suggestions (latest version each), biggest first, with their latest verdict."""
        params = {"tenant": tenant_id, "status": status, "limit": limit}
        out = []
        for row in self._rows(_SUGGESTIONS_SQL, params):
            verdict, decided = row[12], row[13]
            out.append(
                ReviewedSuggestion(
                    _suggestion(row[:12]),
                    verdict or None,
                    None if not verdict or decided is None else as_utc(decided),
                )
            )
        return out

    def kb_suggestion_exists(self: SqlHost, tenant_id: str, suggestion_id: UUID) -> bool:
        return bool(self._rows(_EXISTS_SQL, {"tenant": tenant_id, "id": suggestion_id}))

    def record_kb_feedback(
        self: SqlHost, tenant_id: str, suggestion_id: UUID, verdict: Verdict, decided_at: datetime
    ) -> None:
        self._insert(
            "kb_feedback",
            [[tenant_id, suggestion_id, verdict, decided_at]],
            ("tenant_id", "suggestion_id", "verdict", "decided_at"),
        )

    def kb_precision(self: SqlHost, tenant_id: str) -> KbPrecision:
        rows = self._rows(_PRECISION_SQL, {"tenant": tenant_id})
        accepted, dismissed = rows[0] if rows else (0, 0)
        return KbPrecision(int(accepted), int(dismissed))
