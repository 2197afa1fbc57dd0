"""Reads of erasure receipts (``erasures``), one tenant at a time (issue #13).

A mixin of :class:`sinks.reader.ResultsReader` (see :class:`sinks.sql_host.SqlHost`).
Another tenant's erasure id reads as unknown.
"""

from __future__ import annotations

from uuid import UUID

from schemas.privacy import Erasure
from sinks.sql_host import SqlHost, read_rows, select_list

_ERASURE_SQL = f"""
SELECT {select_list(Erasure)}
FROM erasures FINAL
WHERE tenant_id = {{tenant:String}} AND erasure_id = {{erasure:UUID}}
"""


class ErasureQueries:
    def erasure(self: SqlHost, tenant_id: str, erasure_id: UUID) -> Erasure | None:
        """The tenant's erasure and its progress; None if the tenant has no such one."""
        found = read_rows(self, Erasure, _ERASURE_SQL, {"tenant": tenant_id, "erasure": erasure_id})
        return found[0] if found else None
