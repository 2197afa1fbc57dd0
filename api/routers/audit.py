"""``GET /v1/audit``: the tenant's access audit (admin keys only; issue #13).

Every state-changing call of the tenant's keys (successful or refused) and every
state-changing CLI command on the tenant (``cxpulse erase``) is a row of ``audit_log``.
Rows reach the table through the storage writer, usually within a second. A tenant reads
only its own rows; calls that never authenticated belong to no tenant and are read in
ClickHouse by the operator.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AdminCaller, Limit, NowDep, ReaderDep
from api.models import UNAUTHORIZED, View, _Out
from api.time_range import time_range
from schemas.audit import AuditEntry

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=UNAUTHORIZED)

DEFAULT_SPAN = timedelta(days=7)


class AuditItem(AuditEntry, View):
    """One audited call or command."""


class AuditList(_Out):
    items: list[AuditItem]


@router.get("", response_model=AuditList, summary="The tenant's access audit, newest first")
def list_audit(
    caller: AdminCaller,
    reader: ReaderDep,
    now: NowDep,
    start: Annotated[
        datetime | None,
        Query(description="Inclusive lower bound on at (default: end - 7 days; no offset: UTC)"),
    ] = None,
    end: Annotated[
        datetime | None, Query(description="Exclusive upper bound on at (default: now)")
    ] = None,
    limit: Limit = 100,
) -> AuditList:
    """The audit rows of the caller's tenant with ``start <= at < end``, newest first:
    who (``key_id``, never the key), what (``method``, ``route`` template and
    ``path_params``), how it ended (``status``, ``outcome``), from where (``client``) and
    when (``at``). Needs a key with the ``admin`` scope (else 403)."""
    start_utc, end_utc = time_range(start, end, now(), DEFAULT_SPAN)
    rows = reader.audit(caller.tenant, start_utc, end_utc, limit)
    return AuditList.model_validate({"items": rows})
