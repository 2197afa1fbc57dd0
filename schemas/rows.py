"""What every result row type shares: UTC instants and how a field maps onto columns.

A result table's columns are its row type's fields, by name. The few fields stored as
something other than one column of their own name say so here, with ``Annotated``
metadata (:class:`JsonText`, :class:`ParallelArrays`, :class:`Flattened`), so the
writer, the readers and the DDL test all derive the columns from the row type alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Annotated, Any, TypeVar, cast, get_args, get_origin, get_type_hints

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; a naive one is taken to be UTC already (ClickHouse
    ``DateTime64(3, 'UTC')`` values come back naive from some drivers)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """ISO-8601 with an explicit ``+00:00`` (pydantic's default would write ``Z``)."""
    return as_utc(value).isoformat()


_DATE_TIME_SCHEMA = WithJsonSchema({"type": "string", "format": "date-time"}, "serialization")

# An instant: naive is UTC, any offset is converted; JSON is ISO-8601 with ``+00:00``.
UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
    _DATE_TIME_SCHEMA,
]
# The same, but a naive input is refused (for rows whose producers must say the zone).
AwareUtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(as_utc),
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
    _DATE_TIME_SCHEMA,
]


class Row(BaseModel):
    """Base of the pydantic row types: immutable, like the rows they stand for."""

    model_config = ConfigDict(frozen=True)


# ---- fields stored as something other than one column of their own name -------------


# What ``json.dumps(value, sort_keys=True, default=str)`` builds on every call, built once.
_JSON_TEXT = json.JSONEncoder(sort_keys=True, default=str).encode


@dataclass(frozen=True)
class JsonText:
    """A ``dict`` stored as one ``String`` column of JSON (keys sorted)."""

    def columns(self, field: str, annotation: Any) -> tuple[str, ...]:
        return (field,)

    def encode(self, value: Any) -> tuple[Any, ...]:
        return (_JSON_TEXT(value),)

    def encode_column(self, columns: tuple[str, ...], values: list[Any]) -> tuple[list[Any], ...]:
        return (list(map(_JSON_TEXT, values)),)

    def decode(self, field: str, annotation: Any, values: Mapping[str, Any]) -> Any:
        """The stored JSON object; anything else is kept, wrapped, rather than lost."""
        raw = values[field]
        text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            return {"raw": text}
        return parsed if isinstance(parsed, dict) else {"value": parsed}


@dataclass(frozen=True)
class ParallelArrays:
    """A list of models stored as one ``Array`` column per model field, aligned.

    ``columns`` maps each field of the listed model to its column, in column order.
    """

    columns_by_field: tuple[tuple[str, str], ...]

    def columns(self, field: str, annotation: Any) -> tuple[str, ...]:
        return tuple(column for _, column in self.columns_by_field)

    def encode(self, value: Any) -> tuple[Any, ...]:
        return tuple([getattr(item, f) for item in value] for f, _ in self.columns_by_field)

    def encode_column(self, columns: tuple[str, ...], values: list[Any]) -> tuple[list[Any], ...]:
        return tuple(
            [list(map(get, v)) for v in values]
            for get in (attrgetter(f) for f, _ in self.columns_by_field)
        )

    def decode(self, field: str, annotation: Any, values: Mapping[str, Any]) -> Any:
        names = [f for f, _ in self.columns_by_field]
        arrays = [values[c] for _, c in self.columns_by_field]
        return [dict(zip(names, item, strict=True)) for item in zip(*arrays, strict=True)]


@dataclass(frozen=True)
class Flattened:
    """A nested model stored as its own fields' columns (by their names)."""

    def columns(self, field: str, annotation: Any) -> tuple[str, ...]:
        return tuple(_model(annotation).model_fields)

    def encode(self, value: Any) -> tuple[Any, ...]:
        return tuple(getattr(value, f) for f in type(value).model_fields)

    def encode_column(self, columns: tuple[str, ...], values: list[Any]) -> tuple[list[Any], ...]:
        return tuple(list(map(attrgetter(c), values)) for c in columns)  # columns: its fields

    def decode(self, field: str, annotation: Any, values: Mapping[str, Any]) -> Any:
        return {f: values[f] for f in _model(annotation).model_fields}


def _model(annotation: Any) -> type[BaseModel]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    raise TypeError(f"Flattened needs a pydantic model field, not {annotation!r}")


StoredAs = JsonText | ParallelArrays | Flattened


# ---- a row type's columns -------------------------------------------------------------


