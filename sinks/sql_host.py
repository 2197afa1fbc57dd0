"""What the read-side query mixins need from the reader they are mixed into."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from schemas.rows import columns_of, from_columns

T = TypeVar("T")


class SqlHost(Protocol):
    """``ResultsReader``'s two primitives: a parametrised query whose rows come back by
    column name, and a batch insert.

    The mixins' methods take ``self: SqlHost``, so mypy checks the host provides them
    and no stub has to stand in."""

    def _named(self, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]: ...

    def _insert(self, table: str, rows: list[list[Any]], columns: Sequence[str]) -> None: ...


def read_rows(host: SqlHost, row_type: type[T], sql: str, parameters: dict[str, Any]) -> list[T]:
    """The rows of ``sql``, each validated into ``row_type`` by column name."""
    return [from_columns(row_type, r) for r in host._named(sql, parameters)]


def select_list(row_type: type[Any], table_alias: str = "") -> str:
    """``row_type``'s columns for a SELECT (back-quoted; ``table_alias.`` before each).

    Built from the row type's field names, never from input, so it is safe in SQL text."""
    prefix = f"{table_alias}." if table_alias else ""
    return ", ".join(f"{prefix}`{c}`" for c in columns_of(row_type))
