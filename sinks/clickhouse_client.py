"""Opening ClickHouse clients: one place that knows DSNs, databases and the embedded engine.

The embedded engine (``chdb://<dir>``) is real ClickHouse in-process; it allows one
data directory per process, so every client of a process must use the same DSN.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ClickHouseUnavailableError(RuntimeError):
    """ClickHouse could not be opened; the message says where and why."""


def is_embedded(dsn: str) -> bool:
    return dsn.startswith("chdb://")


def quote_ident(name: str) -> str:
    """Back-quoted identifier for DDL; only plain identifiers are accepted."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f"`{name}`"


def open_client(dsn: str, database: str | None = None, **kwargs: Any) -> Client:
    """A client on ``dsn``, optionally bound to ``database`` (which must exist)."""
    if is_embedded(dsn):
        Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
    try:
        if database is None:
            return clickhouse_connect.get_client(dsn=dsn, **kwargs)
        return clickhouse_connect.get_client(dsn=dsn, database=database, **kwargs)
    except Exception as exc:
        where = dsn.split("@")[-1]  # never echo credentials
        raise ClickHouseUnavailableError(f"cannot open ClickHouse at {where}: {exc}") from exc


class LazyClient:
    """One client shared by many threads, opened on first use (never at construction)."""

    def __init__(self, open_client: Callable[[], Client]) -> None:
        self._open_client = open_client
        self._client: Client | None = None
        self._lock = threading.Lock()

    def get(self) -> Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._open_client()
                client = self._client
        return client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
