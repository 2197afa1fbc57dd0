"""Erasure of a data subject (GDPR art. 17): the receipt row of ``erasures``.

One erasure goes through three versions of its row, the highest kept
(``ReplacingMergeTree(version)``):

1. ``requested``: ``cxpulse erase`` or ``DELETE /v1/clients/{id}/data`` recorded it in
   the ledger topic and sent ``client.erasure_requested`` through the events topic;
2. ``applied``: the flows reached it. From here ingest suppresses the client's events
   and every flow has dropped the client from its state;
3. ``completed``: the storage writer deleted the client's rows from every table
   (``rows_deleted_by_table``) after storing everything the flows produced before.

The receipt keeps the client id: it is the proof that the erasure was done.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from schemas.rows import JsonText, Row, UtcDatetime

ERASURE_EVENT = "client.erasure_requested"  # the input event (schemas/events.py)


def subject_digest(tenant: str, client_id: str) -> bytes:
    """A data subject's name in the flows' erasure ledger: 16 bytes of personalised
    BLAKE2b, so recovery snapshots hold no client id."""
    return hashlib.blake2b(
        f"{tenant}\x1f{client_id}".encode(), digest_size=16, person=b"cx-subject"
    ).digest()


def ticket_digest(tenant: str, ticket_id: str) -> bytes:
    """An erased client's ticket in the flows' state (as :func:`subject_digest`)."""
    return hashlib.blake2b(
        f"{tenant}\x1f{ticket_id}".encode(), digest_size=16, person=b"cx-ticket"
    ).digest()


ErasureStatus = Literal["requested", "applied", "completed"]
ERASURE_VERSIONS: dict[ErasureStatus, int] = {"requested": 1, "applied": 2, "completed": 3}


class Erasure(Row):
    """An erasure and its progress: the row type of ``erasures``."""

    erasure_id: UUID = Field(description="Id of the erasure (the receipt's id)")
    tenant_id: str = Field(description="Tenant whose client was erased")
    client_id: str = Field(description="The erased data subject")
    requested_at: UtcDatetime = Field(description="When the erasure was requested (wall time)")
    status: ErasureStatus = Field(description="requested, applied (flows), completed (tables)")
    rows_deleted_by_table: Annotated[dict[str, int], JsonText()] = Field(
        default_factory=dict, description="Rows deleted per table (when completed)"
    )
    completed_at: UtcDatetime | None = Field(
        default=None, description="When every table was cleared"
    )
    version: int = Field(ge=1, description="1 requested, 2 applied, 3 completed (highest wins)")

    @classmethod
    def requested(
        cls, tenant_id: str, client_id: str, at: datetime, erasure_id: UUID | None = None
    ) -> Erasure:
        """A new erasure's first receipt (a random id unless one is given)."""
        return cls(
            erasure_id=erasure_id or uuid.uuid4(),
            tenant_id=tenant_id,
            client_id=client_id,
            requested_at=at,
            status="requested",
            version=ERASURE_VERSIONS["requested"],
        )

    def advanced(
        self,
        status: ErasureStatus,
        *,
        deleted: dict[str, int] | None = None,
        at: datetime | None = None,
    ) -> Erasure:
        """The next version of this receipt."""
        return self.model_copy(
            update={
                "status": status,
                "version": ERASURE_VERSIONS[status],
                "rows_deleted_by_table": deleted or self.rows_deleted_by_table,
                "completed_at": at if status == "completed" else None,
            }
        )
