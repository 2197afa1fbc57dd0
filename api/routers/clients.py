"""Client churn risk: current scores, one client's history, and what-if rescoring."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import Limit, ReaderDep, RiskModelDep, TenantDep
from api.models import (
    UNAUTHORIZED,
    ClientRiskDetail,
    ClientRiskList,
    ClientRiskWhatIf,
    not_found,
)
from schemas.risk import FACTOR_NAMES, RiskLevel

router = APIRouter(prefix="/v1/clients", tags=["clients"], responses=UNAUTHORIZED)

ClientId = Annotated[str, Path(min_length=1, max_length=256)]
_NOT_FOUND = not_found("The caller's tenant has no score for this client")


def _unknown_client() -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="unknown client")


# Declared before the /{client_id}/... routes (they have another depth anyway, so
# "/v1/clients/risk" can never be read as a client id).
@router.get("/risk", response_model=ClientRiskList, summary="Current risk of every client")
def list_client_risks(
    tenant: TenantDep,
    reader: ReaderDep,
    level: Annotated[
        RiskLevel | None, Query(description="Only clients whose current level is this")
    ] = None,
    limit: Limit = 100,
) -> ClientRiskList:
    """The latest score of each of the caller's clients, highest ``churn_probability``
    first (ties by ``client_id``)."""
    rows = reader.client_risks(tenant, level=level, limit=limit)
    return ClientRiskList.model_validate({"items": rows})


@router.get(
    "/{client_id}/risk",
    response_model=ClientRiskDetail,
    summary="One client's current risk and its history",
    responses=_NOT_FOUND,
)
def client_risk(
    tenant: TenantDep,
    reader: ReaderDep,
    client_id: ClientId,
    history_limit: Annotated[
        int, Query(ge=1, le=1000, description="Most versions in history")
    ] = 100,
) -> ClientRiskDetail:
    """The client's latest score and its versions newest first (the latest included).

    A client the caller's tenant has never scored is a 404, even if another tenant has a
    client of that id.
    """
    found = reader.client_risk(tenant, client_id, history_limit=history_limit)
    if found is None:
        raise _unknown_client()
    current, history = found
    return ClientRiskDetail.model_validate(
        {"client_id": client_id, "current": current, "history": history}
    )


@router.get(
    "/{client_id}/risk/what-if",
    response_model=ClientRiskWhatIf,
    summary="One client's risk without some factors",
    responses={
        **_NOT_FOUND,
        422: {"description": "No `without`, or a factor name that does not exist"},
    },
)
def client_risk_what_if(
    tenant: TenantDep,
    reader: ReaderDep,
    model: RiskModelDep,
    client_id: ClientId,
    without: Annotated[
        list[str],
        Query(
            min_length=1,
            description=f"Factor to leave out (repeatable): one of {', '.join(FACTOR_NAMES)}",
        ),
    ],
) -> ClientRiskWhatIf:
    """Rescores the client's latest factor contributions with the risk model the flows
    use, leaving out the ``without`` factors ("what if this had not happened").

    A factor the client has no contribution for changes nothing. ``current`` is the
    stored latest score.
    """
    unknown = sorted(set(without) - set(FACTOR_NAMES))
    if unknown:
        raise HTTPException(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"unknown risk factor(s) {unknown}; known: {list(FACTOR_NAMES)}",
        )
    dropped = list(dict.fromkeys(without))
    found = reader.client_risk(tenant, client_id, history_limit=1)
    if found is None:
        raise _unknown_client()
    current, _ = found
    contributions = {f.name: f.contribution for f in current.factors}
    score = model.score(contributions, without=dropped)
    return ClientRiskWhatIf.model_validate(
        {"client_id": client_id, "without": dropped, "current": current, "what_if": score}
    )
