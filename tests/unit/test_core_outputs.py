"""flows.core.outputs: each output is a typed key, so mypy refuses a stream wired to an
output of another row type; the runner maps every key to a table or topic."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api as mypy_api

from flows.core.outputs import ALL_OUTPUTS
from infra.runner import OUTPUTS

ROOT = Path(__file__).resolve().parents[2]

WIRING = """
import bytewax.operators as op
from bytewax.dataflow import Stream

from flows.core.io import FlowIO
from flows.core.outputs import AGENT_PERFORMANCE, ALERTS
from schemas.results import AgentWindow


def wire(rows: Stream[AgentWindow], io: FlowIO) -> None:
    op.output("rows_out", rows, io.sink(AGENT_PERFORMANCE))
    op.output("wrong_out", rows, io.sink({key}))
"""


def _mypy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> tuple[str, int]:
    snippet = tmp_path / "wiring.py"
    snippet.write_text(WIRING.format(key=key))
    monkeypatch.chdir(ROOT)  # where mypy finds flows/ and schemas/ and the config
    out, err, status = mypy_api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(snippet),
        ]
    )
    return out + err, status


def test_a_stream_wired_to_an_output_of_another_row_type_is_a_mypy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, status = _mypy(tmp_path, monkeypatch, "ALERTS")
    assert status == 1, report
    assert 'wiring.py:12: error: Cannot infer value of type parameter "X" of "output"' in report
    assert "Found 1 error" in report  # the right output on line 11 is fine


def test_the_same_snippet_wired_right_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, status = _mypy(tmp_path, monkeypatch, "AGENT_PERFORMANCE")
    assert status == 0, report


def test_the_runner_sends_every_output_somewhere() -> None:
    assert set(OUTPUTS) == set(ALL_OUTPUTS)
    assert len({k.name for k in ALL_OUTPUTS}) == len(ALL_OUTPUTS)
