"""Live operations: the tenant's latest snapshot of queues, agents, CSAT and messages."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import ReaderDep, TenantDep
from api.models import UNAUTHORIZED, ErrorOut, OpsLive, QueueOut

router = APIRouter(prefix="/v1/ops", tags=["ops"], responses=UNAUTHORIZED)


@router.get(
    "/live",
    response_model=OpsLive,
    summary="The latest live-operations snapshot",
    responses={
        404: {
            "model": ErrorOut,
            "description": "No snapshot has been taken for the caller's tenant yet",
        }
    },
)
def ops_live(tenant: TenantDep, reader: ReaderDep) -> OpsLive:
    """The caller's snapshot with the greatest ``as_of`` (event time).

    ``queues`` are sorted by name; each dict lists all its keys, zeros included.
    """
    snap = reader.ops_live(tenant)
    if snap is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail="no live-operations snapshot for this tenant yet",
        )
    return OpsLive(
        as_of=snap.as_of,
        queues=[
            QueueOut(
                queue=q.queue,
                depth=q.depth,
                oldest_wait_s=q.oldest_wait_s,
                avg_wait_s=q.avg_wait_s,
            )
            for q in snap.queues
        ],
        agents_by_status=snap.agents_by_status,
        csat_distribution=snap.csat_distribution,
        messages_last_hour=snap.messages_last_hour,
    )
