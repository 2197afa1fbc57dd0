"""The Kafka-engine DDL (infra/kafka_engine.py) stores what the storage writer stores.

The embedded engine cannot run the Kafka engine, so each ``<table>_kafka`` is stood in
for by a Memory table of the same columns plus the engine's virtual ones; the generated
views are then created verbatim on top of it, and the result messages inserted into it
(``FORMAT JSONEachRow``, with the Kafka table's format settings) go through them into
the real tables. A second database gets the same messages through the storage writer's
own decode and insert; the two must hold the same rows. No broker needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from infra.kafka_engine import (
    FORMAT_SETTINGS,
    KAFKA_ENGINE_FLOW,
    KAFKA_SUFFIX,
    kafka_engine_ddl,
    physical_columns,
    print_kafka_engine_ddl,
    sql_string,
)
from infra.migrate import migrate
from schemas.demand import BacktestRow, ForecastSnapshot
from schemas.results import AgentWindow, Alert, LateEvent, dead_letter_id, make_dead_letter
from schemas.settings import Settings
from schemas.transport import Accepted
from sinks import tables
from sinks.clickhouse_client import open_client
from sinks.clickhouse_sink import ClickHouseWriter
from sinks.result_rows import RowCodec
from sinks.tables import RESULT_TABLES, TableSpec
from tests.conftest import KEEP_TEST_ROWS
from tests.unit.helpers import make_event, uid

pytestmark = pytest.mark.integration

AT = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
# what the Kafka engine adds to every row it reads (the stand-ins hold them as columns)
VIRTUAL_COLUMNS = (
    "`_topic` LowCardinality(String), `_key` String, `_offset` UInt64, `_partition` UInt64, "
    "`_raw_message` String, `_error` String"
)
BYTES = {"String": "bytes"}  # read String columns as the bytes they hold
HOSTILE = (
    "'",
    "\\",
    "\\'",
    "''",
    "x', kafka_topic_list = 'evil",
    "h:1'); DROP TABLE t; --",
    "a\nb\rc\td\x00e\x1ff\x7f",
    "\\x27 \\' \\\\'",
    "ünïcode \u2028 \U0001f600",
    '`"{db:String}%(q)s',
)


def _settings(chdb_path: Path, database: str, data_dir: Path) -> Settings:
    """Settings on a migrated ``database`` (no broker: nothing here consumes)."""
    return Settings(
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        data_dir=data_dir,
        topic_prefix="cx.",
        dlq_max_raw_bytes=64,
    )


@pytest.fixture
def settings(chdb_path: Path, database: str, tmp_path: Path) -> Settings:
    """A fresh database, for the tests that compare whole tables."""
    return _settings(chdb_path, database, tmp_path)


@pytest.fixture(scope="module")
def shared(chdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One database for the tests that only parse, or clear what they write."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", name, log=lambda _m: None, retention_days=KEEP_TEST_ROWS)
    return _settings(chdb_path, name, tmp_path_factory.mktemp("kafka_engine"))


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    c = open_client(settings.dsn, settings.clickhouse_database)
    yield c
    c.close()


@pytest.fixture
def shared_client(shared: Settings) -> Iterator[Client]:
    c = open_client(shared.dsn, shared.clickhouse_database)
    yield c
    c.close()


def _formatted(client: Client, sql: str) -> str:
    """``sql`` as ClickHouse's parser reads it back (raises unless one valid statement)."""
    return str(client.query("SELECT formatQuery(%(q)s)", parameters={"q": sql}).result_rows[0][0])


def _stand_in(kafka_table: str) -> str:
    """The Kafka table's DDL with its columns kept and the engine a Memory one."""
    head, _ = kafka_table.split("\n)\nENGINE = Kafka", 1)
    return f"{head},\n    {VIRTUAL_COLUMNS}\n)\nENGINE = Memory"


def _install(client: Client, statements: Sequence[str]) -> None:
    """Every Kafka table as a stand-in, every view as generated."""
    for stmt in statements:
        client.command(_stand_in(stmt) if "ENGINE = Kafka" in stmt else stmt)


