"""The access audit (issue #13): one row of ``audit_log`` per state-changing call.

Every POST/PUT/PATCH/DELETE the API answers is recorded, refused ones included
(unauthenticated, forbidden, too large, throttled), and so is every state-changing
command of the CLI (``cxpulse erase``). A row names who (tenant and key id: never the
key), what (method, route template and its path parameters: never the body), how it
ended (status and outcome), from where (client address) and when. Unauthenticated
calls have an empty tenant, so no tenant ever sees them through ``GET /v1/audit``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from schemas.rows import JsonText, Row, UtcDatetime

Outcome = Literal[
    "success", "unauthenticated", "forbidden", "throttled", "too_large", "rejected", "error"
]
STATE_CHANGING_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
CLI_METHOD = "CLI"  # the method of a row recorded by a CLI command


_BY_STATUS: dict[int, Outcome] = {
    401: "unauthenticated",
    403: "forbidden",
    413: "too_large",
    429: "throttled",
}


def outcome_of(status: int) -> Outcome:
    """How a call ended, from its HTTP status."""
    if status < 400:
        return "success"
    return _BY_STATUS.get(status, "rejected" if status < 500 else "error")


class AuditEntry(Row):
    """One audited call: the row type of ``audit_log``."""

    audit_id: UUID = Field(description="Random id of this row")
    tenant_id: str = Field(description="The caller's tenant ('' if not authenticated)")
    key_id: str = Field(description="sha256(key)[:12] of the caller's key ('' if none)")
    method: str = Field(description="HTTP method, or CLI for a command")
    route: str = Field(
        description="Route template (/v1/alerts/{alert_id}/ack), '<unmatched>', or the command"
    )
    path_params: Annotated[dict[str, str], JsonText()] = Field(
        default_factory=dict, description="The route's path parameters (or the command's)"
    )
    status: int = Field(ge=0, le=999, description="HTTP status (CLI: 200 done, 500 failed)")
    outcome: Outcome
    client: str = Field(description="Client address ('local' for the CLI)")
    request_id: str = Field(description="X-Request-ID of the call (given or generated)")
    at: UtcDatetime = Field(description="When the call was answered (wall time)")

    @classmethod
    def of(
        cls,
        *,
        tenant_id: str,
        key_id: str,
        method: str,
        route: str,
        path_params: dict[str, str],
        status: int,
        client: str,
        request_id: str,
        at: datetime,
    ) -> AuditEntry:
        return cls(
            audit_id=uuid.uuid4(),
            tenant_id=tenant_id,
            key_id=key_id,
            method=method,
            route=route,
            path_params=path_params,
            status=status,
            outcome=outcome_of(status),
            client=client,
            request_id=request_id,
            # to the millisecond, as audit_log stores it
            at=at.replace(microsecond=at.microsecond // 1000 * 1000),
        )

    @classmethod
    def of_command(
        cls, command: str, tenant_id: str, params: dict[str, str], *, ok: bool, at: datetime
    ) -> AuditEntry:
        """The row of a CLI command (e.g. ``cxpulse erase`` with its tenant and client)."""
        return cls.of(
            tenant_id=tenant_id,
            key_id="",
            method=CLI_METHOD,
            route=command,
            path_params=params,
            status=200 if ok else 500,
            client="local",
            request_id=str(uuid.uuid4()),
            at=at,
        )
