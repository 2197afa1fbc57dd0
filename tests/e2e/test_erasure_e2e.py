"""cxpulse emit -> run -> cxpulse erase (waiting) -> run -> every table checked, the
receipt through the API -> the events re-sent -> run -> still nothing, all as real
processes (issue #13)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests import scenario
from tests.e2e.cli import CXPULSE, ROOT, cli_env, cxpulse, serve_api, sql_rows

pytestmark = pytest.mark.e2e

ADMIN = "acme-admin-key-0123456789abcdef"
KEEP = {"erasures", "audit_log", "schema_migrations"}  # the receipts


def holding(env: dict[str, str], needle: str) -> dict[str, int]:
    """Rows of acme (or, without a tenant column, any) per table that hold ``needle``
    as a whole id (also inside JSON kept as text, e.g. a payload), receipts excepted:
    one query over every table (each `cxpulse sql` is a process start)."""
    tables = sql_rows(
        env,
        "SELECT name, has(groupArray(c.name), 'tenant_id') AS tenanted FROM system.tables t "
        "JOIN system.columns c ON c.database = t.database AND c.table = t.name "
        "WHERE t.database = currentDatabase() AND t.engine LIKE '%MergeTree%' GROUP BY name",
    )
    pattern = f"[^0-9A-Za-z_-]{needle}[^0-9A-Za-z_-]"
    counts = [
        f"SELECT '{t['name']}' AS t, count() AS n FROM `{t['name']}` WHERE "
        + ("tenant_id = 'acme' AND " if t["tenanted"] else "")
        + f"match(formatRow('JSONEachRow', *), '{pattern}')"
        for t in tables
        if t["name"] not in KEEP
    ]
    rows = sql_rows(env, " UNION ALL ".join(counts))
    return {r["t"]: int(r["n"]) for r in rows if int(r["n"])}


def test_erase_after_a_run_and_after_a_replay(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = cli_env(
        kafka_bootstrap,
        tmp_path / "data",
        CXPULSE_API_KEYS=f"acme:{ADMIN}:read+write+admin,globex:globex-key-0123456789abcdef",
    )
    cxpulse(env, "topics")
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(scenario.encode(e) for e in scenario.timeline()) + b"\n")
    cxpulse(env, "emit", str(events))
    cxpulse(env, "run", "--until-end")
    assert {"events", "alerts"} <= holding(env, "C1").keys()

    # the erase command waits while the pipeline applies and completes it
    erase = subprocess.Popen(
        [*CXPULSE, "erase", "--tenant", "acme", "--client", "C1", "--wait-s", "120"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert erase.stdout is not None
    requested = json.loads(erase.stdout.readline())  # sent before the run starts
    assert (requested["status"], requested["client_id"]) == ("requested", "C1")
    cxpulse(env, "run", "--until-end")
    out, err = erase.communicate(timeout=120)
    assert erase.returncode == 0, err.decode()
    steps = [json.loads(line) for line in out.decode().splitlines()]
    assert [s["status"] for s in steps] == ["applied", "completed"]
    deleted = steps[-1]["rows_deleted_by_table"]
    assert deleted["events"] > 0
    assert holding(env, "C1") == {}

    with serve_api(env) as base:
        r = httpx.get(
            f"{base}/v1/erasures/{requested['erasure_id']}",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert r.status_code == 200, r.text
        receipt = r.json()
        assert receipt["status"] == "completed"
        assert receipt["rows_deleted_by_table"] == deleted
        assert receipt["completed_at"] is not None
    audit = sql_rows(env, "SELECT route, tenant_id, outcome FROM audit_log WHERE method = 'CLI'")
    assert audit == [{"route": "erase", "tenant_id": "acme", "outcome": "success"}]

    # a producer re-sends everything: the client's events are suppressed and recorded
    cxpulse(env, "emit", str(events))
    cxpulse(env, "run", "--until-end")
    assert holding(env, "C1") == {}
    (letters,) = sql_rows(
        env, "SELECT count() AS n FROM dead_letters WHERE reason = 'erased_subject'"
    )
    assert int(letters["n"]) > 0
