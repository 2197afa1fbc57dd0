"""A result row as a Kafka message, and back: the contract of the result topics.

The flows publish every result row to its table's result topic; the storage writer
(``cxpulse store``), or ClickHouse's own Kafka table engine in production, stores them.
A message is the table's row as one JSON object keyed by column name (ClickHouse's
``JSONEachRow``), so neither reader needs the flows' Python types:

- instants are integer epoch milliseconds (the ticks of ``DateTime64(3)``: the writer
  inserts them as they are, the Kafka engine's view applies ``fromUnixTimestamp64Milli``);
- UUIDs are their canonical strings;
- ``bytes`` (dead letters' ``raw`` and ``key``) are base64 (the view ``base64Decode``\\ s);
- everything else is plain JSON. ``NaN`` has no JSON form and becomes ``null``.

The message key is the row's table key (:attr:`TableSpec.key`) as a JSON array, so every
version of one row goes to one partition, in order: a replay or a newer version is
stored after the older one, whatever the partition count.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from operator import itemgetter
from typing import Any, Generic, TypeVar, get_args

import orjson

from schemas.rows import row_fields
from sinks.kafka_sink import Encoded
from sinks.tables import ColumnLists, TableSpec

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME
# What a result message may weigh: the producers allow it and the topics are created to
# take it (a dead letter keeps up to ~900 KB of raw bytes, 4/3 of that in base64).
RESULT_MESSAGE_MAX_BYTES = 8 * 1024 * 1024


def _default(value: Any) -> Any:
    """What orjson leaves to us: instants (as ms) and bytes (as base64)."""
    if isinstance(value, datetime):
        epoch = _NAIVE_EPOCH if value.tzinfo is None else _EPOCH  # naive is UTC
        return (value - epoch) // _MS
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} has no JSON form in a result row")


def binary_columns(spec: TableSpec[Any]) -> frozenset[str]:
    """The columns of ``spec`` that hold ``bytes`` (sent as base64)."""
    if spec.row_type is None:
        return frozenset()
    return frozenset(
        f.field
        for f in row_fields(spec.row_type)
        if f.stored is None and (f.annotation is bytes or bytes in get_args(f.annotation))
    )


class MalformedRowError(ValueError):
    """A result message that is not a row of its table (what is wrong, exactly)."""


@dataclass(frozen=True)
class RowCodec(Generic[T]):
    """Encodes items of one table for its result topic and decodes the messages into
    the table's columns (the writer's insert)."""

    spec: TableSpec[T]

    @cached_property
    def binary(self) -> frozenset[str]:
        return binary_columns(self.spec)

    @cached_property
    def _key_of(self) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
        """The row's table key, read by position (the spec's ``row_key`` builds a dict
        per row: fine for a dead letter, a tenth of the encoding cost here)."""
        names = list(self.spec.columns)
        key = self.spec.key or self.spec.columns
        spare = (*[names.index(c) for c in key], names.index(key[0]))
        pick = itemgetter(*spare)
        return lambda row: pick(row)[:-1]  # the spare keeps a 1-column key a tuple

    def encode_batch(self, items: Sequence[T]) -> list[Encoded]:
        """Every item's message, a column at a time (raises if any item cannot be
        encoded; :meth:`encode` then finds which)."""
        columns = self.spec.column_lists(items)
        if not columns:
            return []
        names, key_of, dumps = self.spec.columns, self._key_of, orjson.dumps
        return [
            (
                dumps(key_of(row)),
                dumps(dict(zip(names, row, strict=True)), _default, _OPTIONS),
                (),
            )
            for row in zip(*columns, strict=True)
        ]

    def encode(self, item: T) -> Encoded:
        row = self.spec.to_row(item)
        names = self.spec.columns
        if len(row) != len(names):
            raise ValueError(f"row of {len(row)} values for {len(names)} columns")
        return (
            orjson.dumps(self._key_of(row)),
            orjson.dumps(dict(zip(names, row, strict=True)), _default, _OPTIONS),
            (),
        )

    def decode_batch(self, values: Sequence[bytes]) -> tuple[ColumnLists, list[int]]:
        """The rows of ``values`` as one list per column of the table, and the indexes
        of the values that are not rows (decode them alone with :meth:`decode` for the
        reason). A message's extra keys are ignored: a newer writer may add columns."""
        try:
            return self._columns([orjson.loads(v) for v in values]), []
        except Exception:
            good: list[dict[str, Any]] = []
            bad: list[int] = []
            for i, v in enumerate(values):
                try:
                    self.decode(v)
                except MalformedRowError:
                    bad.append(i)
                    continue
                good.append(orjson.loads(v))
            return self._columns(good), bad

    def decode(self, value: bytes) -> dict[str, Any]:
        """One message as ``column -> value``; :class:`MalformedRowError` says why not."""
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise MalformedRowError(f"not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise MalformedRowError(f"a JSON {type(doc).__name__}, not an object")
        missing = [c for c in self.spec.columns if c not in doc]
        if missing:
            raise MalformedRowError(f"missing column(s) {missing[:5]} of {self.spec.table}")
        try:
            self._columns([doc])
        except (ValueError, TypeError) as exc:
            raise MalformedRowError(str(exc)) from exc
        return doc

    def _columns(self, docs: list[dict[str, Any]]) -> ColumnLists:
        binary = self.binary
        columns: ColumnLists = []
        for name in self.spec.columns:
            values = [d[name] for d in docs]
            if name in binary:
                values = [None if v is None else base64.b64decode(v, validate=True) for v in values]
            columns.append(values)
        return columns
