"""Deleting a data subject's rows from every table, and keeping them out afterwards
(issue #13, README "Privacy"). The storage writer runs both: it is the one process that
writes ClickHouse, so nothing it stores after an erasure can bring the client back.

What belongs to a client ``C`` of tenant ``T``:

- ``events`` naming ``C``, and the events of ``C``'s tickets (assignment, responses,
  resolution: they carry the ticket id, not the client);
- ``alerts`` about ``C`` or its tickets (risk, complaint, SLA, coaching), their
  ``alert_actions`` and their webhook ``deliveries``/``attempts`` (which hold the body);
- ``client_risk`` of ``C``; ``late_events`` of its events; ``kb_suggestions`` listing
  its tickets (the KB flow republishes each without them); the routing recommendations
  and decisions of its tickets and complaints;
- ``dead_letters`` whose raw bytes hold ``"T"`` and ``"C"`` (or one of its tickets) as
  JSON strings.

Kept: ``erasures`` (the receipt is the proof) and ``audit_log`` (who erased whom). The
aggregates (agent performance, demand, ops) hold counts, not clients.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from clickhouse_connect.driver.client import Client

from schemas.privacy import Erasure
from schemas.rows import from_columns
from sinks.tables import ERASURES

ERASURES_TABLE = ERASURES.table

log = logging.getLogger(__name__)

# Client id and ticket ids of an event, from its payload JSON.
_CLIENT = "JSONExtractString(payload, 'client_id')"
_TICKET = "JSONExtractString(payload, 'ticket_id')"

# (table, WHERE) in deletion order: the sets they bind are read before anything goes.
# Only our own SQL is formatted in; every value is a bound parameter.
_DELETIONS: tuple[tuple[str, str], ...] = (
    ("webhook_attempts", "tenant_id = {tenant:String} AND delivery_id IN {deliveries:Array(UUID)}"),
    ("webhook_deliveries", "tenant_id = {tenant:String} AND alert_id IN {alerts:Array(UUID)}"),
    ("alert_actions", "tenant_id = {tenant:String} AND alert_id IN {alerts:Array(UUID)}"),
    ("alerts", "tenant_id = {tenant:String} AND alert_id IN {alerts:Array(UUID)}"),
    ("late_events", "tenant_id = {tenant:String} AND event_id IN {events:Array(UUID)}"),
    (
        "kb_suggestions",
        "tenant_id = {tenant:String} AND hasAny(ticket_ids, {tickets:Array(String)})",
    ),
    ("client_risk", "tenant_id = {tenant:String} AND client_id = {client:String}"),
    (
        "routing_recommendations",
        "tenant_id = {tenant:String} AND (ticket_id IN {tickets:Array(String)} OR "
        "(subject_type = 'complaint' AND subject_id IN {complaints:Array(String)}))",
    ),
    ("routing_decisions", "tenant_id = {tenant:String} AND ticket_id IN {tickets:Array(String)}"),
    (
        "dead_letters",
        "position(raw, {tenant_json:String}) > 0 AND multiSearchAny(raw, {needles:Array(String)})",
    ),
    ("events", "tenant_id = {tenant:String} AND event_id IN {events:Array(UUID)}"),
)
ERASED_TABLES: tuple[str, ...] = tuple(t for t, _ in _DELETIONS)

_TICKETS = (
    f"SELECT DISTINCT {_TICKET} AS v FROM events WHERE tenant_id = {{tenant:String}} "
    f"AND {_CLIENT} = {{client:String}} AND {_TICKET} != ''"
)
_COMPLAINTS = (
    "SELECT DISTINCT JSONExtractString(payload, 'complaint_id') AS v FROM events "
    f"WHERE tenant_id = {{tenant:String}} AND {_CLIENT} = {{client:String}} "
    "AND JSONExtractString(payload, 'complaint_id') != ''"
)
_EVENTS = (
    "SELECT DISTINCT event_id AS v FROM events WHERE tenant_id = {tenant:String} "
    f"AND ({_CLIENT} = {{client:String}} OR {_TICKET} IN {{tickets:Array(String)}})"
)
_ALERTS = (
    "SELECT DISTINCT alert_id AS v FROM alerts WHERE tenant_id = {tenant:String} AND ("
    "subject_id = {client:String} OR JSONExtractString(details, 'client_id') = {client:String}"
    " OR subject_id IN {tickets:Array(String)}"
    " OR JSONExtractString(details, 'ticket_id') IN {tickets:Array(String)})"
)
_DELIVERIES = (
    "SELECT DISTINCT delivery_id AS v FROM webhook_deliveries "
    "WHERE tenant_id = {tenant:String} AND alert_id IN {alerts:Array(UUID)}"
)


def _column(client: Client, sql: str, params: Mapping[str, Any]) -> list[Any]:
    """The values of ``sql``'s column ``v``, read by name."""
    return [row["v"] for row in client.query(sql, parameters=dict(params)).named_results()]


