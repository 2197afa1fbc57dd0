"""The migrations and the row types cannot drift: every result table's columns are its
row type's fields (by name, see ``schemas.rows``), with compatible ClickHouse types.

Runs the real migrations on a fresh database of the session's embedded engine and reads
``system.columns``; no broker needed.
"""

from __future__ import annotations

import re
import types
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

import pytest
from pydantic import BaseModel

from infra.migrate import migrate
from schemas.rows import Flattened, JsonText, ParallelArrays, row_fields
from sinks.clickhouse_client import open_client
from sinks.tables import ROW_TABLES, TableSpec

pytestmark = pytest.mark.integration

# Tables with no row type in schemas: input events (an envelope plus lineage), the
# migration ledger, and the webhook store's own tables (sinks.webhooks).
NOT_ROW_TABLES = frozenset(
    {
        "events",
        "schema_migrations",
        "webhook_subscriptions",
        "webhook_deliveries",
        "webhook_attempts",
    }
)

_INTS = re.compile(r"^U?Int(8|16|32|64)$")


def _optional(annotation: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(annotation, False)``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _unwrap(ch_type: str, wrapper: str) -> tuple[str, bool]:
    if ch_type.startswith(f"{wrapper}(") and ch_type.endswith(")"):
        return ch_type[len(wrapper) + 1 : -1], True
    return ch_type, False


def compatible(annotation: Any, ch_type: str) -> bool:
    """Whether values of the Python type fit the ClickHouse column type (and back)."""
    annotation, optional = _optional(annotation)
    if get_origin(annotation) is Annotated:  # e.g. UtcDatetime | None
        annotation = get_args(annotation)[0]
    ch_type, nullable = _unwrap(ch_type, "Nullable")
    if optional != nullable:
        return False
    ch_type, _ = _unwrap(ch_type, "LowCardinality")
    origin = get_origin(annotation)
    if origin in (list, tuple):
        inner, is_array = _unwrap(ch_type, "Array")
        return is_array and compatible(get_args(annotation)[0], inner)
    if origin is Literal:
        return ch_type == "String" and all(isinstance(a, str) for a in get_args(annotation))
    if annotation is bool:
        return ch_type == "Bool"
    if annotation is int:
        return bool(_INTS.match(ch_type))
    if annotation is float:
        return ch_type in ("Float32", "Float64")
    if annotation is datetime:
        return ch_type.startswith("DateTime64(")
    if annotation is UUID:
        return ch_type == "UUID"
    if annotation in (str, bytes):
        return ch_type == "String"
    return False


def column_annotations(row_type: type) -> dict[str, Any]:
    """Each column of ``row_type``'s table with the Python type its values have."""
    out: dict[str, Any] = {}
    for f in row_fields(row_type):
        if f.stored is None:
            out[f.field] = f.annotation
        elif isinstance(f.stored, JsonText):
            out[f.field] = str
        elif isinstance(f.stored, ParallelArrays):
            (item,) = get_args(f.annotation)
            for sub, column in f.stored.columns_by_field:
                out[column] = list[item.model_fields[sub].annotation]  # type: ignore[misc]
        elif isinstance(f.stored, Flattened):
            out.update({n: s.annotation for n, s in f.annotation.model_fields.items()})
    return out


@pytest.fixture(scope="module")
def ddl(chdb_path: Path) -> dict[str, list[tuple[str, str, str]]]:
    """``table -> [(column, type, default_kind)]`` of a freshly migrated database."""
    db = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", db, log=lambda _m: None)
    client = open_client(f"chdb://{chdb_path}", db)
    rows = client.query(
        "SELECT t.name AS table, c.name AS column, c.type AS type, c.default_kind AS kind "
        "FROM system.tables AS t JOIN system.columns AS c "
        "ON c.database = t.database AND c.table = t.name "
        "WHERE t.database = {db:String} AND NOT t.is_temporary AND t.engine LIKE '%MergeTree' "
        "ORDER BY t.name, c.position",
        parameters={"db": db},
    ).named_results()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for r in rows:
        out.setdefault(r["table"], []).append((r["column"], r["type"], r["kind"]))
    return out


def test_every_table_has_a_row_type(ddl: dict[str, list[tuple[str, str, str]]]) -> None:
    with_row_type = {spec.table for spec in ROW_TABLES}
    assert set(ddl) - NOT_ROW_TABLES == with_row_type


@pytest.mark.parametrize("spec", ROW_TABLES, ids=[spec.table for spec in ROW_TABLES])
def test_columns_are_the_row_type_fields(
    ddl: dict[str, list[tuple[str, str, str]]], spec: TableSpec[Any]
) -> None:
    table, row_type = spec.table, spec.row_type
    assert row_type is not None
    assert tuple(spec.columns) == tuple(column_annotations(row_type))  # what is inserted
    stored = {name: ch_type for name, ch_type, kind in ddl[table] if kind != "ALIAS"}
    expected = column_annotations(row_type)
    assert set(stored) == set(expected), (
        f"{table}: only in the DDL {sorted(set(stored) - set(expected))}, "
        f"only in {row_type.__name__} {sorted(set(expected) - set(stored))}"
    )
    wrong = {
        name: (expected[name], ch_type)
        for name, ch_type in stored.items()
        if not compatible(expected[name], ch_type)
    }
    assert not wrong, f"{table}: incompatible types {wrong}"
    # ALIAS columns are the row type's derived (computed) fields
    aliases = {name for name, _, kind in ddl[table] if kind == "ALIAS"}
    computed = set(row_type.model_computed_fields) if issubclass(row_type, BaseModel) else set()
    assert aliases == computed


def test_compatibility_rules() -> None:
    """The checker itself tells the types apart (else the test above proves nothing)."""
    assert compatible(datetime, "DateTime64(3, 'UTC')")
    assert not compatible(datetime, "String")
    assert compatible(float | None, "Nullable(Float64)")
    assert not compatible(float, "Nullable(Float64)")
    assert not compatible(float | None, "Float64")
    assert compatible(Literal["a", "b"], "LowCardinality(String)")
    assert compatible(tuple[float, ...], "Array(Float32)")
    assert not compatible(list[str], "String")
    assert compatible(int, "UInt64")
    assert not compatible(int, "Float64")
