"""Reads of the access audit (``audit_log``), one tenant at a time (issue #13).

A mixin of :class:`sinks.reader.ResultsReader`, which supplies ``_named`` (see
:class:`sinks.sql_host.SqlHost`). The tenant filter is a server-side parameter, so a
tenant reads its own rows only; unauthenticated calls (empty tenant) are no tenant's.
"""

from __future__ import annotations

from datetime import datetime

from schemas.audit import AuditEntry
from sinks.sql_host import SqlHost, read_rows, select_list

_TS = "DateTime64(6, 'UTC')"
_AUDIT_SQL = f"""
SELECT {select_list(AuditEntry)}
FROM audit_log FINAL
WHERE tenant_id = {{tenant:String}}
  AND at >= {{start:{_TS}}}
  AND at < {{end:{_TS}}}
ORDER BY at DESC, audit_id
LIMIT {{limit:UInt32}}
"""


class AuditQueries:
    def audit(
        self: SqlHost, tenant_id: str, start: datetime, end: datetime, limit: int
    ) -> list[AuditEntry]:
        """The tenant's audit rows with ``start <= at < end``, newest first."""
        return read_rows(
            self,
            AuditEntry,
            _AUDIT_SQL,
            {"tenant": tenant_id, "start": start, "end": end, "limit": limit},
        )
