"""Live operations: the tenant's latest snapshot of queues, agents, CSAT, messages, open
complaints and the per-agent live board."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import ReaderDep, TenantDep
from api.models import UNAUTHORIZED, OpsLive, not_found

router = APIRouter(prefix="/v1/ops", tags=["ops"], responses=UNAUTHORIZED)


@router.get(
    "/live",
    response_model=OpsLive,
    summary="The latest live-operations snapshot",
    responses=not_found("No snapshot has been taken for the caller's tenant yet"),
)
def ops_live(tenant: TenantDep, reader: ReaderDep) -> OpsLive:
    """The caller's snapshot with the greatest ``as_of`` (event time), with the live agent
    board (``agents``: every agent's latest board row, by agent id).

    ``queues`` are sorted by name; each dict lists all its keys, zeros included;
    ``messages_peak_hour`` is null before the first message of the UTC day of ``as_of``.
    """
    snap = reader.ops_live(tenant)
    if snap is None:
        raise HTTPException(
            status_code=status.HTTP_404_NOT_FOUND,
            detail="no live-operations snapshot for this tenant yet",
        )
    return OpsLive.model_validate(snap)
