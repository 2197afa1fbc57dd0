"""emit -> run --until-end -> api for client risk, SLA breaches and live operations."""

from __future__ import annotations

import httpx
import pytest

from tests import scenario_risk as sr
from tests.e2e.cli import cli_env, cxpulse, serve_api
from tests.scenario import DAY, encode

pytestmark = pytest.mark.e2e
ACME = {"Authorization": "Bearer key-acme-0123456789abcdef"}
GLOBEX = {"Authorization": "Bearer key-globex-0123456789abcdef"}


@pytest.fixture(scope="module")
def api(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("risk")
    # One shard and one partition: with a handful of events, the watermark of a sparse
    # shard would otherwise (rightly) never pass the SLA deadline before the input ends.
    env = cli_env(kafka_bootstrap, tmp / "data", CXPULSE_SHARDS="1", CXPULSE_TOPIC_PARTITIONS="1")
    cxpulse(env, "topics")
    (tmp / "events.jsonl").write_bytes(b"\n".join(encode(e) for e in sr.timeline()))
    cxpulse(env, "emit", str(tmp / "events.jsonl"))
    cxpulse(env, "run", "--until-end")
    with serve_api(env) as base:
        yield base


def test_sla_breach_raised_once_for_the_unresolved_urgent_ticket(api: str) -> None:
    alerts = httpx.get(f"{api}/v1/alerts", headers=ACME, params={"kind": "sla_breach"}).json()
    assert [(a["subject_id"], a["severity"]) for a in alerts["items"]] == [("R2", "critical")]
    details = alerts["items"][0]["details"]
    assert (details["client_id"], details["priority"]) == ("C2", "urgent")
    assert alerts["items"][0]["event_time"].startswith(f"{DAY}T10:00:00")


def test_client_risk_scores_and_alerts(api: str) -> None:
    items = httpx.get(f"{api}/v1/clients/risk", headers=ACME).json()["items"]
    assert [i["client_id"] for i in items] == ["C2", "C1"]
    c2, c1 = items
    assert c2["churn_probability"] == pytest.approx(sr.C2_PROBABILITY, abs=1e-6)
    assert c2["risk_level"] == "critical"
    got = {f["name"]: f["contribution"] for f in c2["factors"]}
    assert got == pytest.approx(sr.C2_CONTRIBUTIONS, abs=1e-6)
    assert c1["churn_probability"] == pytest.approx(sr.C1_PROBABILITY, abs=1e-6)
    assert c1["risk_level"] == "low"

    alerts = httpx.get(f"{api}/v1/alerts", headers=ACME, params={"kind": "client_risk"}).json()[
        "items"
    ]
    assert sorted((a["subject_id"], a["severity"]) for a in alerts) == sorted(
        ("C2", level) for level in sr.C2_ALERT_LEVELS
    )

    detail = httpx.get(f"{api}/v1/clients/C2/risk", headers=ACME).json()
    assert detail["current"]["churn_probability"] == c2["churn_probability"]
    # one score per risk signal of C2, after the row its first activity gave it (low)
    assert [h["version"] for h in detail["history"]] == [6, 5, 4, 3, 2, 1]
    first = detail["history"][-1]
    assert (first["risk_level"], first["factors"]) == ("low", [])


def test_what_if_uses_the_same_scorer(api: str) -> None:
    r = httpx.get(
        f"{api}/v1/clients/C2/risk/what-if",
        headers=ACME,
        params=[("without", "health"), ("without", "sla_breaches")],
    )
    assert r.status_code == 200, r.text
    rest = {k: v for k, v in sr.C2_CONTRIBUTIONS.items() if k not in {"health", "sla_breaches"}}
    assert r.json()["what_if"]["churn_probability"] == pytest.approx(sr.probability(rest), abs=1e-6)
    bad = httpx.get(
        f"{api}/v1/clients/C2/risk/what-if", headers=ACME, params={"without": "astrology"}
    )
    assert bad.status_code == 422


def test_live_ops(api: str) -> None:
    live = httpx.get(f"{api}/v1/ops/live", headers=ACME).json()
    assert live["as_of"].startswith(sr.OPS_AS_OF)
    assert {k: live[k] for k in sr.OPS} == sr.OPS


def test_tenant_isolation(api: str) -> None:
    assert httpx.get(f"{api}/v1/clients/risk", headers=GLOBEX).json()["items"] == []
    assert httpx.get(f"{api}/v1/clients/C2/risk", headers=GLOBEX).status_code == 404
    assert (
        httpx.get(
            f"{api}/v1/clients/C2/risk/what-if", headers=GLOBEX, params={"without": "health"}
        ).status_code
        == 404
    )
    assert httpx.get(f"{api}/v1/ops/live", headers=GLOBEX).status_code == 404
    assert httpx.get(f"{api}/v1/alerts", headers=GLOBEX).json()["items"] == []
    assert httpx.get(f"{api}/v1/ops/live").status_code == 401
