"""Public response models of the KB-suggestion routes."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from api.models import UtcDatetime, _Out
from schemas.kb import KbStatus

VerdictOut = Literal["accepted", "dismissed"]


class KbPrecisionOut(_Out):
    accepted: int = Field(description="Suggestions whose latest verdict is accepted")
    dismissed: int = Field(description="Suggestions whose latest verdict is dismissed")
    precision: float | None = Field(description="accepted / (accepted + dismissed); None unjudged")


class KbSuggestionOut(_Out):
    suggestion_id: UUID
    status: KbStatus = Field(description="open, or covered once an article covers it")
    title: str = Field(description="Representative subject of the member tickets")
    category: str
    ticket_ids: list[str] = Field(description="Member tickets in arrival order (first 100)")
    size: int = Field(description="Resolved tickets in the cluster")
    confidence: float = Field(description="In (0, 1]: how surely this is one recurring problem")
    covered_by: str | None = Field(description="The article that covered it")
    first_seen: UtcDatetime
    updated_at: UtcDatetime
    verdict: VerdictOut | None = Field(description="The latest reviewer verdict, if any")
    decided_at: UtcDatetime | None


class KbSuggestionList(_Out):
    items: list[KbSuggestionOut]
    feedback: KbPrecisionOut


class KbFeedbackOut(_Out):
    suggestion_id: UUID
    verdict: VerdictOut
    decided_at: UtcDatetime
    feedback: KbPrecisionOut = Field(description="The tenant's precision after this verdict")
