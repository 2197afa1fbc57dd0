"""The storage writer as ClickHouse DDL: a Kafka-engine table and materialized views per
result table, for deployments that let ClickHouse consume the result topics itself.

Per table in :data:`~sinks.tables.RESULT_TABLES` (see :mod:`sinks.result_rows` for the
message contract):

- ``<table>_kafka``: ``ENGINE = Kafka`` on the table's result topic, in the storage
  writer's consumer group (so switching from ``cxpulse store`` to the engine resumes at
  the writer's committed offsets; run one or the other, never both). Its columns are the
  message's: the table's own types, except instants, which arrive as epoch milliseconds
  (``Int64``). ``kafka_handle_error_mode = 'stream'`` keeps a message that does not parse
  from stopping consumption: it comes out as a row with ``_error`` and ``_raw_message``.
- ``<table>_mv``: the good rows into the table, instants through
  ``fromUnixTimestamp64Milli`` and base64 columns through ``tryBase64Decode``.
- ``<table>_errors_mv``: everything else into ``dead_letters`` (``sink_error``, flow
  ``sink:kafka_engine``), the letter id computed exactly as
  :func:`schemas.results.dead_letter_id` does (a UUIDv5), raw bytes capped like
  :func:`schemas.results.make_dead_letter`.

The format settings make the engine as strict as the writer: a message missing a
non-Nullable column, with ``null`` in one, or with a value of another JSON type (an
object for a String) is a dead letter, not a row of defaults. What the views check on
top (valid base64, instants inside ``DateTime64``'s range) would otherwise raise inside
a view, and a view that raises stops its table's consumer for good: those rows are
dead-lettered too (error ``MalformedRowError: <column>: ...``).

What the engine does not reproduce exactly (tests/integration/test_kafka_engine_ddl.py
pins the first ones):

- ``NaN`` (``null`` in the message): ClickHouse reads ``null`` in a non-Nullable Float
  column, or a Float array, as ``nan`` and stores it; the writer cannot insert ``None``
  there and dead-letters the row. In a Nullable column both store NULL.
- Instants as text instead of ms: the writer's driver parses them, the engine refuses.
  Instants outside ``DateTime64``'s range: the writer stores the raw ticks, the engine
  dead-letters the row.
- A missing Nullable column: the engine stores NULL, the writer dead-letters.
- A message of several JSON objects: the engine stores each, the writer dead-letters.
- Its dead letters: ``error`` is ClickHouse's parse error; ``raw`` of a row that parsed
  but failed a check is the row as ClickHouse re-encodes it, not the original bytes; an
  empty Kafka key is NULL, like no key; ``received_at`` is when the view ran.
- Float32 arrays: ClickHouse parses the decimal text straight to Float32, the writer
  rounds the parsed double; the two may differ in the last bit in rare cases.

Needs ClickHouse 24.5+ (``input_format_force_null_for_omitted_fields``). All tables share
one consumer group (the writer's offsets), so a rebalance of one restarts them all. The
statements are ``IF NOT EXISTS``: to change one, drop the views and the Kafka table
first. The main view is created before the error view, so the moment between the two
can only lose malformed messages, never rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.ids import _NAMESPACE as STABLE_ID_NAMESPACE
from schemas.results import MAX_DLQ_ERROR_CHARS, MAX_DLQ_KEY_BYTES
from schemas.settings import Settings
from sinks.batch_writer import sink_flow
from sinks.clickhouse_client import open_client, quote_ident
from sinks.result_rows import binary_columns
from sinks.tables import DEAD_LETTERS, RESULT_TABLES, TableSpec

ColumnsByTable = Mapping[str, Sequence[tuple[str, str]]]

KAFKA_ENGINE_FLOW = sink_flow("kafka_engine")
KAFKA_SUFFIX = "_kafka"
VIEW_SUFFIX = "_mv"
ERRORS_VIEW_SUFFIX = "_errors_mv"
# DateTime64's documented range [1900-01-01, 2300-01-01) in epoch ms: outside it
# fromUnixTimestamp64Milli may raise (newer servers) or wrap (older ones)
MIN_INSTANT_MS = -2_208_988_800_000
MAX_INSTANT_MS = 10_413_791_999_999

# Format settings of every Kafka table, each making the engine refuse (dead-letter) what
# the writer refuses rather than store a guess.
FORMAT_SETTINGS: tuple[tuple[str, int], ...] = (
    ("input_format_skip_unknown_fields", 1),  # a newer flow may add columns (as the writer)
    ("input_format_null_as_default", 0),  # null in a non-Nullable column: refused
    ("input_format_force_null_for_omitted_fields", 1),  # a missing column: refused
    ("input_format_json_read_numbers_as_strings", 0),  # a value of another JSON type
    ("input_format_json_read_bools_as_strings", 0),  # in a String column: refused,
    ("input_format_json_read_objects_as_strings", 0),  # not stored as its JSON text
    ("input_format_json_read_arrays_as_strings", 0),
    ("precise_float_parsing", 1),  # floats exactly as the writer's JSON parser reads them
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def sql_string(value: str) -> str:
    """``value`` as a ClickHouse string literal: backslashes and quotes escaped, control
    characters as ``\\xHH``, so no value (a broker list, a topic) can end the literal."""
    body = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", body) + "'"


def physical_columns(client: Client, database: str) -> dict[str, list[tuple[str, str]]]:
    """``table -> [(column, type)]`` of ``database``, in column order, without the columns
    an insert cannot set (ALIAS, MATERIALIZED, EPHEMERAL)."""
    rows = client.query(
        "SELECT table, name, type FROM system.columns "
        "WHERE database = {db:String} "
        "AND default_kind NOT IN ('ALIAS', 'MATERIALIZED', 'EPHEMERAL') "
        "ORDER BY table, position",
        parameters={"db": database},
    ).result_rows
    out: dict[str, list[tuple[str, str]]] = {}
    for table, name, ch_type in rows:
        out.setdefault(table, []).append((name, ch_type))
    return out


@dataclass(frozen=True)
class _Column:
    name: str
    ch_type: str  # the table's type
    instant: bool  # DateTime64: epoch ms in the message
    binary: bool  # bytes: base64 in the message

    @property
    def ident(self) -> str:
        return quote_ident(self.name)

    @property
    def message_type(self) -> str:
        """Its type in the Kafka table."""
        if not self.instant:
            return self.ch_type
        return "Nullable(Int64)" if _nullable(self.ch_type) else "Int64"

    def conversion(self) -> str:
        """The view's expression of the column, aliased to its name."""
        if self.instant:
            return f"fromUnixTimestamp64Milli({self.ident}, 'UTC') AS {self.ident}"
        if self.binary:  # never raises, unlike base64Decode: checked in check() instead
            return f"tryBase64Decode({self.ident}) AS {self.ident}"
        return self.ident

    def check(self) -> tuple[str, str] | None:
        """``(condition, why not)``: what the view must check before converting (a
        conversion that raises would stop the consumer); NULL passes."""
        nullable = _nullable(self.ch_type)
        if self.instant:
            cond = f"{self.ident} BETWEEN {MIN_INSTANT_MS} AND {MAX_INSTANT_MS}"
            cond = f"ifNull({cond}, true)" if nullable else cond
            return cond, f"{self.name}: instant out of range"
        if self.binary:
            value = f"ifNull({self.ident}, '')" if nullable else self.ident
            cond = f"(empty({value}) OR notEmpty(tryBase64Decode({value})))"
            return cond, f"{self.name}: not base64"
        return None


