"""Erasure of a data subject (issue #13, README "Privacy"): ``DELETE
/v1/clients/{client_id}/data`` and ``GET /v1/erasures/{erasure_id}``, admin keys only.

The request is recorded in the erasure ledger and sent through the events topic (see
:mod:`sinks.erasure_requests`); it answers 202 with the receipt at once. The flows then
forget the client (``applied``) and the storage writer deletes its rows from every
table (``completed``, with ``rows_deleted_by_table``): poll the receipt's ``Location``.
Another tenant's erasure id is a 404, as an unknown one.
"""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status

from api.deps import AdminCaller, NowDep, ReaderDep, app_state
from api.models import UNAUTHORIZED, ErrorOut, View, not_found
from schemas.privacy import Erasure
from sinks.erasure_requests import ErasureRequester

log = logging.getLogger(__name__)
router = APIRouter(tags=["privacy"], responses=UNAUTHORIZED)

ErasuresDep = Annotated[ErasureRequester, Depends(app_state("erasure_requests"))]
ClientId = Annotated[str, Path(min_length=1, max_length=128, description="The data subject")]


class ErasureReceipt(Erasure, View):
    """An erasure and how far it got (requested, applied by the flows, completed)."""


@router.delete(
    "/v1/clients/{client_id}/data",
    response_model=ErasureReceipt,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Erase a client's data everywhere (GDPR art. 17); admin keys only",
    responses={503: {"model": ErrorOut, "description": "The request did not reach Kafka: retry"}},
)
def erase_client(
    client_id: ClientId,
    caller: AdminCaller,
    requests: ErasuresDep,
    now: NowDep,
    response: Response,
) -> ErasureReceipt:
    """Erases every row of the client in the caller's tenant (events, alerts and their
    deliveries, risk scores, KB suggestion memberships, dead letters) and makes every
    flow forget it; later events naming the client are suppressed (recorded as
    ``erased_subject`` dead letters without their bytes). Answers at once with the
    receipt; ``GET`` its ``Location`` until ``status`` is ``completed``."""
    try:
        receipt = requests.request(caller.tenant, client_id, now())
    except Exception as exc:
        log.exception("an erasure of tenant %s did not reach Kafka", caller.tenant)
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the erasure request did not reach Kafka; retry the request",
        ) from exc
    response.headers["Location"] = f"/v1/erasures/{receipt.erasure_id}"
    return ErasureReceipt(**receipt.model_dump())


@router.get(
    "/v1/erasures/{erasure_id}",
    response_model=ErasureReceipt,
    summary="An erasure's receipt and progress; admin keys only",
    responses=not_found("No erasure with this id in the caller's tenant (yet)"),
)
def get_erasure(
    erasure_id: Annotated[UUID, Path(description="The receipt's erasure_id")],
    caller: AdminCaller,
    reader: ReaderDep,
) -> ErasureReceipt:
    """``requested``: recorded and sent; ``applied``: every flow forgot the client and
    suppresses its events; ``completed``: its rows are gone from every table
    (``rows_deleted_by_table``, ``completed_at``). A just-made request may read as 404
    for the moment the storage writer takes to store it."""
    found = reader.erasure(caller.tenant, erasure_id)
    if found is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no such erasure")
    return ErasureReceipt(**found.model_dump())