def _consume(
    client: Client, settings: Settings, table: str, values: Sequence[bytes], **virtual: Any
) -> None:
    """What the engine does with messages that parse: rows of the Kafka table (with the
    virtual columns it adds), read with its format settings, pushed through its views."""
    fields = {"_topic": settings.results_topic(table), "_key": "k", "_partition": 0}
    fields |= {"_raw_message": "", "_error": ""} | virtual
    docs = [orjson.dumps({"_offset": i} | fields | orjson.loads(v)) for i, v in enumerate(values)]
    format_settings = ", ".join(f"{name} = {value}" for name, value in FORMAT_SETTINGS)
    body = b"\n".join(docs).decode()
    client.command(
        f"INSERT INTO `{settings.clickhouse_database}`.`{table}{KAFKA_SUFFIX}` "
        f"SETTINGS {format_settings} FORMAT JSONEachRow\n{body}"
    )


def _rows(client: Client, database: str, table: str) -> list[tuple[Any, ...]]:
    sql = f"SELECT * FROM `{database}`.`{table}` ORDER BY ALL"
    return [tuple(r) for r in client.query(sql, query_formats=BYTES).result_rows]


# --- sample rows of a few result tables --------------------------------------------


def _alerts() -> list[Alert]:
    base = {
        "tenant_id": "acme",
        "kind": "coaching",
        "severity": "medium",
        "subject_type": "agent",
        "subject_id": "A1",
        "title": 'low CSAT: "quoted" and \\ backslash',
        "details": {"rating": 1, "note": "ünïcode \u2028 {nested: [1, 2]}"},
        "event_time": AT,
        "fired_at": AT + timedelta(milliseconds=7),
    }
    return [
        Alert.model_validate(base | {"alert_id": uid("alert", i), "subject_id": f"A{i}"})
        for i in range(2)
    ]


def _dead_letters() -> list[Any]:
    raw = bytes(range(256)) * 3 + b"\xff\xfe\xc3("  # not UTF-8
    return [
        make_dead_letter(
            topic="cx.events",
            partition=2,
            offset=41,
            key=b"\xff\x00key",
            raw=raw,
            reason="invalid_utf8",
            error="bad bytes",
            received_at=AT,
        ),
        make_dead_letter(
            topic="cx.events",
            partition=0,
            offset=7,
            key=None,
            raw=raw,
            reason="processing_error",
            error="ValueError: ünïcode",
            received_at=AT,
            flow="agent_performance",
            cap=10,  # truncated: raw_size and raw_sha256 describe the whole
        ),
    ]


def _agent_windows() -> list[AgentWindow]:
    return [
        AgentWindow(
            row_id=uid("window", i),
            version=2**40 + i,
            is_final=bool(i),
            tenant_id="acme",
            agent_id=f"ag-{i}",
            window="5m",
            window_start=AT.replace(second=0, microsecond=0),
            window_end=AT.replace(second=0, microsecond=0) + timedelta(minutes=5),
            tickets_assigned=3,
            handle_time_sum_s=0.1 + 0.2,  # floats must round-trip exactly
            handle_time_count=1,
            first_response_sum_s=12345.678901234567,
            first_response_count=2,
            csat_sum=9,
            csat_count=2,
            low_csat_count=1,
        )
        for i in range(2)
    ]


def _events() -> list[Accepted]:
    created = make_event("ticket.created", occurred_at=AT, tenant="acme")
    correlated = make_event("ticket.assigned", occurred_at=AT + timedelta(seconds=1))
    correlated = correlated.model_copy(update={"correlation_id": "corr-1"})
    return [
        Accepted(created, partition=1, offset=10, ingested_at=AT + timedelta(seconds=2)),
        Accepted(correlated, partition=2, offset=11, ingested_at=AT + timedelta(seconds=3)),
    ]


def _late_events() -> list[LateEvent]:
    return [
        LateEvent(
            late_id=uid("late"),
            flow="agent_performance",
            event_id=uid("event"),
            tenant_id="acme",
            event_type="csat.received",
            occurred_at=AT - timedelta(days=3),
            watermark=AT,
            recorded_at=AT,
        )
    ]


def _backtests() -> list[BacktestRow]:
    row: dict[str, Any] = {
        "tenant_id": "acme",
        "segment_type": "queue",
        "segment": "billing",
        "generated_at": AT,
        "model": "holt_winters_168h_sqrt",
        "baseline": "seasonal_naive_168h",
        "origins": 7,
        "horizon_h": 24,
        "points": 168,
        "mae": 1.25,
        "baseline_mae": 2.5,
    }
    return [
        BacktestRow(**row, wape=0.1, mase=0.5, coverage_80=0.8, coverage_95=1 / 3),
        BacktestRow(
            **(row | {"segment": "sales"}), wape=None, mase=None, coverage_80=None, coverage_95=None
        ),
    ]