def _nullable(ch_type: str) -> bool:
    return ch_type.startswith("Nullable(")


def _base_type(ch_type: str) -> str:
    return ch_type[len("Nullable(") : -1] if _nullable(ch_type) else ch_type


def _columns(spec: TableSpec[Any], columns_by_table: ColumnsByTable) -> list[_Column]:
    """The message's columns (the spec's, which the writer inserts), typed as the table
    has them and in its order; a column the table lacks means it is not migrated."""
    physical = dict(columns_by_table.get(spec.table, ()))
    missing = [c for c in spec.columns if c not in physical]
    if missing:
        raise ValueError(f"{spec.table} has no column(s) {missing}: migrate the database first")
    reserved = [c for c in spec.columns if c.startswith("_")]
    if reserved:  # the Kafka engine's virtual columns and the views' own names start so
        raise ValueError(f"{spec.table}: column(s) {reserved} clash with the Kafka engine's")
    binary = binary_columns(spec)
    wanted = set(spec.columns)
    return [
        _Column(name, t, _base_type(t).startswith("DateTime64("), name in binary)
        for name, t in columns_by_table[spec.table]
        if name in wanted
    ]


def _kafka_table(db: str, spec: TableSpec[Any], columns: list[_Column], s: Settings, n: int) -> str:
    body = ",\n".join(f"    {c.ident} {c.message_type}" for c in columns)
    settings = [
        ("kafka_broker_list", sql_string(s.kafka_bootstrap)),
        ("kafka_topic_list", sql_string(s.results_topic(spec.table))),
        ("kafka_group_name", sql_string(s.store_group)),
        ("kafka_format", "'JSONEachRow'"),
        ("kafka_num_consumers", str(n)),
        *([("kafka_thread_per_consumer", "1")] if n > 1 else []),
        ("kafka_handle_error_mode", "'stream'"),
        # batches as the writer's (CXPULSE_STORE_BATCH_ROWS, CXPULSE_STORE_FLUSH_INTERVAL_S)
        ("kafka_max_block_size", str(s.store_batch_rows)),
        ("kafka_flush_interval_ms", str(max(1, round(s.store_flush_interval_s * 1000)))),
        *((name, str(value)) for name, value in FORMAT_SETTINGS),
    ]
    listed = ",\n".join(f"    {name} = {value}" for name, value in settings)
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{quote_ident(spec.table + KAFKA_SUFFIX)}\n"
        f"(\n{body}\n)\nENGINE = Kafka\nSETTINGS\n{listed}"
    )


