"""Alerts raised by the flows, newest first, with filters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReaderDep, TenantDep
from api.models import UNAUTHORIZED, AlertItem, AlertList
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
    limit: Annotated[int, Query(ge=1, le=1000, description="Most alerts returned")] = 100,
) -> AlertList:
    """The caller's alerts ordered by ``event_time`` descending (then ``alert_id``).

    ``since`` is an ISO-8601 datetime; one without an offset is taken as UTC.
    """
    return AlertList(
        items=[
            AlertItem(
                alert_id=a.alert_id,
                tenant_id=a.tenant_id,
                kind=a.kind,
                severity=a.severity,
                subject_type=a.subject_type,
                subject_id=a.subject_id,
                title=a.title,
                details=a.details,
                event_time=a.event_time,
                fired_at=a.fired_at,
            )
            for a in reader.alerts(tenant, kind=kind, severity=severity, since=since, limit=limit)
        ]
    )
