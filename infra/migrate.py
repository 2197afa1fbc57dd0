"""ClickHouse migrations: ordered ``infra/clickhouse/NNN_name.sql`` files, applied once.

Applied versions and checksums are recorded in ``schema_migrations``; an applied file
that was edited afterwards is an error (write a new migration instead).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from infra.retention import apply_retention
from sinks.clickhouse_client import open_client, quote_ident

MIGRATIONS_DIR = Path(__file__).parent / "clickhouse"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration file is malformed, edited after being applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """Statements end with ``;`` at the end of a line; comment-only chunks drop."""
        out = []
        for chunk in re.split(r";\s*$", self.sql, flags=re.MULTILINE):
            body = "\n".join(
                ln for ln in chunk.splitlines() if not ln.strip().startswith("--")
            ).strip()
            if body:
                out.append(body)
        return out


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNN_snake_case.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32 COMMENT 'Migration number (file prefix)',
    name       String COMMENT 'Migration file name without number and extension',
    checksum   String COMMENT 'sha256 of the file as applied',
    applied_at DateTime64(3, 'UTC') COMMENT 'When it was applied'
)
ENGINE = ReplacingMergeTree ORDER BY version
COMMENT 'Applied cxpulse migrations (managed by cxpulse migrate)'
"""


def migrate(
    dsn: str,
    database: str,
    *,
    log: Callable[[str], None] = print,
    client: Client | None = None,
    retention_days: Mapping[str, int] | None = None,
) -> list[int]:
    """Create the database if needed, apply pending migrations, then set every table's
    retention to ``retention_days`` (``CXPULSE_RETENTION_DAYS``; unset tables take their
    defaults, see :mod:`infra.retention`); returns the migrations applied."""
    root = client or open_client(dsn)
    root.command(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}")
    db = open_client(dsn, database) if client is None else client
    if client is not None:
        db.command(f"USE {quote_ident(database)}")
    db.command(_LEDGER)
    applied = {
        int(v): c
        for v, c in db.query("SELECT version, checksum FROM schema_migrations FINAL").result_rows
    }
    done: list[int] = []
    for m in load_migrations():
        if m.version in applied:
            if applied[m.version] != m.checksum:
                raise MigrationError(
                    f"migration {m.version:03d}_{m.name} changed after it was applied; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        log(f"applying {m.version:03d}_{m.name} to {database}")
        for stmt in m.statements():
            try:
                db.command(stmt)
            except Exception as exc:
                raise MigrationError(
                    f"{m.version:03d}_{m.name} failed at:\n{stmt[:300]}\n{exc}"
                ) from exc
        db.insert(
            "schema_migrations",
            [[m.version, m.name, m.checksum, datetime.now(UTC)]],
            column_names=["version", "name", "checksum", "applied_at"],
        )
        done.append(m.version)
    if not done:
        log(f"{database} is up to date")
    apply_retention(db, database, retention_days or {}, log=log)
    return done