def _inner(db: str, spec: TableSpec[Any], outputs: Sequence[str], where: str) -> str:
    """The views' subquery on the Kafka table. The views read it, rather than the table,
    so that the names they give their results (a column's, a dead letter's) never shadow
    a message column in a condition (ClickHouse resolves aliases before columns)."""
    listed = ",\n        ".join(outputs)
    return (
        f"(\n    SELECT\n        {listed}\n"
        f"    FROM {db}.{quote_ident(spec.table + KAFKA_SUFFIX)}\n"
        f"    WHERE {where}\n)"
    )


def _rows_view(db: str, spec: TableSpec[Any], columns: list[_Column]) -> str:
    select = ",\n    ".join(c.conversion() for c in columns)
    checks = ["length(_error) = 0", *(chk[0] for c in columns if (chk := c.check()))]
    inner = _inner(db, spec, [c.ident for c in columns], "\n      AND ".join(checks))
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{quote_ident(spec.table + VIEW_SUFFIX)}\n"
        f"TO {db}.{quote_ident(spec.table)}\n"
        f"AS SELECT\n    {select}\n"
        f"FROM {inner}"
    )


def _uuid5(sha1: str) -> str:
    """SQL of :func:`uuid.uuid5` given ``sha1``, the SHA-1 of its namespace and name: the
    first 16 bytes with the version (5) and variant bits set, read big-endian."""
    return (
        "toUUID(UUIDNumToString(toFixedString(concat("
        f"substring({sha1}, 1, 6), "
        f"char(bitOr(bitAnd(reinterpretAsUInt8(substring({sha1}, 7, 1)), 15), 80)), "
        f"substring({sha1}, 8, 1), "
        f"char(bitOr(bitAnd(reinterpretAsUInt8(substring({sha1}, 9, 1)), 63), 128)), "
        f"substring({sha1}, 10, 7)), 16)))"
    )


