"""Knowledge-base suggestions: recurring problems without an article, and reviewer feedback."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import NowDep, ReaderDep, TenantDep
from api.kb_models import KbFeedbackOut, KbPrecisionOut, KbSuggestionList, KbSuggestionOut
from api.models import UNAUTHORIZED, ErrorOut
from schemas.kb import KbStatus
from sinks.reader import ResultsReader
from sinks.reader_kb import ReviewedSuggestion, Verdict

router = APIRouter(prefix="/v1/kb", tags=["kb"], responses=UNAUTHORIZED)

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "The caller's tenant has no such suggestion"}
}


def _precision(reader: ResultsReader, tenant: str) -> KbPrecisionOut:
    p = reader.kb_precision(tenant)
    return KbPrecisionOut(accepted=p.accepted, dismissed=p.dismissed, precision=p.precision)


def _out(r: ReviewedSuggestion) -> KbSuggestionOut:
    s = r.suggestion
    return KbSuggestionOut(
        suggestion_id=s.suggestion_id,
        status=s.status,
        title=s.title,
        category=s.category,
        ticket_ids=s.ticket_ids,
        size=s.size,
        confidence=s.confidence,
        covered_by=s.covered_by,
        first_seen=s.first_seen,
        updated_at=s.updated_at,
        verdict=r.verdict,
        decided_at=r.decided_at,
    )


@router.get(
    "/suggestions",
    response_model=KbSuggestionList,
    summary="KB article suggestions, biggest cluster first, with the feedback precision",
)
def list_suggestions(
    tenant: TenantDep,
    reader: ReaderDep,
    status_: Annotated[
        KbStatus | None, Query(alias="status", description="open or covered (default: both)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most suggestions returned")] = 100,
) -> KbSuggestionList:
    rows = reader.kb_suggestions(tenant, status_ or "", limit)
    return KbSuggestionList(items=[_out(r) for r in rows], feedback=_precision(reader, tenant))


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
        feedback=_precision(reader, tenant),
    )


SuggestionId = Annotated[UUID, Path(description="suggestion_id of the suggestion")]


@router.post(
    "/suggestions/{suggestion_id}/accept",
    response_model=KbFeedbackOut,
    summary="Mark a suggestion useful (the latest verdict counts)",
    responses=_NOT_FOUND,
)
def accept(
    tenant: TenantDep, reader: ReaderDep, now: NowDep, suggestion_id: SuggestionId
) -> KbFeedbackOut:
    return _record(tenant, reader, suggestion_id, "accepted", now)


@router.post(
    "/suggestions/{suggestion_id}/dismiss",
    response_model=KbFeedbackOut,
    summary="Mark a suggestion not useful (the latest verdict counts)",
    responses=_NOT_FOUND,
)
def dismiss(
    tenant: TenantDep, reader: ReaderDep, now: NowDep, suggestion_id: SuggestionId
) -> KbFeedbackOut:
    return _record(tenant, reader, suggestion_id, "dismissed", now)
