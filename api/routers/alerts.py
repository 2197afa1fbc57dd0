"""Alerts raised by the flows, newest first, with filters; and their lifecycle.

An alert is ``open`` until someone acknowledges it (``acknowledged``) or resolves it
(``resolved``, from either state); see :mod:`schemas.alert_lifecycle`. Acknowledging or
resolving is idempotent: a repeat, or an acknowledgement of a resolved alert, changes
nothing, stores nothing and announces nothing (``changed: false``). A change is stored
in ``alert_actions`` first, then announced on the alerts topic (``alert_state``), from
which every API replica streams it to the tenant's clients.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from pydantic import ConfigDict, Field

from api.deps import AlertStatesDep, Limit, NowDep, ReaderDep, TenantDep, WriteTenantDep
from api.models import UNAUTHORIZED, AlertList, ErrorOut, UtcDatetime, _Out, not_found
from schemas.alert_lifecycle import (
    MAX_NOTE_CHARS,
    AlertAction,
    AlertActionKind,
    AlertState,
    AlertStateChange,
    after,
    changes,
)
from schemas.results import AlertKind, AlertSeverity

log = logging.getLogger(__name__)

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
    state: Annotated[
        AlertState | None,
        Query(description="Only alerts in this lifecycle state: open, acknowledged, resolved"),
    ] = None,
    limit: Limit = 100,
) -> AlertList:
    """The caller's alerts ordered by ``event_time`` descending (then ``alert_id``), each
    with its lifecycle ``state``.

    ``since`` is an ISO-8601 datetime; one without an offset is taken as UTC.
    """
    alerts = reader.alerts(
        tenant, kind=kind, severity=severity, since=since, limit=limit, state=state
    )
    return AlertList.model_validate({"items": alerts})


class AlertActionIn(_Out):
    """An optional remark with an acknowledgement or resolution."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: str | None = Field(
        default=None,
        max_length=MAX_NOTE_CHARS,
        description=f"Free text, at most {MAX_NOTE_CHARS} characters; kept with the action",
    )


class AlertStateOut(_Out):
    """An alert's lifecycle state after the request."""

    alert_id: UUID
    state: AlertState
    state_at: UtcDatetime | None = Field(description="When the alert reached this state")
    changed: bool = Field(
        description="Whether this request changed the state (false: it already was in it, "
        "or further: a resolved alert stays resolved)"
    )


AlertId = Annotated[UUID, Path(description="alert_id of the alert")]
ActionBody = Annotated[AlertActionIn | None, Body(description="Optional: a note")]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **not_found("The caller's tenant has no such alert"),
    400: {"model": ErrorOut, "description": "The body is not parseable JSON"},
}


def _act(
    tenant: str,
    reader: ReaderDep,
    publisher: AlertStatesDep,
    now: NowDep,
    alert_id: UUID,
    action: AlertActionKind,
    body: AlertActionIn | None,
) -> AlertStateOut:
    alert = reader.alert(tenant, alert_id)
    if alert is None:  # another tenant's alert too: its existence must not show
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="unknown alert")
    if not changes(alert.state, action):
        return AlertStateOut(
            alert_id=alert_id, state=alert.state, state_at=alert.state_at, changed=False
        )
    row = AlertAction.of(tenant, alert_id, action, "api", now(), (body.note if body else "") or "")
    reader.record_alert_action(row)  # stored first: the state is what ClickHouse says
    try:
        publisher.publish(AlertStateChange.of(alert, row))
    except Exception:
        # Stored, so GET /v1/alerts shows it; only the live announcement is lost.
        log.exception("alert %s is %s, but the state change was not streamed", alert_id, action)
    return AlertStateOut(
        alert_id=alert_id, state=after(alert.state, action), state_at=row.at, changed=True
    )


@router.post(
    "/{alert_id}/ack",
    response_model=AlertStateOut,
    summary="Acknowledge an alert (idempotent; a resolved alert stays resolved)",
    responses=_RESPONSES,
)
def acknowledge(
    tenant: WriteTenantDep,
    reader: ReaderDep,
    publisher: AlertStatesDep,
    now: NowDep,
    alert_id: AlertId,
    body: ActionBody = None,
) -> AlertStateOut:
    return _act(tenant, reader, publisher, now, alert_id, "acknowledge", body)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertStateOut,
    summary="Resolve an alert, open or acknowledged (idempotent)",
    responses=_RESPONSES,
)
def resolve(
    tenant: WriteTenantDep,
    reader: ReaderDep,
    publisher: AlertStatesDep,
    now: NowDep,
    alert_id: AlertId,
    body: ActionBody = None,
) -> AlertStateOut:
    return _act(tenant, reader, publisher, now, alert_id, "resolve", body)
