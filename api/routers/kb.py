"""Knowledge-base suggestions: recurring problems without an article, and reviewer feedback."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import Limit, NowDep, ReaderDep, TenantDep, WriteTenantDep
from api.kb_models import KbFeedbackOut, KbSuggestionList
from api.models import UNAUTHORIZED, not_found
from schemas.kb import KbStatus, Verdict
from sinks.reader import ResultsReader

router = APIRouter(prefix="/v1/kb", tags=["kb"], responses=UNAUTHORIZED)

_NOT_FOUND = not_found("The caller's tenant has no such suggestion")


@router.get(
    "/suggestions",
    response_model=KbSuggestionList,
    summary="KB article suggestions, biggest cluster first, with the feedback precision",
)
def list_suggestions(
    tenant: TenantDep,
    reader: ReaderDep,
    status_: Annotated[
        KbStatus | None,
        Query(alias="status", description="open, covered or withdrawn (default: all)"),
    ] = None,
    limit: Limit = 100,
) -> KbSuggestionList:
    rows = reader.kb_suggestions(tenant, status_ or "", limit)
    return KbSuggestionList.model_validate({"items": rows, "feedback": reader.kb_precision(tenant)})


def _record(
    tenant: str, reader: ResultsReader, suggestion_id: UUID, verdict: Verdict, now: NowDep
) -> KbFeedbackOut:
    if not reader.kb_suggestion_exists(tenant, suggestion_id):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="unknown suggestion")
    decided = now()
    reader.record_kb_feedback(tenant, suggestion_id, verdict, decided)
    return KbFeedbackOut(
        suggestion_id=suggestion_id,
        verdict=verdict,
        decided_at=decided,
        feedback=reader.kb_precision(tenant),
    )


SuggestionId = Annotated[UUID, Path(description="suggestion_id of the suggestion")]


@router.post(
    "/suggestions/{suggestion_id}/accept",
    response_model=KbFeedbackOut,
    summary="Mark a suggestion useful (the latest verdict counts)",
    responses=_NOT_FOUND,
)
def accept(
    tenant: WriteTenantDep, reader: ReaderDep, now: NowDep, suggestion_id: SuggestionId
) -> KbFeedbackOut:
    return _record(tenant, reader, suggestion_id, "accepted", now)


@router.post(
    "/suggestions/{suggestion_id}/dismiss",
    response_model=KbFeedbackOut,
    summary="Mark a suggestion not useful (the latest verdict counts)",
    responses=_NOT_FOUND,
)
def dismiss(
    tenant: WriteTenantDep, reader: ReaderDep, now: NowDep, suggestion_id: SuggestionId
) -> KbFeedbackOut:
    return _record(tenant, reader, suggestion_id, "dismissed", now)
