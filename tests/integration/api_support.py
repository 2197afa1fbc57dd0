"""Shared set-up of the API integration tests: settings on the session's embedded engine
and a TestClient on ``create_app`` (the readiness probe's Kafka checks stubbed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from schemas.settings import Settings


def api_settings(chdb_path: Path, database: str, tmp_path: Path, api_keys: str) -> Settings:
    return Settings(
        api_keys=api_keys,
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        kafka_bootstrap="127.0.0.1:1",
        data_dir=tmp_path / "data",
    )


def api_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, kafka_check=lambda: None, store_lag=dict)) as tc:
        yield tc