@dataclass(frozen=True)
class FieldColumns:
    """One field of a row type and the columns it is stored in."""

    field: str
    annotation: Any  # the field's type without its ``Annotated`` metadata
    stored: StoredAs | None  # None: one column named like the field
    columns: tuple[str, ...]


_FIELDS: dict[type, tuple[FieldColumns, ...]] = {}  # row_fields, worked out once per type


def row_fields(row_type: type[Any]) -> tuple[FieldColumns, ...]:
    """The fields of a pydantic or dataclass row type, in order, with their columns."""
    known = _FIELDS.get(row_type)
    if known is None:
        known = _FIELDS.setdefault(row_type, _row_fields(row_type))
    return known


def _row_fields(row_type: type[Any]) -> tuple[FieldColumns, ...]:
    if issubclass(row_type, BaseModel):
        items = [(n, f.annotation, f.metadata) for n, f in row_type.model_fields.items()]
    elif dataclasses.is_dataclass(row_type):
        hints = get_type_hints(row_type, include_extras=True)
        items = []
        for f in dataclasses.fields(row_type):
            hint = hints[f.name]
            if get_origin(hint) is Annotated:
                items.append((f.name, get_args(hint)[0], list(get_args(hint)[1:])))
            else:
                items.append((f.name, hint, []))
    else:
        raise TypeError(f"{row_type!r} is neither a pydantic model nor a dataclass")
    out = []
    for name, annotation, metadata in items:
        stored = next((m for m in metadata if isinstance(m, StoredAs)), None)
        columns = (name,) if stored is None else stored.columns(name, annotation)
        out.append(FieldColumns(name, annotation, stored, columns))
    return tuple(out)


def columns_of(row_type: type) -> tuple[str, ...]:
    """The columns of a row type's table, in the order :func:`column_values` gives."""
    return tuple(c for f in row_fields(row_type) for c in f.columns)


def column_values(fields: tuple[FieldColumns, ...], item: Any) -> tuple[Any, ...]:
    """``item`` as the values of ``fields``' columns, in order."""
    out: list[Any] = []
    for f in fields:
        value = getattr(item, f.field)
        if f.stored is None:
            out.append(value)
        else:
            out.extend(f.stored.encode(value))
    return tuple(out)


def column_lists(fields: tuple[FieldColumns, ...], items: Sequence[Any]) -> list[list[Any]]:
    """``items`` as one list per column of ``fields``, in :func:`columns_of` order: the
    same values as :func:`column_values` of each item, for column-oriented inserts.

    Every field of an item is read in one C call (an ``itemgetter`` over its instance
    dict, an ``attrgetter`` for slotted types) and ``zip`` transposes: no Python bytecode
    per row, except for the few stored-as fields (JSON text, arrays) that encode a value.
    """
    names = [f.field for f in fields]
    if not names:
        return []
    # a getter of the names plus a spare (so that it yields a tuple even for one field)
    spare = (*names, names[0])
    if not items:
        by_field: list[list[Any]] = [[] for _ in names]
    else:
        try:
            tuples = map(itemgetter(*spare), [vars(item) for item in items])
            by_field = [list(values) for values in zip(*tuples, strict=True)]
        except (TypeError, KeyError):  # no instance dict (slots), or a field not in it
            tuples = map(attrgetter(*spare), items)
            by_field = [list(values) for values in zip(*tuples, strict=True)]
    out: list[list[Any]] = []
    for f, values in zip(fields, by_field, strict=False):  # by_field ends with the spare
        if f.stored is None:
            out.append(values)
        else:
            out.extend(f.stored.encode_column(f.columns, values))
    return out


def field_values(fields: tuple[FieldColumns, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """A row read by column name as the fields to validate the row type from."""
    return {
        f.field: values[f.field]
        if f.stored is None
        else f.stored.decode(f.field, f.annotation, values)
        for f in fields
    }


T = TypeVar("T")


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}  # dataclass row types, built once each


def from_columns(row_type: type[T], values: Mapping[str, Any]) -> T:
    """Validate a row read by column name (``QueryResult.named_results()``) into its row
    type: stored forms decoded, types checked, instants made aware UTC."""
    fields = field_values(row_fields(row_type), values)
    if issubclass(row_type, BaseModel):
        return cast(T, row_type.model_validate(fields))
    adapter = _ADAPTERS.get(row_type)
    if adapter is None:
        adapter = _ADAPTERS.setdefault(row_type, TypeAdapter(row_type))
    return cast(T, adapter.validate_python(fields))
