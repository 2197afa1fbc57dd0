"""Public response models of the KB-suggestion routes (see :class:`api.models.View`)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from api.models import UtcDatetime, View, _Out
from schemas.kb import KbPrecision, ReviewedSuggestion, Verdict


class KbPrecisionOut(KbPrecision, View):
    """The tenant's reviewer feedback so far."""


class KbSuggestionOut(ReviewedSuggestion, View):
    """A suggestion with its latest reviewer verdict."""

    hidden = ("version", "tenant_id")


class KbSuggestionList(_Out):
    items: list[KbSuggestionOut]
    feedback: KbPrecisionOut


class KbFeedbackOut(_Out):
    suggestion_id: UUID
    verdict: Verdict
    decided_at: UtcDatetime
    feedback: KbPrecisionOut = Field(description="The tenant's precision after this verdict")
