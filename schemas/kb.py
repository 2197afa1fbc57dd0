"""Knowledge-base suggestion rows: recurring resolved problems no article covers yet.

One row per suggestion, rewritten (``version`` + 1) whenever its cluster grows or its
status changes, so a ReplacingMergeTree keyed by ``suggestion_id`` keeps the latest.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, computed_field

from schemas.rows import Row, UtcDatetime

# withdrawn: its client's tickets were erased and too few members are left (issue #13)
KbStatus = Literal["open", "covered", "withdrawn"]
KB_STATUSES: tuple[KbStatus, ...] = ("open", "covered", "withdrawn")
KB_MAX_TICKET_IDS = 100  # ticket_ids lists the first members only; ``size`` counts all
Verdict = Literal["accepted", "dismissed"]


class KbSuggestion(Row):
    """A cluster of similar resolved tickets that deserves (or got) a KB article."""

    suggestion_id: UUID = Field(
        description="stable_id('kb_suggestion', tenant_id, seed ticket id of the cluster)"
    )
    version: int = Field(ge=1, description="grows with every change of this suggestion")
    tenant_id: str
    status: KbStatus = Field(
        description="open; covered once an article covers it; withdrawn when an erasure "
        "left too few members"
    )
    title: str = Field(
        description="Representative subject: the member closest to the cluster centroid"
    )
    category: str = Field(description="Most common member category (ties: first seen)")
    ticket_ids: list[str] = Field(
        max_length=KB_MAX_TICKET_IDS,
        description=f"Member tickets in arrival order (first {KB_MAX_TICKET_IDS})",
    )
    size: int = Field(ge=1, description="Resolved tickets in the cluster, listed or not")
    confidence: float = Field(
        gt=0.0, le=1.0, description="In (0, 1]: how surely this is one recurring problem"
    )
    covered_by: str | None = Field(default=None, description="The article that covered it")
    first_seen: UtcDatetime = Field(description="Event time of the earliest member")
    updated_at: UtcDatetime = Field(description="Event time of the latest change")


class ReviewedSuggestion(KbSuggestion):
    """A suggestion with the latest reviewer verdict on it (``kb_feedback``), if any."""

    verdict: Verdict | None = Field(description="The latest reviewer verdict, if any")
    decided_at: UtcDatetime | None = Field(description="When that verdict was given")


class KbPrecision(Row):
    """A tenant's reviewer feedback: precision = accepted / judged."""

    accepted: int = Field(description="Suggestions whose latest verdict is accepted")
    dismissed: int = Field(description="Suggestions whose latest verdict is dismissed")

    @computed_field(description="accepted / (accepted + dismissed); None unjudged")  # type: ignore[prop-decorator]
    @property
    def precision(self) -> float | None:
        judged = self.accepted + self.dismissed
        return self.accepted / judged if judged else None


class KbFeedback(Row):
    """One reviewer verdict on a suggestion: the row type of ``kb_feedback`` (the latest
    ``decided_at`` per suggestion counts)."""

    tenant_id: str
    suggestion_id: UUID
    verdict: Verdict
    decided_at: UtcDatetime = Field(description="Wall time of the decision")
