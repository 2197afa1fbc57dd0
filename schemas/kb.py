"""Knowledge-base suggestion rows: recurring resolved problems no article covers yet.

One row per suggestion, rewritten (``version`` + 1) whenever its cluster grows or its
status changes, so a ReplacingMergeTree keyed by ``suggestion_id`` keeps the latest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

KbStatus = Literal["open", "covered"]
KB_STATUSES: tuple[KbStatus, ...] = ("open", "covered")
KB_MAX_TICKET_IDS = 100  # ticket_ids lists the first members only; ``size`` counts all


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class KbSuggestion(_Row):
    """A cluster of similar resolved tickets that deserves (or got) a KB article."""

    suggestion_id: UUID = Field(
        description="stable_id('kb_suggestion', tenant_id, seed ticket id of the cluster)"
    )
    version: int = Field(ge=1, description="grows with every change of this suggestion")
    tenant_id: str
    status: KbStatus
    title: str = Field(description="subject of the member closest to the cluster centroid")
    category: str = Field(description="most common member category (ties: first seen)")
    ticket_ids: list[str] = Field(
        max_length=KB_MAX_TICKET_IDS, description="first members, in arrival order"
    )
    size: int = Field(ge=1, description="all members, including those not listed")
    confidence: float = Field(gt=0.0, le=1.0)
    covered_by: str | None = Field(default=None, description="article_id that covered it")
    first_seen: datetime = Field(description="event time of the earliest member")
    updated_at: datetime = Field(description="event time of the latest change")
