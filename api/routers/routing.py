"""Routing recommendations and their adoption (issue #15), tenant-scoped (read scope).

``GET /v1/tickets/{ticket_id}/recommendation`` (and ``/v1/complaints/{id}/...``) answer
the recommendation the routing flow made when the ticket (complaint) was created: the
same document the ``<prefix>routing`` topic carries. ``GET /v1/routing/adoption`` tells a
supervisor how often first assignments followed it and how those tickets turned out
against the others.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import NowDep, ReaderDep, TenantDep
from api.models import UNAUTHORIZED, not_found
from api.time_range import time_range
from schemas.routing import AdoptionReport, RecommendationDocument, SubjectType
from sinks.reader import ResultsReader

router = APIRouter(tags=["routing"], responses=UNAUTHORIZED)

DEFAULT_SPAN = timedelta(days=7)


def _recommendation(
    reader: ResultsReader, tenant: str, subject_type: SubjectType, subject_id: str
) -> RecommendationDocument:
    rec = reader.recommendation(tenant, subject_type, subject_id)
    if rec is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail=f"no recommendation for this {subject_type}",
        )
    return RecommendationDocument.of(rec)


@router.get(
    "/v1/tickets/{ticket_id}/recommendation",
    response_model=RecommendationDocument,
    summary="The agents recommended for a ticket, best first, with each score's factors",
    responses=not_found("The caller's tenant has no recommendation for this ticket"),
)
def ticket_recommendation(
    tenant: TenantDep,
    reader: ReaderDep,
    ticket_id: Annotated[str, Path(min_length=1, max_length=256, description="The ticket id")],
) -> RecommendationDocument:
    """The recommendation made at the ticket's creation: up to N candidates (default 3)
    with their scores and factors, or ``candidates: []`` with ``reason:
    no_eligible_agent`` when nobody could take it then (``no_agent_status`` while the
    tenant has never reported an agent status)."""
    return _recommendation(reader, tenant, "ticket", ticket_id)


@router.get(
    "/v1/complaints/{complaint_id}/recommendation",
    response_model=RecommendationDocument,
    summary="The agents recommended for a complaint (high/critical: CSAT and experience first)",
    responses=not_found("The caller's tenant has no recommendation for this complaint"),
)
def complaint_recommendation(
    tenant: TenantDep,
    reader: ReaderDep,
    complaint_id: Annotated[
        str, Path(min_length=1, max_length=256, description="The complaint id")
    ],
) -> RecommendationDocument:
    return _recommendation(reader, tenant, "complaint", complaint_id)


@router.get(
    "/v1/routing/adoption",
    response_model=AdoptionReport,
    summary="How often first assignments followed the recommendation, and the outcomes",
)
def adoption(
    tenant: TenantDep,
    reader: ReaderDep,
    now: NowDep,
    start: Annotated[
        datetime | None,
        Query(description="Inclusive lower bound on assigned_at (default: end - 7 days)"),
    ] = None,
    end: Annotated[
        datetime | None, Query(description="Exclusive upper bound on assigned_at (default: now)")
    ] = None,
) -> AdoptionReport:
    """Routed tickets first assigned in ``[start, end)`` (event time): how many went to
    the top pick, to another candidate, outside the candidates, and the first-response
    time, handle time, CSAT and reopen rate of followed vs not-followed assignments."""
    start_utc, end_utc = time_range(start, end, now(), DEFAULT_SPAN)
    return reader.adoption(tenant, start_utc, end_utc)