def _count(client: Client, table: str, where: str, params: Mapping[str, Any]) -> int:
    found = client.query(f"SELECT count() AS n FROM {table} WHERE {where}", parameters=dict(params))
    return int(next(found.named_results())["n"])


def erase_client(
    client: Client, tenant: str, client_id: str, tickets: list[str] | None = None
) -> dict[str, int]:
    """Delete every row of ``client_id`` of ``tenant`` (lightweight deletes: gone from
    queries at once, from disk at the next merge); rows deleted by table."""
    params: dict[str, Any] = {
        "tenant": tenant,
        "client": client_id,
        "client_json": json.dumps(client_id),
        "tenant_json": json.dumps(tenant),
    }
    params["tickets"] = _column(client, _TICKETS, params)
    if tickets is not None:  # the caller keeps them (to screen later rows)
        tickets.extend(params["tickets"])
    params["complaints"] = _column(client, _COMPLAINTS, params)
    params["events"] = _column(client, _EVENTS, params)
    params["alerts"] = _column(client, _ALERTS, params)
    params["deliveries"] = _column(client, _DELIVERIES, params)
    params["needles"] = [json.dumps(x) for x in (client_id, *params["tickets"])]
    deleted: dict[str, int] = {}
    for table, where in _DELETIONS:
        n = _count(client, table, where, params)
        if n:
            client.command(f"DELETE FROM {table} WHERE {where}", parameters=params)
        deleted[table] = n
    return deleted


