"""cxpulse emit -> cxpulse run --until-end -> cxpulse api, all as real processes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests import scenario
from tests.e2e.cli import cli_env, cxpulse, serve_api

pytestmark = pytest.mark.e2e


def test_emit_run_api(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = cli_env(kafka_bootstrap, tmp_path / "data")
    cxpulse(env, "topics")
    lines = [scenario.encode(e) for e in scenario.timeline()] + scenario.invalid_lines()
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    emitted = cxpulse(env, "emit", str(tmp_path / "events.jsonl"), check=False)
    assert emitted.returncode == 1  # some lines were invalid
    err = emitted.stderr.decode()
    n = len(scenario.timeline())
    assert f"line {n + 1}: invalid_json" in err
    assert f"line {n + 2}: validation_error: payload.rating" in err
    assert f"sent {n} event(s)" in err

    cxpulse(env, "run", "--until-end")

    with serve_api(env) as base:
        acme = {"Authorization": "Bearer key-acme-0123456789abcdef"}
        globex = {"Authorization": "Bearer key-globex-0123456789abcdef"}
        day = scenario.DAY
        r = httpx.get(
            f"{base}/v1/agents/A1/performance",
            headers=acme,
            params={"window": "1h", "start": f"{day}T00:00:00Z", "end": f"{day}T23:00:00Z"},
        )
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["window_start"][:19] for i in items] == [f"{day}T09:00:00", f"{day}T10:00:00"]
        for item in items:
            expected = scenario.EXPECTED[("A1", "1h", item["window_start"][:19])]
            assert {k: item[k] for k in expected} == expected

        agents = httpx.get(f"{base}/v1/agents", headers=acme).json()["items"]
        assert sorted(a["agent_id"] for a in agents) == ["A1", "A2"]

        alerts = httpx.get(f"{base}/v1/alerts", headers=acme).json()["items"]
        # the low rating, and the scenario's recurring "charged twice" tickets (resolved
        # three times with the same fix, no article) as a KB suggestion
        assert sorted((a["kind"], a["severity"]) for a in alerts) == [
            ("coaching", "medium"),
            ("kb_suggestion", "low"),
        ]
        assert [a["subject_id"] for a in alerts if a["kind"] == "coaching"] == ["A1"]
        kb = httpx.get(f"{base}/v1/kb/suggestions", headers=acme).json()["items"]
        assert [(s["status"], s["size"], s["title"]) for s in kb] == [("open", 3, "Invoice wrong")]

        # Tenant isolation and authentication.
        assert httpx.get(f"{base}/v1/alerts", headers=globex).json()["items"] == []
        other = httpx.get(
            f"{base}/v1/agents/A1/performance",
            headers=globex,
            params={"window": "1h", "start": f"{day}T00:00:00Z", "end": f"{day}T23:00:00Z"},
        )
        assert other.status_code == 404
        assert httpx.get(f"{base}/v1/agents").status_code == 401
        assert (
            httpx.get(f"{base}/v1/agents", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
