"""One input, every flow: the same tables whatever the batch size, the number of
compute processes, and after kill -9 of a whole ``cxpulse run``, of a compute process or
of the storage writer.

Issues 9 and 11 ("results never depend on batch size, worker count or restart
points"): the simulator's traffic plus late events, poison pills and a scripted tenant
whose five days of history reach demand refits with backtests and a KB suggestion that
opens and is covered, is replayed with ``CXPULSE_KAFKA_BATCH_SIZE`` 5000 in one process
and 100 in two (`run --processes 2`); with 1 in one process, killed (SIGKILL to `cxpulse
run`: the storage writer and, with it, its compute process) once the writer stored its
first rows, and run again; then in two processes with one of them killed at a random
point and a restart; then computed without storing and stored by a `cxpulse store`
that is killed mid-way and restarted. Every table must come out identical
(processing-time columns aside). (This replaced tests/e2e/test_crash_recovery.py, whose
80,000 simulated events were there only to reach backtests and covered suggestions.)
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import scenario
from tests.e2e.cli import CXPULSE, ROOT, cli_env, cxpulse, sql_rows, store_offsets
from tests.unit.helpers import envelope

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N_EVENTS = 6_000
# Every table, without the processing-time columns (ingested_at, fired_at, received_at,
# recorded_at), which legitimately differ between two runs.
TABLES = {  # name -> (columns, source)
    "events": ("event_id, tenant_id, kafka_partition, kafka_offset", "events FINAL"),
    "dead_letters": ("letter_id, flow, reason, raw_size, raw_sha256", "dead_letters FINAL"),
    "agent_performance": ("*", "agent_performance_final"),
    "late_events": ("late_id, flow, event_id, occurred_at, watermark", "late_events FINAL"),
    "alerts": ("alert_id, kind, severity, subject_id, title, details, event_time", "alerts FINAL"),
    "client_risk": ("*", "client_risk FINAL"),
    "ops_snapshots": ("*", "ops_snapshots FINAL"),
    "ops_queue_snapshots": ("*", "ops_queue_snapshots FINAL"),
    "ops_agent_board": ("*", "ops_agent_board FINAL"),
    "demand_hourly": ("*", "demand_hourly FINAL"),
    "demand_forecast": ("*", "demand_forecast_snapshots FINAL"),
    # a row per candidate model and refit: model is in the table's key, and rows are
    # compared whole (sorted), so every candidate's backtest must agree
    "demand_backtest": ("*", "demand_backtest FINAL"),
    "kb_suggestions": ("*", "kb_suggestions FINAL"),
}
# one query (one process start) for every table: rows as JSON text, sorted here
EVERY_TABLE = " UNION ALL ".join(
    f"SELECT '{name}' AS t, formatRowNoNewline('JSONEachRow', {cols}) AS r FROM {src}"
    for name, (cols, src) in TABLES.items()
)
# A tenant of its own (its event time is its own): five days of demand from a Monday,
# so segments are refit with backtests at the UTC midnights 48 h and more into their
# history, and one recurring problem whose article arrives after its suggestion opened.
KB_TENANT, KB_START, KB_HOURS = "umbrella", datetime(2026, 3, 2, tzinfo=UTC), 120
VAT = [
    (
        "VAT number missing on invoice PDF",
        "Our invoice PDF does not show our VAT number.",
        "Added the VAT number to the billing profile and regenerated the invoice PDF.",
    ),
    (
        "Invoice without VAT number",
        "The invoice PDF we downloaded has no VAT number on it.",
        "The billing profile had no VAT number; added it and regenerated the invoice PDF.",
    ),
    (
        "Please add our VAT number to the invoice",
        "Our VAT number is not on the invoice PDF.",
        "Entered the VAT number in the billing profile and regenerated the invoice PDF.",
    ),
]
VAT_ARTICLE = {
    "article_id": "kb-vat",
    "title": "How to get your VAT number on invoices",
    "body": "Invoice PDFs show the VAT number from your billing profile. Add the VAT number "
    "in the billing profile, then regenerate the invoice PDF and the VAT number is on it.",
    "category": "billing",
}


def _ticket(
    ticket: str, at: datetime, queue: str, region: str, text: tuple[str, str]
) -> dict[str, Any]:
    payload = {
        "ticket_id": ticket,
        "client_id": "C1",
        "channel": "email",
        "queue": queue,
        "priority": "low",
        "category": "billing",
        "subject": text[0],
        "description": text[1],
        "region": region,
    }
    return envelope("ticket.created", payload, occurred_at=at, tenant=KB_TENANT)


def _kb_tenant() -> list[dict[str, Any]]:
    events = []
    for h in range(KB_HOURS):
        at = KB_START + timedelta(hours=h)
        for i in range(3 if 9 <= at.hour < 18 else 1):
            events.append(
                _ticket(
                    f"B{h}-{i}",
                    at + timedelta(minutes=1 + 15 * i),
                    "billing",
                    "north",
                    ("Invoice question", "Please check my invoice"),
                )
            )
    for i, (subject, description, resolution) in enumerate(VAT):
        created = KB_START + timedelta(days=1 + i, hours=14, minutes=5)
        events.append(_ticket(f"VAT{i}", created, "support", "south", (subject, description)))
        assigned = {"ticket_id": f"VAT{i}", "agent_id": "A1", "assigned_by": "auto"}
        at = created + timedelta(minutes=10)
        if i != 1:  # VAT1's resolution never gets an assignment: counted, never late
            events.append(envelope("ticket.assigned", assigned, occurred_at=at, tenant=KB_TENANT))
        resolved = {
            "ticket_id": f"VAT{i}",
            "agent_id": "A1",
            "category": "billing",
            "resolution_code": "fixed",
            "resolution_text": resolution,
        }
        events.append(
            envelope(
                "ticket.resolved",
                resolved,
                occurred_at=created + timedelta(hours=1),
                tenant=KB_TENANT,
            )
        )
    article_at = KB_START + timedelta(days=4, hours=12)
    events.append(
        envelope("kb.article_created", VAT_ARTICLE, occurred_at=article_at, tenant=KB_TENANT)
    )
    return sorted(events, key=lambda e: str(e["occurred_at"]))


def _extra_lines() -> bytes:
    """Late events (months behind the simulator's tenants' clocks), poison pills and the
    scripted demand/KB tenant."""
    late = scenario.late_event()
    lines = [json.dumps({**late, "tenant_id": t}).encode() for t in ("acme", "globex")]
    lines += [json.dumps(e).encode() for e in _kb_tenant()]
    lines.append(b'{"event_id": "not json')
    return b"\n".join(lines) + b"\n"


def _tables(env: dict[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {name: [] for name in TABLES}
    for row in sql_rows(env, EVERY_TABLE):
        out[row["t"]].append(row["r"])
    return {name: sorted(rows) for name, rows in out.items()}


def _assert_candidates_per_refit(rows: list[str]) -> None:
    """The scripted tenant's backtests: several candidates per refit, one row each (so
    the comparison covers all of them, not just the chosen), exactly one selected."""
    mine = [json.loads(r) for r in rows if f'"tenant_id":"{KB_TENANT}"' in r]
    refits = Counter((r["segment_type"], r["segment"], r["generated_at"]) for r in mine)
    assert min(refits.values()) >= 2, refits
    keys = {(r["segment_type"], r["segment"], r["generated_at"], r["model"]) for r in mine}
    assert len(keys) == len(mine)
    assert sum(bool(r["selected"]) for r in mine) == len(refits)


def test_every_table_is_the_same_for_any_batch_size_and_a_crash(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    base = cli_env(kafka_bootstrap, tmp_path / "b5000", CXPULSE_SNAPSHOT_INTERVAL_S="0.5")
    topic = {"CXPULSE_TOPIC_PREFIX": base["CXPULSE_TOPIC_PREFIX"]}
    cxpulse(base, "topics")
    cxpulse(
        base,
        "simulate",
        "--rate",
        "0",
        "--count",
        str(N_EVENTS),
        "--backfill-hours",
        "200",
        "--invalid-every",
        "1000",
        "--seed",
        "7",
    )
    cxpulse(base, "emit", "-", stdin=_extra_lines(), check=False)  # the pill is refused here

    results: dict[int, dict[str, list[str]]] = {}
    for size, processes in ((5000, 1), (100, 2), (1, 1)):
        env = {
            **cli_env(kafka_bootstrap, tmp_path / f"b{size}", CXPULSE_SNAPSHOT_INTERVAL_S="0.5"),
            **topic,
            "CXPULSE_KAFKA_BATCH_SIZE": str(size),
        }
        if size == 1:  # the slowest run: a kill lands mid-stream
            _kill_run_once_it_stored(env, len(results[5000]["events"]))
        cxpulse(env, "run", "--until-end", "--processes", str(processes), timeout=600)
        results[size] = _tables(env)

    expected = results[5000]
    empty = {k for k, rows in expected.items() if not rows}
    assert not empty, {k: len(v) for k, v in expected.items()}
    assert any('"agent_performance"' in r for r in expected["late_events"])
    assert any(f'"tenant_id":"{KB_TENANT}"' in r for r in expected["demand_backtest"])
    _assert_candidates_per_refit(expected["demand_backtest"])
    assert any('"status":"covered"' in r for r in expected["kb_suggestions"])
    for size in (100, 1):
        for table, rows in expected.items():
            assert results[size][table] == rows, (size, table)

    crashy = {
        **cli_env(kafka_bootstrap, tmp_path / "crashy", CXPULSE_SNAPSHOT_INTERVAL_S="0.5"),
        **topic,
        "CXPULSE_KAFKA_BATCH_SIZE": "100",
    }
    proc = subprocess.Popen(
        [*CXPULSE, "run", "--until-end", "--processes", "2"],
        env=crashy,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if b"running " in line:
            break
    time.sleep(random.uniform(1.0, 3.0))
    children = _children(proc.pid)
    assert len(children) == 2, children
    os.kill(random.choice(children), signal.SIGKILL)  # one compute process, no cleanup
    proc.stderr.read()
    assert proc.wait(timeout=120) != 0  # the run fails; the other process was stopped
    assert not any(_alive(c) for c in children)
    cxpulse(crashy, "run", "--until-end", "--processes", "2", timeout=600)
    got = _tables(crashy)
    for table, rows in expected.items():
        assert got[table] == rows, ("after kill -9 of a compute process", table)

    # compute only, then a storage writer killed mid-way (small inserts, so there are
    # many commits to land between) and started again
    stored = {
        **cli_env(kafka_bootstrap, tmp_path / "stored", CXPULSE_SNAPSHOT_INTERVAL_S="0.5"),
        **topic,
        "CXPULSE_STORE_BATCH_ROWS": "500",
    }
    cxpulse(stored, "run", "--until-end", "--no-store", timeout=600)
    writer = subprocess.Popen(
        [*CXPULSE, "store", "--until-end"],
        env=stored,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    total = sum(store_offsets(stored, committed=False).values())
    deadline = time.monotonic() + 120
    while sum(store_offsets(stored).values()) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # until its first commit
    writer.kill()  # SIGKILL: no cleanup
    writer.wait()
    assert 0 < sum(store_offsets(stored).values()) < total, "the kill did not land mid-way"
    cxpulse(stored, "store", "--until-end", timeout=600)
    got = _tables(stored)
    for table, rows in expected.items():
        assert got[table] == rows, ("after kill -9 of the storage writer", table)


def _kill_run_once_it_stored(env: dict[str, str], n_events: int) -> None:
    """Start ``cxpulse run --until-end``, SIGKILL it once its storage writer committed its
    first events (no cleanup, no final flush), and check that its compute process went
    with it and that the kill landed mid-stream."""
    proc = subprocess.Popen(
        [*CXPULSE, "run", "--until-end"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until the flows are running
        if b"running " in line:
            break
    events_topic = f"{env['CXPULSE_RESULTS_PREFIX']}events"
    deadline = time.monotonic() + 120
    while not store_offsets(env).get(events_topic) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    children = _children(proc.pid)
    proc.kill()
    proc.wait()
    proc.stderr.close()
    deadline = time.monotonic() + 60
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(c) for c in children), "a compute process outlived its run"
    partial = int(sql_rows(env, "SELECT count() AS n FROM events FINAL")[0]["n"])
    assert 0 < partial < n_events, f"kill did not land mid-stream ({partial} events)"


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux procfs)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(c) for c in text]
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"