def _forecasts() -> list[ForecastSnapshot]:
    values = (0.1, 1 / 3, 12.75, 0.0)
    return [
        ForecastSnapshot(
            tenant_id="acme",
            segment_type="region",
            segment="eu",
            generated_at=AT,
            first_target=AT + timedelta(hours=1),
            model="seasonal_mean_24h",
            predicted=values,
            lower_80=tuple(v / 2 for v in values),
            upper_80=tuple(v * 2 for v in values),
            lower_95=(),  # empty arrays too
            upper_95=values,
        )
    ]


SAMPLES: dict[str, Any] = {
    "alerts": _alerts,
    "dead_letters": _dead_letters,
    "agent_performance": _agent_windows,
    "events": _events,
    "late_events": _late_events,
    "demand_backtest": _backtests,
    "demand_forecast_snapshots": _forecasts,
}
SPECS: dict[str, TableSpec[Any]] = {spec.table: spec for spec in RESULT_TABLES}


# --- the tests ---------------------------------------------------------------------


def test_every_statement_parses_and_the_cli_text_is_the_same(
    shared: Settings, shared_client: Client
) -> None:
    columns = physical_columns(shared_client, shared.clickhouse_database)
    statements = kafka_engine_ddl(shared, columns, num_consumers=3)
    assert len(statements) == 3 * len(RESULT_TABLES)
    for stmt in statements:
        _formatted(shared_client, stmt)  # one statement that parses, or this raises
    text = print_kafka_engine_ddl(shared)
    assert text.endswith(";\n")
    assert text.removesuffix(";\n").split(";\n\n") == kafka_engine_ddl(shared, columns)
    # what the writer inserts, minus what it cannot (ALIAS columns are never read)
    assert ("avg_handle_time_s", "Nullable(Float64)") not in columns["agent_performance"]
    kafka = {s.split("`")[3]: s for s in statements if "ENGINE = Kafka" in s}
    assert "`event_time` Int64," in kafka["alerts_kafka"]  # instants as epoch ms
    assert "`key` Nullable(String)" in kafka["dead_letters_kafka"]  # base64, as text
    assert f"kafka_topic_list = '{shared.results_topic('alerts')}'" in kafka["alerts_kafka"]
    assert f"kafka_group_name = '{shared.store_group}'" in kafka["alerts_kafka"]
    assert "kafka_num_consumers = 3" in kafka["alerts_kafka"]


def test_an_unmigrated_table_is_refused(shared: Settings, shared_client: Client) -> None:
    columns = physical_columns(shared_client, shared.clickhouse_database)
    columns["alerts"] = [c for c in columns["alerts"] if c[0] != "fired_at"]
    with pytest.raises(ValueError, match="fired_at"):
        kafka_engine_ddl(shared, columns)


def test_the_views_store_what_the_storage_writer_stores(settings: Settings, client: Client) -> None:
    db = settings.clickhouse_database
    _install(client, kafka_engine_ddl(settings, physical_columns(client, db)))
    by_writer = f"t_{uuid.uuid4().hex[:12]}"
    migrate(settings.dsn, by_writer, log=lambda _m: None, retention_days=KEEP_TEST_ROWS)
    writer_client = open_client(settings.dsn, by_writer)
    try:
        for table, make in SAMPLES.items():
            spec = SPECS[table]
            items = make()
            values = [value for _, value, _ in RowCodec(spec).encode_batch(items)]
            _consume(client, settings, table, values)
            columns, bad = RowCodec(spec).decode_batch(values)
            assert bad == []
            stored = ClickHouseWriter(lambda: writer_client, spec).write_columns(columns)
            assert stored == len(items)
        for table in SAMPLES:
            by_engine = _rows(client, db, table)
            assert len(by_engine) == len(SAMPLES[table]()), table
            assert by_engine == _rows(writer_client, by_writer, table), table
    finally:
        writer_client.close()
    # and against the items themselves, whatever the writer does
    alert = client.query(
        f"SELECT event_time, fired_at, details FROM `{db}`.alerts ORDER BY alert_id LIMIT 1"
    ).result_rows[0]
    assert [t.replace(tzinfo=UTC) for t in alert[:2]] == [AT, AT + timedelta(milliseconds=7)]
    assert json.loads(alert[2]) == _alerts()[0].details
    letters = client.query(
        f"SELECT raw, key, raw_size FROM `{db}`.dead_letters ORDER BY offset DESC",
        query_formats=BYTES,
    ).result_rows
    originals = _dead_letters()
    assert [tuple(r) for r in letters] == [(d.raw, d.key, d.raw_size) for d in originals]


