"""Alerts raised by the flows, newest first, with filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Limit, ReaderDep, TenantDep
from api.models import UNAUTHORIZED, AlertList
from schemas.results import AlertKind, AlertSeverity

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=UNAUTHORIZED)


@router.get("", response_model=AlertList, summary="The tenant's alerts, newest first")
def list_alerts(
    tenant: TenantDep,
    reader: ReaderDep,
    kind: Annotated[AlertKind | None, Query(description="Only alerts of this kind")] = None,
    severity: Annotated[
        AlertSeverity | None, Query(description="Only alerts of exactly this severity")
    ] = None,
    since: Annotated[
        datetime | None,
        Query(description="Only alerts with event_time >= since (no offset: UTC)"),
    ] = None,
    limit: Limit = 100,
) -> AlertList:
    """The caller's alerts ordered by ``event_time`` descending (then ``alert_id``).

    ``since`` is an ISO-8601 datetime; one without an offset is taken as UTC.
    """
    alerts = reader.alerts(tenant, kind=kind, severity=severity, since=since, limit=limit)
    return AlertList.model_validate({"items": alerts})
