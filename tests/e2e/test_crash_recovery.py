"""kill -9 of ``cxpulse run`` mid-stream, then a restart: exactly the rows of a clean run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.cli import CXPULSE, ROOT, cli_env, cxpulse, sql_rows

pytestmark = pytest.mark.e2e
N_EVENTS = 120_000
# The flows whose every row is a pure function of the input. Client-risk history
# versions and live-ops grid snapshots also depend on how events from different
# partitions interleave, which a restart may change (see the client_risk notes).
FLOWS = ("ingest", "agent_performance")

# Everything except processing-time columns (ingested_at, fired_at, received_at,
# recorded_at), which legitimately differ between two runs.
QUERIES = {
    "events": "SELECT event_id, kafka_partition, kafka_offset FROM events FINAL ORDER BY event_id",
    "agent_performance": "SELECT * FROM agent_performance_final ORDER BY row_id",
    "alerts": "SELECT alert_id, kind, severity, subject_id, details, event_time "
    "FROM alerts FINAL ORDER BY alert_id",
    "dead_letters": "SELECT letter_id, reason, error, hex(raw) AS raw FROM dead_letters FINAL "
    "ORDER BY letter_id",
    "late_events": "SELECT late_id FROM late_events FINAL ORDER BY late_id",
}


def _snapshot(env: dict[str, str]) -> dict[str, list[dict[str, object]]]:
    return {name: sql_rows(env, q) for name, q in QUERIES.items()}


def test_kill_and_restart_equals_clean_run(kafka_bootstrap: str, tmp_path: Path) -> None:
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
        str(N_EVENTS),
        "--backfill-hours",
        "2000",
        "--invalid-every",
        "2000",
        "--seed",
        "11",
    )

    cxpulse(clean, "run", *FLOWS, "--until-end")
    expected = _snapshot(clean)
    assert len(expected["events"]) == N_EVENTS
    assert len(expected["dead_letters"]) == N_EVENTS // 2000
    assert expected["agent_performance"]
    assert expected["alerts"]

    proc = subprocess.Popen(
        [*CXPULSE, "run", *FLOWS, "--until-end"],
        env=crashy,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the flows are running, then let them work a bit
        if b"running " in line:
            break
    time.sleep(3.0)
    assert proc.poll() is None, "run finished before it could be killed; raise N_EVENTS"
    proc.kill()  # SIGKILL: no cleanup, no final flush
    proc.wait()

    partial = sql_rows(crashy, "SELECT count() AS n FROM events FINAL")[0]["n"]
    assert 0 < int(partial) < N_EVENTS, f"kill did not land mid-stream ({partial} events)"

    cxpulse(crashy, "run", *FLOWS, "--until-end")
    assert _snapshot(crashy) == expected