def test_messages_that_are_not_rows_become_dead_letters(settings: Settings, client: Client) -> None:
    db = settings.clickhouse_database
    _install(client, kafka_engine_ddl(settings, physical_columns(client, db)))
    topic = settings.results_topic("alerts")
    # 1. a message the engine could not parse (stream mode: only the virtual columns)
    raw = b"\xff{not json " + b"x" * 200
    client.insert(
        f"alerts{KAFKA_SUFFIX}",
        [[topic, b"k\xff1", 41, 2, raw, "Cannot parse JSON object here"]],
        column_names=["_topic", "_key", "_offset", "_partition", "_raw_message", "_error"],
    )
    # 2. and 3. messages that parse but that the views must not convert
    letter = orjson.loads(RowCodec(tables.DEAD_LETTERS).encode(_dead_letters()[0])[1])
    bad_letter = orjson.dumps(letter | {"raw": "***"})
    _consume(client, settings, "dead_letters", [bad_letter], _offset=5, _key="")
    alert = orjson.loads(RowCodec(tables.ALERTS).encode(_alerts()[0])[1])
    bad_alert = orjson.dumps(alert | {"event_time": 10**16})
    _consume(client, settings, "alerts", [bad_alert], _offset=6, _partition=1)

    assert _rows(client, db, "alerts") == []
    got = {
        r["offset"]: r
        for r in client.query(
            f"SELECT * FROM `{db}`.dead_letters WHERE flow = {{f:String}}",
            parameters={"f": KAFKA_ENGINE_FLOW},
            column_formats={"raw": "bytes", "key": "bytes"},
        ).named_results()
    }
    assert sorted(got) == [5, 6, 41]
    assert got[41]["letter_id"] == dead_letter_id(topic, 2, 41, KAFKA_ENGINE_FLOW)
    expected = make_dead_letter(
        topic=topic,
        partition=2,
        offset=41,
        key=b"k\xff1",
        raw=raw,
        reason="sink_error",
        error="Cannot parse JSON object here",
        received_at=AT,
        flow=KAFKA_ENGINE_FLOW,
        cap=settings.dlq_max_raw_bytes,
    )
    for name in ("topic", "partition", "offset", "reason", "error", "raw_size", "raw_sha256"):
        assert got[41][name] == getattr(expected, name), name
    assert (got[41]["raw"], got[41]["key"]) == (expected.raw, expected.key)
    assert got[5]["letter_id"] == dead_letter_id(
        settings.results_topic("dead_letters"), 0, 5, KAFKA_ENGINE_FLOW
    )
    assert got[5]["error"] == "MalformedRowError: raw: not base64"
    assert got[5]["key"] is None  # no Kafka key
    assert got[6]["error"] == "MalformedRowError: event_time: instant out of range"
    # a row that parsed keeps the row as the engine read it (capped like any raw)
    assert got[6]["raw"].startswith(b'{"alert_id":')
    assert len(got[6]["raw"]) == settings.dlq_max_raw_bytes < got[6]["raw_size"]


