"""What the read-side query mixins need from the reader they are mixed into."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class SqlHost(Protocol):
    """``ResultsReader``'s two primitives: a parametrised query and a batch insert.

    The mixins' methods take ``self: SqlHost``, so mypy checks the host provides them
    and no stub has to stand in."""

    def _rows(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]: ...

    def _insert(self, table: str, rows: list[list[Any]], columns: Sequence[str]) -> None: ...
