"""Start-up refusals and safe defaults of the CLI (issue #14): short API keys stop the API
server before it listens; the flows' metrics port binds the loopback interface."""

from __future__ import annotations

import inspect

import pytest
import typer
from typer.testing import CliRunner

from infra.cli import app, refuse_short_keys, run, serve_metrics
from infra.kafka_local import free_port
from schemas.settings import Settings


def test_short_api_keys_stop_the_api_at_start() -> None:
    result = CliRunner().invoke(
        app,
        ["api", "--port", str(free_port())],
        env={
            "CXPULSE_API_KEYS": "acme:demo-acme,globex:" + "g" * 24,
            "CXPULSE_CLICKHOUSE_DSN": "http://127.0.0.1:1",  # never reached
        },
    )
    assert result.exit_code == 2, result.output
    assert "acme are shorter than 24 characters" in result.output
    assert "demo-acme" not in result.output  # the key itself is never printed


def test_keys_of_24_characters_or_more_pass() -> None:
    refuse_short_keys(Settings(api_keys="acme:" + "a" * 24 + ":read,globex:" + "b" * 40))
    with pytest.raises(typer.Exit):
        refuse_short_keys(Settings(api_keys="acme:" + "a" * 23))


def test_the_metrics_port_binds_loopback_by_default() -> None:
    default = inspect.signature(run).parameters["metrics_host"].default
    assert default == "127.0.0.1"
    server = serve_metrics(default, free_port())
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()