@pytest.mark.parametrize(
    ("change", "writer_stores", "engine_stores"),
    [
        pytest.param(lambda d: None, True, True, id="a row"),
        pytest.param(lambda d: d.update(future_column=1), True, True, id="a newer flow's column"),
        pytest.param(lambda d: d.pop("handle_time_sum_s"), False, False, id="missing column"),
        pytest.param(lambda d: d.update(agent_id={"a": 1}), False, False, id="object for String"),
        pytest.param(lambda d: d.update(agent_id=17), False, False, id="number for String"),
        pytest.param(lambda d: d.update(tenant_id=None), False, False, id="null for String"),
        # where they differ (see infra/kafka_engine.py): ClickHouse reads a JSON null in
        # a Float column as nan (the NaN it stood for) where the writer cannot insert
        # None; the writer's driver parses a date text where the engine wants ms
        pytest.param(lambda d: d.update(handle_time_sum_s=None), False, True, id="NaN as null"),
        pytest.param(lambda d: d.update(window_start="2026-03-01"), True, False, id="date text"),
    ],
)
def test_the_engine_refuses_what_the_writer_refuses(
    shared: Settings, shared_client: Client, change: Any, writer_stores: bool, engine_stores: bool
) -> None:
    """The engine reads with the Kafka table's format settings: a message that fails
    to parse so is one the engine streams to ``_error`` (a dead letter), as the writer
    dead-letters a message it cannot decode or insert."""
    db = shared.clickhouse_database
    spec = tables.AGENT_PERFORMANCE
    _install(shared_client, kafka_engine_ddl(shared, physical_columns(shared_client, db)))
    doc = orjson.loads(RowCodec(spec).encode(_agent_windows()[0])[1])
    change(doc)
    value = orjson.dumps(doc)
    columns, _bad = RowCodec(spec).decode_batch([value])
    shared_client.command(f"TRUNCATE TABLE `{db}`.agent_performance")
    ClickHouseWriter(lambda: shared_client, spec).write_columns(columns)
    assert len(_rows(shared_client, db, "agent_performance")) == writer_stores
    shared_client.command(f"TRUNCATE TABLE `{db}`.agent_performance")
    try:
        _consume(shared_client, shared, "agent_performance", [value])
    except DatabaseError as exc:  # a parse error: the engine's _error
        error = str(exc)
    else:
        error = ""
    assert (error == "") == engine_stores, error
    assert len(_rows(shared_client, db, "agent_performance")) == engine_stores


def test_sql_string_survives_hostile_values(shared_client: Client) -> None:
    for value in HOSTILE:
        assert shared_client.query(f"SELECT {sql_string(value)}").result_rows[0][0] == value


def test_a_hostile_broker_or_topic_prefix_stays_inside_its_literal(
    shared: Settings, shared_client: Client
) -> None:
    """Settings validate the prefix, but the DDL must not rely on it: the hostile
    statement is parsed into the same statement as a benign one, literal for literal."""
    columns = physical_columns(shared_client, shared.clickhouse_database)
    for broker, prefix in zip(HOSTILE, reversed(HOSTILE), strict=True):
        hostile = shared.model_copy(update={"kafka_bootstrap": broker, "topic_prefix": prefix})
        values = {
            "'B'": broker,
            "'T'": hostile.results_topic("alerts"),
            "'G'": hostile.store_group,
        }
        stmt = kafka_engine_ddl(hostile, columns)[
            [s.table for s in RESULT_TABLES].index("alerts") * 3
        ]
        benign = stmt
        for placeholder, value in values.items():
            assert stmt.count(sql_string(value)) == 1
            benign = benign.replace(sql_string(value), placeholder)
        expected = _formatted(shared_client, benign)
        for placeholder, value in values.items():
            literal = _formatted(shared_client, f"SELECT {sql_string(value)}").removeprefix(
                "SELECT "
            )
            expected = expected.replace(placeholder, literal)
        assert _formatted(shared_client, stmt) == expected
        for each in kafka_engine_ddl(hostile, columns):
            _formatted(shared_client, each)


_ENGINE_PROBE = """
import json, sys, tempfile
import clickhouse_connect
client = clickhouse_connect.get_client(dsn="chdb://" + tempfile.mkdtemp())
client.command("CREATE DATABASE IF NOT EXISTS " + sys.argv[1])
errors = []
for stmt in json.load(sys.stdin):
    try:
        client.command(stmt)
        errors.append("")
    except Exception as exc:
        errors.append(str(exc))
print(json.dumps(errors))
"""


def test_the_kafka_settings_are_known_to_clickhouse(
    shared: Settings, shared_client: Client
) -> None:
    """The embedded engine validates a Kafka table's settings before it fails to start
    the engine ("Shutdown was called"): an unknown name or value fails differently.
    In a process of its own, with its own data path, away from the session's engine."""
    columns = physical_columns(shared_client, shared.clickhouse_database)
    kafka = [
        s
        for n in (1, 2)
        for s in kafka_engine_ddl(shared, columns, num_consumers=n)
        if "ENGINE = Kafka" in s
    ]
    done = subprocess.run(
        [sys.executable, "-c", _ENGINE_PROBE, f"`{shared.clickhouse_database}`"],
        input=json.dumps(kafka),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    errors = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(errors) == len(kafka)
    for error in errors:
        assert error == "" or "Shutdown was called" in error, error
