"""kill -9 of ``cxpulse run`` mid-stream, then a restart: exactly the rows of a clean run."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cli import CXPULSE, ROOT, cli_env, cxpulse, sql_rows, store_offsets

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Case:
    flows: tuple[str, ...]
    events: int
    queries: dict[str, str]  # name -> query; each result non-empty unless in MAY_BE_EMPTY


MAY_BE_EMPTY = {"late_events"}  # the simulator sends no late data
# Everything except processing-time columns (ingested_at, fired_at, received_at,
# recorded_at), which legitimately differ between two runs.
COMMON = {
    "events": "SELECT event_id, kafka_partition, kafka_offset FROM events FINAL ORDER BY event_id",
    "alerts": "SELECT alert_id, kind, severity, subject_id, details, event_time "
    "FROM alerts FINAL ORDER BY alert_id",
    "dead_letters": "SELECT letter_id, reason, error, hex(raw) AS raw FROM dead_letters FINAL "
    "ORDER BY letter_id",
}
# Demand and KB at higher volume (enough history for refits, backtests and covered
# suggestions); tests/e2e/test_determinism.py covers every flow together, batch sizes
# and a kill -9 included.
CASES = {
    # ~90 h of simulated history: cold-start forecasts, hotspots, KB clusters opening
    # and being covered by the simulator's articles
    "demand_kb": Case(
        ("ingest", "demand", "kb"),
        80_000,
        {
            **COMMON,
            "demand_hourly": "SELECT * FROM demand_hourly FINAL "
            "ORDER BY tenant_id, segment_type, segment, hour_start",
            "demand_forecast": "SELECT * FROM demand_forecast_snapshots FINAL "
            "ORDER BY tenant_id, segment_type, segment, generated_at",
            "demand_backtest": "SELECT * FROM demand_backtest FINAL "
            "ORDER BY tenant_id, segment_type, segment, generated_at",
            "kb_suggestions": "SELECT * FROM kb_suggestions FINAL ORDER BY suggestion_id",
        },
    ),
}


def _snapshot(env: dict[str, str], case: Case) -> dict[str, list[dict[str, object]]]:
    return {name: sql_rows(env, q) for name, q in case.queries.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_kill_and_restart_equals_clean_run(name: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    case = CASES[name]
    n_events = case.events
    tuning = {"CXPULSE_SNAPSHOT_INTERVAL_S": "0.5", "CXPULSE_KAFKA_BATCH_SIZE": "500"}
    clean = cli_env(kafka_bootstrap, tmp_path / "clean", **tuning)
    crashy = {
        **cli_env(kafka_bootstrap, tmp_path / "crashy", **tuning),
        "CXPULSE_TOPIC_PREFIX": clean["CXPULSE_TOPIC_PREFIX"],
    }  # same input topic
    cxpulse(clean, "topics")
    cxpulse(
        clean,
        "simulate",
        "--rate",
        "0",
        "--count",
        str(n_events),
        "--backfill-hours",
        "2000",
        "--invalid-every",
        "2000",
        "--seed",
        "11",
        # ~135 h of history whatever the time of day the test starts at: refits with
        # backtests need a UTC midnight at least 48 h into a segment's history
        "--tickets-per-hour",
        "40",
    )

    cxpulse(clean, "run", *case.flows, "--until-end")
    expected = _snapshot(clean, case)
    assert len(expected["events"]) == n_events
    assert len(expected["dead_letters"]) == n_events // 2000
    empty = {k for k, rows in expected.items() if not rows} - MAY_BE_EMPTY
    assert not empty, {k: len(v) for k, v in expected.items()}

    events_topic = f"{crashy['CXPULSE_RESULTS_PREFIX']}events"
    proc = subprocess.Popen(
        [*CXPULSE, "run", *case.flows, "--until-end"],
        env=crashy,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the flows are running
        if b"running " in line:
            break
    deadline = time.monotonic() + 120
    while not store_offsets(crashy).get(events_topic) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the storage writer committed its first events
    assert proc.poll() is None, "run finished before it could be killed; raise the case's events"
    proc.kill()  # SIGKILL: no cleanup, no final flush
    proc.wait()

    partial = sql_rows(crashy, "SELECT count() AS n FROM events FINAL")[0]["n"]
    assert 0 < int(partial) < n_events, f"kill did not land mid-stream ({partial} events)"

    cxpulse(crashy, "run", *case.flows, "--until-end")
    got = _snapshot(crashy, case)
    for table, rows in expected.items():
        assert got[table] == rows, table
