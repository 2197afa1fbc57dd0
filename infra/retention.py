"""Applying the configured retention (``CXPULSE_RETENTION_DAYS``) as ClickHouse TTLs.

An applied migration never changes, so ``009_retention.sql`` installs the default TTLs and
this module brings each table to its configured days at every ``cxpulse migrate``: a
table whose TTL already says so is left alone (no mutation), so re-running is free.
Table names come from the fixed policy list and days are checked ints; identifiers are
quoted with ``quote_ident``, and nothing a user typed reaches the SQL as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from clickhouse_connect.driver.client import Client

from schemas.retention import RETENTION, check_retention_days, effective_retention
from sinks.clickhouse_client import quote_ident

_TTL = re.compile(r" TTL (.+?)(?: SETTINGS .*)?$", re.DOTALL)


def ttl_expression(table: str, days: int) -> str:
    """The table's TTL as ClickHouse prints it back in ``system.tables.engine_full``, so
    the configured and the installed TTL compare as strings."""
    policy = RETENTION[table]
    if not isinstance(days, int) or isinstance(days, bool):
        raise TypeError(f"retention days of {table} must be an int, got {days!r}")
    where = f" WHERE {policy.only_if}" if policy.only_if else ""
    return f"{policy.column} + toIntervalDay({days}){where}"


def installed_ttls(client: Client, database: str) -> dict[str, str]:
    """Table -> its TTL expression ('' without one), for the tables of ``database``."""
    rows = client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}",
        parameters={"db": database},
    ).named_results()
    out = {}
    for row in rows:
        found = _TTL.search(str(row["engine_full"]))
        out[str(row["name"])] = found.group(1) if found else ""
    return out


def apply_retention(
    client: Client,
    database: str,
    overrides: Mapping[str, int],
    *,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Set each existing table's TTL to its configured days where it differs; returns the
    tables altered. A policy table the database lacks (a migration not yet written) is
    skipped."""
    days = effective_retention(check_retention_days(dict(overrides)))
    installed = installed_ttls(client, database)
    changed = []
    for table, n in days.items():
        if table not in installed:
            continue
        wanted = ttl_expression(table, n)
        if installed[table] == wanted:
            continue
        log(f"retention of {table}: {n} days (TTL {wanted})")
        client.command(
            f"ALTER TABLE {quote_ident(database)}.{quote_ident(table)} MODIFY TTL {wanted}"
        )
        changed.append(table)
    return changed