@dataclass
class ErasedSubjects:
    """The erased ``(tenant, client)`` pairs the storage writer keeps out of its inserts:
    rows computed before the flows forgot the client may still be on their way."""

    subjects: set[tuple[str, str]] = field(default_factory=set)
    _needles: dict[str, list[str]] = field(default_factory=dict)  # tenant -> client JSON

    def add(self, tenant: str, client_id: str, tickets: Sequence[str] = ()) -> None:
        """An erased client, and its tickets once known (the rows of their follow-up
        events carry the ticket, not the client)."""
        if (tenant, client_id) not in self.subjects:
            self.subjects.add((tenant, client_id))
            self._needles.setdefault(tenant, []).append(json.dumps(client_id))
        needles = self._needles[tenant]
        needles.extend(n for n in map(json.dumps, tickets) if n not in needles)

    def __bool__(self) -> bool:
        return bool(self.subjects)

    def learn(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """Take the erasures of a batch of ``erasures`` rows."""
        for tenant, client_id in zip(columns["tenant_id"], columns["client_id"], strict=True):
            self.add(str(tenant), str(client_id))

    def kept(self, table: str, columns: Mapping[str, Sequence[Any]]) -> list[int] | None:
        """Indexes of the rows of a batch to store (None: all of them)."""
        if not self.subjects or table not in _ROW_CHECKS:
            return None
        check = _ROW_CHECKS[table]
        n = len(next(iter(columns.values()), ()))
        keep = [i for i in range(n) if not check(self, columns, i)]
        return None if len(keep) == n else keep

    def _names(self, tenant: Any, text: Any) -> bool:
        """Whether ``text`` holds one of ``tenant``'s erased clients as a JSON string."""
        needles = self._needles.get(str(tenant))
        if not needles or text is None:
            return False
        s = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return any(n in s for n in needles)


def _client_column(e: ErasedSubjects, c: Mapping[str, Sequence[Any]], i: int) -> bool:
    return (str(c["tenant_id"][i]), str(c["client_id"][i])) in e.subjects


def _event_payload(e: ErasedSubjects, c: Mapping[str, Sequence[Any]], i: int) -> bool:
    return e._names(c["tenant_id"][i], c["payload"][i])


def _alert(e: ErasedSubjects, c: Mapping[str, Sequence[Any]], i: int) -> bool:
    tenant = str(c["tenant_id"][i])
    if (tenant, str(c["subject_id"][i])) in e.subjects:
        return True
    return e._names(tenant, c["details"][i])


def _letter(e: ErasedSubjects, c: Mapping[str, Sequence[Any]], i: int) -> bool:
    raw = c["raw"][i]
    if not raw:
        return False
    s = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return any(json.dumps(t) in s and e._names(t, s) for t in e._needles)


_ROW_CHECKS = {
    "client_risk": _client_column,
    "events": _event_payload,
    "alerts": _alert,
    "dead_letters": _letter,
}


class ErasureGuard:
    """The storage writer's part in erasures: it learns them from the ``erasures`` rows
    it stores, keeps the clients' rows out of every later insert, and once the flows
    applied an erasure deletes what was stored before and stores the ``completed``
    receipt (before the batch's offsets are committed, so a crash redoes it)."""

    first = ERASURES_TABLE  # stored first in a flush: its erasures apply to the rest

    def __init__(
        self,
        open_client: Callable[[], Client],
        now: Callable[[], datetime],
        announce: Callable[[Erasure], None] | None = None,
    ) -> None:
        self._open_client = open_client
        self._now = now
        self._announce = announce  # the completed receipt, for those who watch (the CLI)
        self._client: Client | None = None
        self.subjects = ErasedSubjects()
        self._applied: dict[UUID, Erasure] = {}

    def setup(self) -> None:
        if self._client is not None:
            return
        self._client = self._open_client()
        rows = self._client.query("SELECT DISTINCT tenant_id, client_id FROM erasures")
        for row in rows.named_results():
            self.subjects.add(row["tenant_id"], row["client_id"])
        # applied before a crash or an outage, never completed: complete them now
        pending = self._client.query(
            "SELECT * FROM erasures FINAL WHERE status = 'applied'"
        ).named_results()
        for row in pending:
            receipt = from_columns(Erasure, row)
            self._applied[receipt.erasure_id] = receipt

    def admit(self, table: str, columns: Mapping[str, Sequence[Any]]) -> list[int] | None:
        """Indexes of the rows of a decoded batch to store (None: all); an ``erasures``
        batch is learnt from (its ``applied`` receipts wait for :meth:`settle`)."""
        if table == ERASURES_TABLE:
            self.subjects.learn(columns)
            for i, status in enumerate(columns["status"]):
                if status == "applied":
                    receipt = from_columns(Erasure, {k: v[i] for k, v in columns.items()})
                    self._applied[receipt.erasure_id] = receipt
            return None
        return self.subjects.kept(table, columns)

    def settle(self) -> None:
        """Complete the erasures the flows applied since the last call (after the batch
        holding their receipts is stored, before its offsets are committed)."""
        if not self._applied:
            return
        self.setup()
        assert self._client is not None
        for receipt in list(self._applied.values()):
            try:
                if not self._completed(receipt):
                    self._complete(receipt)
            except Exception:  # an outage: the next flush (or start) tries again
                log.exception("erasure %s: deleting failed; retrying", receipt.erasure_id)
                return
            del self._applied[receipt.erasure_id]

    def _complete(self, receipt: Erasure) -> None:
        assert self._client is not None
        tickets: list[str] = []
        deleted = erase_client(self._client, receipt.tenant_id, receipt.client_id, tickets)
        self.subjects.add(receipt.tenant_id, receipt.client_id, tickets)
        done = receipt.advanced("completed", deleted=deleted, at=self._now())
        self._client.insert(
            ERASURES_TABLE, [ERASURES.to_row(done)], column_names=list(ERASURES.columns)
        )
        log.info("erasure %s completed: %s", receipt.erasure_id, deleted)
        if self._announce is not None:
            try:
                self._announce(done)
            except Exception:  # stored already: only a watcher misses it
                log.warning("erasure %s: completion not announced", receipt.erasure_id)

    def _completed(self, receipt: Erasure) -> bool:
        assert self._client is not None
        where = (
            "tenant_id = {tenant:String} AND erasure_id = {erasure:UUID} AND status = 'completed'"
        )
        params = {"tenant": receipt.tenant_id, "erasure": receipt.erasure_id}
        return _count(self._client, ERASURES_TABLE, where, params) > 0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
