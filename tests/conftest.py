"""Shared fixtures: one real Kafka broker and one embedded ClickHouse path per session.

The embedded engine allows a single data path per process, so every in-process test
shares ``chdb_path`` and isolates itself with a unique database; each test also gets a
unique topic prefix and data dir.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.kafka_local import LocalKafka, free_port
from infra.migrate import migrate
from infra.topics import ensure_topics
from schemas.retention import MAX_RETENTION_DAYS, RETENTION
from schemas.settings import Settings

# The scenarios use fixed dates, which age past the default retention (a TTL merge would
# delete their rows mid-test): tests keep everything; tests of retention set their own.
KEEP_TEST_ROWS = dict.fromkeys(RETENTION, MAX_RETENTION_DAYS)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Apache Kafka broker for the session (or CXPULSE_TEST_KAFKA if set)."""
    external = os.environ.get("CXPULSE_TEST_KAFKA")
    if external:
        yield external
        return
    port = free_port()
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("kafka"), port=port, controller_port=free_port(), heap="512m"
    )
    broker.ensure_jars()
    bootstrap = broker.up(timeout_s=120)
    try:
        yield bootstrap
    finally:
        broker.down()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clickhouse")


def new_database(chdb_path: Path) -> str:
    """A fresh, migrated database on the session's embedded engine."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", name, log=lambda _m: None, retention_days=KEEP_TEST_ROWS)
    return name


@pytest.fixture
def database(chdb_path: Path) -> str:
    return new_database(chdb_path)


@pytest.fixture
def settings(kafka_bootstrap: str, chdb_path: Path, database: str, tmp_path: Path) -> Settings:
    """Settings for one test: own topics, own database, own recovery store."""
    return make_settings(kafka_bootstrap, chdb_path, database, tmp_path / "data")


@pytest.fixture(scope="module")
def module_settings(
    kafka_bootstrap: str, chdb_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Like ``settings``, shared by a module's tests: for one pipeline run that several
    tests only read (a run of the flows costs seconds; reading its tables, nothing)."""
    data_dir = tmp_path_factory.mktemp("module") / "data"
    return make_settings(kafka_bootstrap, chdb_path, new_database(chdb_path), data_dir)


def make_settings(kafka_bootstrap: str, chdb_path: Path, database: str, data_dir: Path) -> Settings:
    """Own topics, the given database and recovery store; the events/DLQ topics created."""
    s = Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        data_dir=data_dir,
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        api_keys="acme:key-acme,globex:key-globex",
        snapshot_interval_s=0.5,
        provisional_interval_s=0.2,
        shards=8,
        max_past_s=0,  # the scenarios use fixed dates; tests of the bound set it themselves
        retention_days=KEEP_TEST_ROWS,
    )
    # the result topics only where flows run (run_and_store): 12 topics per test add up
    ensure_topics(s, log=lambda _m: None, results=False)
    return s
