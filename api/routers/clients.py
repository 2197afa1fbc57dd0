"""Client churn risk: current scores, one client's history, and what-if rescoring."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.deps import ReaderDep, RiskModelDep, TenantDep
from api.models import (
    UNAUTHORIZED,
    ClientRiskDetail,
    ClientRiskItem,
    ClientRiskList,
    ClientRiskWhatIf,
    ErrorOut,
    RiskFactorOut,
    RiskLevelOut,
    RiskScoreOut,
    RiskVersion,
)
from schemas.risk import FACTOR_NAMES, ClientRisk, RiskFactor, RiskLevel

router = APIRouter(prefix="/v1/clients", tags=["clients"], responses=UNAUTHORIZED)

ClientId = Annotated[str, Path(min_length=1, max_length=256)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "The caller's tenant has no score for this client"}
}


def _factors(factors: list[RiskFactor]) -> list[RiskFactorOut]:
    return [RiskFactorOut(name=f.name, contribution=f.contribution) for f in factors]


def _version(r: ClientRisk) -> RiskVersion:
    return RiskVersion(
        churn_probability=r.churn_probability,
        risk_level=r.risk_level,
        factors=_factors(r.factors),
        scored_at=r.scored_at,
        version=r.version,
    )


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
    limit: Annotated[int, Query(ge=1, le=1000, description="Most clients returned")] = 100,
) -> ClientRiskList:
    """The latest score of each of the caller's clients, highest ``churn_probability``
    first (ties by ``client_id``)."""
    return ClientRiskList(
        items=[
            ClientRiskItem(
                client_id=r.client_id,
                churn_probability=r.churn_probability,
                risk_level=r.risk_level,
                factors=_factors(r.factors),
                scored_at=r.scored_at,
            )
            for r in reader.client_risks(tenant, level=level, limit=limit)
        ]
    )


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
    return ClientRiskDetail(
        client_id=client_id,
        current=_version(current),
        history=[_version(r) for r in history],
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
    return ClientRiskWhatIf(
        client_id=client_id,
        without=dropped,
        current=RiskLevelOut(
            churn_probability=current.churn_probability, risk_level=current.risk_level
        ),
        what_if=RiskScoreOut(
            churn_probability=score.churn_probability,
            risk_level=score.risk_level,
            factors=_factors(score.factors),
        ),
    )