def _errors_view(
    db: str, spec: TableSpec[Any], columns: list[_Column], dead_letter_columns: set[str], cap: int
) -> str:
    checks = [chk for c in columns if (chk := c.check())]
    if checks:
        ok = " AND ".join(cond for cond, _ in checks)
        whys = ", ".join(f"if({cond}, '', {sql_string(why)})" for cond, why in checks)
        row = ", ".join(c.ident for c in columns)
        error = (
            f"if(length(_error) > 0, _error, concat('MalformedRowError: ', "
            f"arrayStringConcat(arrayFilter(x -> notEmpty(x), [{whys}]), '; ')))"
        )
        # a message that parsed has no _raw_message: keep its row as the engine read it
        raw = f"if(length(_error) > 0, _raw_message, formatRowNoNewline('JSONEachRow', {row}))"
        where = f"length(_error) > 0 OR NOT ({ok})"
    else:
        error, raw, where = "_error", "_raw_message", "length(_error) > 0"
    flow = sql_string(KAFKA_ENGINE_FLOW)
    sep = "'\\x1f'"  # the separator of stable_id's parts
    name = (
        f"concat('dlq', {sep}, _topic, {sep}, toString(_partition), {sep}, "
        f"toString(_offset), {sep}, {flow})"
    )
    inner = _inner(
        db,
        spec,
        [
            f"SHA1(concat(unhex('{STABLE_ID_NAMESPACE.hex}'), {name})) AS __letter_sha1",
            f"{error} AS __error",
            f"{raw} AS __raw",
            "_topic AS __topic",
            "_partition AS __partition",
            "_offset AS __offset",
            "_key AS __key",
        ],
        where,
    )
    values = {
        "letter_id": _uuid5("__letter_sha1"),
        "received_at": "now64(3, 'UTC')",
        "topic": "__topic",
        "partition": "toInt32(__partition)",
        "offset": "toInt64(__offset)",
        "reason": "'sink_error'",
        "flow": flow,
        "error": f"substringUTF8(__error, 1, {MAX_DLQ_ERROR_CHARS})",
        "raw": f"substring(__raw, 1, {cap})",
        "key": f"if(empty(__key), NULL, substring(__key, 1, {MAX_DLQ_KEY_BYTES}))",
        "raw_size": "length(__raw)",
        "raw_sha256": "lower(hex(SHA256(__raw)))",
    }
    select = ",\n    ".join(
        f"{v} AS {quote_ident(c)}" for c, v in values.items() if c in dead_letter_columns
    )
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS "
        f"{db}.{quote_ident(spec.table + ERRORS_VIEW_SUFFIX)}\n"
        f"TO {db}.{quote_ident(DEAD_LETTERS.table)}\n"
        f"AS SELECT\n    {select}\n"
        f"FROM {inner}"
    )


def kafka_engine_ddl(
    settings: Settings, columns_by_table: ColumnsByTable, *, num_consumers: int = 1
) -> list[str]:
    """Per result table: its Kafka table, its view into the table and its view into
    ``dead_letters`` (see the module doc). ``columns_by_table``: what
    :func:`physical_columns` reads from a migrated database."""
    if num_consumers < 1:
        raise ValueError(f"num_consumers must be >= 1, got {num_consumers}")
    db = quote_ident(settings.clickhouse_database)
    dead_letter_columns = {name for name, _ in columns_by_table.get(DEAD_LETTERS.table, ())}
    out: list[str] = []
    for spec in RESULT_TABLES:
        columns = _columns(spec, columns_by_table)
        out.append(_kafka_table(db, spec, columns, settings, num_consumers))
        out.append(_rows_view(db, spec, columns))
        out.append(_errors_view(db, spec, columns, dead_letter_columns, settings.dlq_max_raw_bytes))
    return out


def print_kafka_engine_ddl(settings: Settings, *, num_consumers: int = 1) -> str:
    """The DDL for ``settings``' database as one SQL text (what ``cxpulse ddl
    kafka-engine`` prints): its columns are read from the migrated database."""
    client = open_client(settings.dsn, settings.clickhouse_database)
    try:
        columns = physical_columns(client, settings.clickhouse_database)
    finally:
        client.close()
    return ";\n\n".join(kafka_engine_ddl(settings, columns, num_consumers=num_consumers)) + ";\n"
