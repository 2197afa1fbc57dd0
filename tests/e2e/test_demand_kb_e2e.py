"""emit -> run --until-end -> CLI + api for demand forecasts, hotspots and KB suggestions.

One scripted scenario, run once for the module through the real ``cxpulse`` commands
(event times in the past: a replay of history):

* acme: ten days (240 h from ``START``, Monday 2026-03-02, to Wednesday 2026-03-11
  inclusive) of ``ticket.created`` on queue ``billing`` / region ``north`` with a daily
  pattern: 8 +/- 1 per business hour (09-17 UTC) and 2 +/- 1 per night hour on weekdays,
  4 +/- 1 and 1 on the weekend (deterministic noise). The newest event is in hour
  2026-03-11 23:00, so the last hour closed at the end of input is 22:00, the last
  snapshot is generated at 23:00 and its first target is Thursday 2026-03-12 00:00
  (``FIRST_TARGET``). The segment reaches 192 h of history at 2026-03-10 00:00 (weekly
  model) and is refit with a weekly backtest (>= 216 h) at 2026-03-11 00:00.
* acme KB (queue ``support`` / region ``south``, so billing counts stay as scripted):
  four paraphrases of a CSV-import problem (-> open suggestion of size 4); three of a
  Slack-integration problem whose article was created before them (-> never opens);
  three of an invoice-VAT problem that opens and is covered by an article days later.
* globex: five tickets on queue ``returns`` / region ``west``, nothing else.

The events go in as two emits, each followed by ``run --until-end`` (the second resumes
from the first's recovery snapshot): everything before START + 5 days, then the rest.
The topic has the default three partitions: the KB step applies tickets and articles in
event-time order once the tenant's watermark passes them, so which ticket seeds a
cluster (its suggestion id) and whether an article precedes a cluster never depend on
how the partitions interleave.
"""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas.ids import stable_id
from tests.e2e.cli import cli_env, cxpulse, serve_api, sql_rows
from tests.unit.helpers import envelope, iso

pytestmark = pytest.mark.e2e
ACME = {"Authorization": "Bearer key-acme-0123456789abcdef"}
GLOBEX = {"Authorization": "Bearer key-globex-0123456789abcdef"}

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
HOURS = 240
FIRST_TARGET = START + timedelta(hours=HOURS)  # the hour after the newest event's hour
WEEKLY = "holt_winters_168h_sqrt"
HOTSPOT_THRESHOLD = 6.0  # above every night hour (<= 3), below business hours (8 +/- 1)
_RNG = random.Random(11)
_NOISE = [_RNG.choice((-1, 0, 1)) for _ in range(HOURS)]


def is_business(t: datetime) -> bool:
    return 9 <= t.hour < 18


def billing_count(h: int) -> int:
    """ticket.created on queue billing in hour ``h`` after START."""
    t = START + timedelta(hours=h)
    if t.weekday() >= 5:
        return 4 + _NOISE[h] if is_business(t) else 1
    return 8 + _NOISE[h] if is_business(t) else 2 + _NOISE[h]


# ---- events ------------------------------------------------------------------------------


def _created(
    tenant: str,
    ticket: str,
    at: datetime,
    queue: str,
    region: str,
    text: tuple[str, str] = ("Invoice question", "Please check my invoice"),
    category: str = "billing",
) -> dict[str, Any]:
    payload = {
        "ticket_id": ticket,
        "client_id": "C1",
        "channel": "email",
        "queue": queue,
        "priority": "low",
        "category": category,
        "subject": text[0],
        "description": text[1],
        "region": region,
    }
    return envelope("ticket.created", payload, occurred_at=at, tenant=tenant)


def _resolved(ticket: str, at: datetime, category: str, text: str) -> dict[str, Any]:
    payload = {
        "ticket_id": ticket,
        "agent_id": "A1",
        "category": category,
        "resolution_code": "fixed",
        "resolution_text": text,
    }
    return envelope("ticket.resolved", payload, occurred_at=at, tenant="acme")


def _article(article: str, at: datetime, title: str, body: str, category: str) -> dict[str, Any]:
    payload = {"article_id": article, "title": title, "body": body, "category": category}
    return envelope("kb.article_created", payload, occurred_at=at, tenant="acme")


# (subject, description, resolution text) of each ticket of a problem
CSV_IMPORT = [
    (
        "CSV import shows wrong dates",
        "After importing our CSV file every date is shifted one day back.",
        "The CSV import read the dates as UTC; set the timezone in the CSV import settings "
        "and re-ran the import, the dates are correct now.",
    ),
    (
        "Dates off by one day after CSV import",
        "We imported contacts from a CSV file and all the dates moved one day earlier.",
        "Wrong import timezone; changed the timezone in the CSV import settings and "
        "re-imported the CSV file, dates fixed.",
    ),
    (
        "CSV import changes the dates",
        "Every date column of my CSV import ends up one day before the date in the file.",
        "Set the correct timezone in the CSV import settings, re-ran the import and the "
        "dates now match the CSV file.",
    ),
    (
        "Wrong dates when importing a CSV file",
        "Importing the CSV file moves each date one day back.",
        "The import used the UTC timezone; fixed the timezone in the CSV import settings and "
        "re-imported, dates correct.",
    ),
]
SLACK = [
    (
        "Slack notifications stopped",
        "Our Slack integration stopped posting notifications to the channel.",
        "The Slack app token was revoked; reconnected the Slack integration and re-authorised "
        "the Slack app, notifications are back.",
    ),
    (
        "No more Slack notifications",
        "Since Monday the Slack integration sends no notifications to our Slack channel.",
        "Reconnected the Slack integration under Settings > Integrations and re-authorised "
        "the Slack app; Slack notifications work again.",
    ),
    (
        "Slack integration not posting",
        "The Slack channel gets no notifications from the integration any more.",
        "Slack app token revoked after a workspace change; re-authorised the Slack app and "
        "reconnected the integration.",
    ),
]
SLACK_ARTICLE = (
    "Slack notifications stopped arriving",
    "If the Slack integration stopped posting notifications to your Slack channel, the Slack "
    "app token was usually revoked after a workspace change. Reconnect the Slack integration "
    "under Settings > Integrations, re-authorise the Slack app and pick the notification "
    "channel again.",
)
VAT = [
    (
        "VAT number missing on invoice PDF",
        "Our invoice PDF does not show our VAT number; finance needs the VAT number on every "
        "invoice.",
        "Added the VAT number to the billing profile and regenerated the invoice PDF, which "
        "now shows the VAT number.",
    ),
    (
        "Invoice without VAT number",
        "The invoice PDF we downloaded has no VAT number on it.",
        "The billing profile had no VAT number; added it and regenerated the invoice PDF with "
        "the VAT number.",
    ),
    (
        "Please add our VAT number to the invoice",
        "Our VAT number is not printed on the invoice PDF.",
        "Entered the VAT number in the billing profile and regenerated the invoice PDF; the "
        "VAT number is on the invoice now.",
    ),
]
VAT_ARTICLE = (
    "How to get your VAT number on invoices",
    "Invoice PDFs show the VAT number from your billing profile. Add the VAT number in the "
    "billing profile, then regenerate the invoice PDF from the invoices page and the VAT "
    "number is printed on the invoice.",
)
SLACK_ARTICLE_AT = START + timedelta(hours=8)  # before any Slack ticket
PHASE_2 = START + timedelta(days=5)  # the second emit + run starts here
VAT_ARTICLE_AT = START + timedelta(days=8, hours=12)  # after the VAT suggestion opened


def _problem(
    prefix: str, texts: list[tuple[str, str, str]], day: int, hour: int, category: str
) -> list[dict[str, Any]]:
    """One ticket a day from ``day`` on, created at ``hour``:05 and resolved an hour later."""
    out = []
    for i, (subject, description, resolution) in enumerate(texts):
        created = START + timedelta(days=day + i, hours=hour, minutes=5)
        ticket = f"{prefix}{i + 1}"
        out.append(
            _created("acme", ticket, created, "support", "south", (subject, description), category)
        )
        out.append(_resolved(ticket, created + timedelta(hours=1), category, resolution))
    return out


def timeline() -> list[dict[str, Any]]:
    """Every event of the scenario, in event-time order."""
    events = []
    for h in range(HOURS):
        n = billing_count(h)
        for i in range(n):
            at = START + timedelta(hours=h, seconds=60 + i * 3600 // n)
            events.append(_created("acme", f"B{h}-{i}", at, "billing", "north"))
    events.append(_article("kb-slack", SLACK_ARTICLE_AT, *SLACK_ARTICLE, "integrations"))
    events += _problem("CSV", CSV_IMPORT, 1, 10, "data_import")  # days 1-4: phase 1
    events += _problem("VAT", VAT, 1, 14, "billing")  # days 1-3: phase 1
    events += _problem("SLK", SLACK, 5, 10, "integrations")  # days 5-7: phase 2
    events.append(_article("kb-vat", VAT_ARTICLE_AT, *VAT_ARTICLE, "billing"))
    for h in range(200, 205):
        at = START + timedelta(hours=h, minutes=30)
        events.append(_created("globex", f"G{h}", at, "returns", "west"))
    events.sort(key=lambda e: e["occurred_at"])
    return events


def suggestion_id(seed_ticket: str) -> str:
    return str(stable_id("kb_suggestion", "acme", seed_ticket))


CSV_ID = suggestion_id("CSV1")
VAT_ID = suggestion_id("VAT1")


# ---- the run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    base: str
    events: list[dict[str, Any]]
    backtest_table: str
    backtest_json: list[dict[str, Any]]
    globex_backtest: subprocess.CompletedProcess[bytes]
    view_rows: list[dict[str, Any]]
    stored: dict[str, int]  # event type -> events stored by the ingest flow


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("demand_kb")
    env = cli_env(
        kafka_bootstrap,
        tmp / "data",
        CXPULSE_HOTSPOT_THRESHOLDS=json.dumps({"queue:billing": HOTSPOT_THRESHOLD}),
    )
    events = timeline()
    assert len(events) < 3000
    cxpulse(env, "topics")
    split = iso(PHASE_2)
    for phase, part in enumerate(
        (
            [e for e in events if e["occurred_at"] < split],
            [e for e in events if e["occurred_at"] >= split],
        )
    ):
        path = tmp / f"events{phase}.jsonl"
        path.write_bytes(b"\n".join(json.dumps(e).encode() for e in part))
        emitted = cxpulse(env, "emit", str(path))
        assert f"sent {len(part)} event(s)" in emitted.stderr.decode()
        cxpulse(env, "run", "--until-end")

    # The embedded engine belongs to one process: the CLI reads go before the API starts.
    table = cxpulse(env, "forecast", "backtest", "--tenant", "acme").stdout.decode()
    lines = cxpulse(env, "forecast", "backtest", "--tenant", "acme", "--json").stdout.decode()
    globex = cxpulse(env, "forecast", "backtest", "--tenant", "globex", check=False)
    view = sql_rows(
        env,
        "SELECT generated_at, target_start, horizon_h, predicted, lower_80, upper_80, model "
        "FROM demand_forecast WHERE tenant_id = 'acme' AND segment_type = 'queue' "
        "AND segment = 'billing' ORDER BY generated_at DESC, target_start LIMIT 3",
    )

    stored = sql_rows(env, "SELECT event_type, count() AS n FROM events FINAL GROUP BY ALL")
    with serve_api(env) as base:
        yield Run(
            base,
            events,
            table,
            [json.loads(line) for line in lines.splitlines() if line.strip()],
            globex,
            view,
            {r["event_type"]: int(r["n"]) for r in stored},
        )


def _get(run: Run, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
    return httpx.get(f"{run.base}{path}", headers=headers, params=params, timeout=10)


def _post(run: Run, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{run.base}{path}", headers=headers, timeout=10)


def _forecast(run: Run, headers: dict[str, str], horizon_h: int, **seg: str) -> httpx.Response:
    params = {"segment_type": "queue", "segment": "billing", "horizon_h": horizon_h, **seg}
    return _get(run, "/v1/demand/forecast", headers, **params)


def _utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


# ---- demand ------------------------------------------------------------------------------


def test_scenario_is_what_the_docstring_says(run: Run) -> None:
    newest = max(e["occurred_at"] for e in run.events)
    assert newest.startswith("2026-03-11T23:")
    assert iso(FIRST_TARGET) == "2026-03-12T00:00:00.000Z"
    assert (START.weekday(), FIRST_TARGET.weekday()) == (0, 3)  # Monday, Thursday
    business = [billing_count(h) for h in range(HOURS) if is_business(START + timedelta(hours=h))]
    assert min(business[:9]) >= 7  # Monday's business hours
    assert run.stored == dict(Counter(e["event_type"] for e in run.events))
    assert run.stored["ticket.resolved"] == 10


def test_forecast_48h_weekly_model_with_ordered_bands(run: Run) -> None:
    r = _forecast(run, ACME, 48)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["segment_type"], body["segment"]) == ("queue", "billing")
    assert body["model"] == WEEKLY
    assert _utc(body["generated_at"]) == FIRST_TARGET - timedelta(hours=1)
    assert body["horizon_h"] == 48
    items = body["items"]
    assert [_utc(i["target_start"]) for i in items] == [
        FIRST_TARGET + timedelta(hours=k) for k in range(48)
    ]
    for i in items:
        assert (
            0 <= i["lower_95"] <= i["lower_80"] <= i["predicted"] <= i["upper_80"] <= i["upper_95"]
        ), i
    assert items[10]["upper_95"] > items[10]["lower_95"]  # intervals are not degenerate

    # Thursday and Friday: every business hour above every night hour, levels near truth
    day = [i["predicted"] for i in items if is_business(_utc(i["target_start"]))]
    night = [i["predicted"] for i in items if not is_business(_utc(i["target_start"]))]
    assert len(day) == 18
    assert min(day) > max(night)
    assert 6.5 < sum(day) / len(day) < 9.5  # true level 8
    assert 1.0 < sum(night) / len(night) < 3.0  # true level 2


def test_forecast_carries_the_weekly_backtest(run: Run) -> None:
    bt = _forecast(run, ACME, 48).json()["backtest"]
    assert bt is not None
    assert bt["model"] == WEEKLY
    assert bt["baseline"] == "seasonal_naive_168h"
    # refit at 2026-03-11 00:00 with 216 h: one daily origin (a week + a day to fit on)
    assert _utc(bt["generated_at"]) == START + timedelta(hours=216)
    assert (bt["origins"], bt["horizon_h"], bt["points"]) == (1, 24, 24)
    for key in ("wape", "mase", "coverage_80", "coverage_95"):
        assert isinstance(bt[key], float), (key, bt)
    assert 0 < bt["wape"] < 0.5
    assert bt["mase"] > 0
    assert 0 <= bt["coverage_80"] <= bt["coverage_95"] <= 1


def test_forecast_horizon_bounds(run: Run) -> None:
    full = _forecast(run, ACME, 336)
    assert full.status_code == 200
    items = full.json()["items"]
    assert len(items) == full.json()["horizon_h"] == 336
    assert _utc(items[-1]["target_start"]) == FIRST_TARGET + timedelta(hours=335)
    # a shorter horizon is a prefix of the same snapshot
    assert items[:48] == _forecast(run, ACME, 48).json()["items"]
    assert _forecast(run, ACME, 337).status_code == 422
    assert _forecast(run, ACME, 0).status_code == 422
    default = _get(run, "/v1/demand/forecast", ACME, segment_type="queue", segment="billing")
    assert len(default.json()["items"]) == 24


def test_forecast_unknown_segment_404(run: Run) -> None:
    assert _forecast(run, ACME, 24, segment="nope").status_code == 404
    assert _forecast(run, ACME, 24, segment_type="region").status_code == 404  # no region billing
    assert _forecast(run, ACME, 24, segment_type="planet").status_code == 422
    region = _forecast(run, ACME, 24, segment_type="region", segment="north")
    assert region.status_code == 200
    assert region.json()["model"] == WEEKLY


def test_segments(run: Run) -> None:
    r = _get(run, "/v1/demand/segments", ACME)
    assert r.status_code == 200
    items = r.json()["items"]
    # by type, then busiest first: billing (~ 130 over the next day) before support
    assert [(i["segment_type"], i["segment"]) for i in items] == [
        ("queue", "billing"),
        ("queue", "support"),
        ("region", "north"),
        ("region", "south"),
    ]
    billing = items[0]
    assert billing["model"] == WEEKLY
    assert _utc(billing["generated_at"]) == FIRST_TARGET - timedelta(hours=1)
    day = _forecast(run, ACME, 24).json()["items"]
    assert billing["next_24h"] == pytest.approx(sum(i["predicted"] for i in day), rel=1e-9)
    assert items[2]["next_24h"] == pytest.approx(billing["next_24h"], rel=1e-9)  # same tickets


def test_hotspot_alerts_once_per_target_hour(run: Run) -> None:
    r = _get(run, "/v1/alerts", ACME, kind="demand_hotspot", limit=1000)
    assert r.status_code == 200
    alerts = r.json()["items"]
    assert alerts
    assert {(a["kind"], a["subject_type"], a["subject_id"]) for a in alerts} == {
        ("demand_hotspot", "segment", "queue:billing")
    }
    ids = [a["alert_id"] for a in alerts]
    targets = [_utc(a["details"]["target_start"]) for a in alerts]
    assert len(set(ids)) == len(ids)
    assert len(set(targets)) == len(targets)
    for a, target in zip(alerts, targets, strict=True):
        d = a["details"]
        assert (d["rule"], d["threshold"], d["typical"]) == ("absolute", HOTSPOT_THRESHOLD, None)
        assert d["predicted"] > HOTSPOT_THRESHOLD
        assert is_business(target), a  # nights (<= 3/h) never cross 6/h
        assert START < target <= FIRST_TARGET + timedelta(hours=23)
    # one episode a working day at least; the last snapshot's alert is the weekly model's
    weekdays = {
        (START + timedelta(days=d)).date()
        for d in range(1, 11)
        if (START + timedelta(days=d)).weekday() < 5
    }
    assert weekdays <= {t.date() for t in targets}
    last = max(alerts, key=lambda a: a["details"]["target_start"])
    assert _utc(last["details"]["target_start"]) == FIRST_TARGET + timedelta(hours=9)
    assert last["details"]["model"] == WEEKLY
    # an episode alerts once: no alert for the hour right after another one
    assert not {t + timedelta(hours=1) for t in targets} & set(targets)


def test_globex_sees_no_acme_demand(run: Run) -> None:
    assert _forecast(run, GLOBEX, 24).status_code == 404
    assert _forecast(run, GLOBEX, 24, segment_type="region", segment="north").status_code == 404
    items = _get(run, "/v1/demand/segments", GLOBEX).json()["items"]
    assert [(i["segment_type"], i["segment"]) for i in items] == [
        ("queue", "returns"),
        ("region", "west"),
    ]
    own = _forecast(run, GLOBEX, 24, segment="returns").json()
    assert own["model"] == "seasonal_mean_24h"
    assert own["backtest"] is None  # four closed hours: no origin yet
    assert _get(run, "/v1/alerts", GLOBEX, kind="demand_hotspot").json()["items"] == []
    assert _get(run, "/v1/demand/segments", {}).status_code == 401


# ---- CLI ---------------------------------------------------------------------------------


def test_cli_backtest_table(run: Run) -> None:
    lines = run.backtest_table.splitlines()
    assert lines[0].split()[:4] == ["tenant", "type", "segment", "model"]
    billing = [line for line in lines if " billing " in line]
    assert len(billing) == 1
    assert billing[0].split()[:4] == ["acme", "queue", "billing", WEEKLY]
    assert "globex" not in run.backtest_table


def test_cli_backtest_json(run: Run) -> None:
    rows = {(r["segment_type"], r["segment"]): r for r in run.backtest_json}
    assert set(rows) == {
        ("queue", "billing"),
        ("queue", "support"),
        ("region", "north"),
        ("region", "south"),
    }
    assert {r["tenant_id"] for r in rows.values()} == {"acme"}
    billing = rows[("queue", "billing")]
    assert (billing["model"], billing["origins"], billing["points"]) == (WEEKLY, 1, 24)
    api_bt = _forecast(run, ACME, 24).json()["backtest"]
    assert billing["wape"] == pytest.approx(api_bt["wape"])
    assert billing["mase"] == pytest.approx(api_bt["mase"])
    # the sparse support queue never reaches the weekly model
    assert rows[("queue", "support")]["model"] == "seasonal_mean_24h"


def test_cli_backtest_other_tenant_has_none(run: Run) -> None:
    assert run.globex_backtest.returncode == 1
    assert b"no backtests yet" in run.globex_backtest.stderr
    assert run.globex_backtest.stdout == b""


def test_cli_sql_on_the_forecast_view(run: Run) -> None:
    rows = run.view_rows
    assert len(rows) == 3
    gen = FIRST_TARGET - timedelta(hours=1)
    assert {_utc(r["generated_at"].replace(" ", "T") + "+00:00") for r in rows} == {gen}
    starts = [_utc(r["target_start"].replace(" ", "T") + "+00:00") for r in rows]
    assert starts == [FIRST_TARGET + timedelta(hours=k) for k in range(3)]
    assert [r["model"] for r in rows] == [WEEKLY] * 3
    first = rows[0]["horizon_h"]
    assert [r["horizon_h"] for r in rows] == [first, first + 1, first + 2]
    api_items = _forecast(run, ACME, 3).json()["items"]
    assert [r["predicted"] for r in rows] == pytest.approx([i["predicted"] for i in api_items])
    assert [r["lower_80"] for r in rows] == pytest.approx([i["lower_80"] for i in api_items])
    assert [r["upper_80"] for r in rows] == pytest.approx([i["upper_80"] for i in api_items])


# ---- KB ----------------------------------------------------------------------------------


def _suggestions(run: Run, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = _get(run, "/v1/kb/suggestions", headers, **params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_kb_suggestions_open_covered_and_never_opened(run: Run) -> None:
    body = _suggestions(run, ACME)
    by_id = {s["suggestion_id"]: s for s in body["items"]}
    # the Slack cluster was covered by an earlier article: it never opened
    assert [s["suggestion_id"] for s in body["items"]] == [CSV_ID, VAT_ID]  # biggest first
    assert not any(t.startswith("SLK") for s in body["items"] for t in s["ticket_ids"])

    csv = by_id[CSV_ID]
    assert csv["status"] == "open"
    assert csv["size"] == 4
    assert csv["ticket_ids"] == ["CSV1", "CSV2", "CSV3", "CSV4"]
    assert 0 < csv["confidence"] <= 1
    assert csv["covered_by"] is None
    assert csv["category"] == "data_import"
    assert csv["title"] in {s for s, _, _ in CSV_IMPORT}
    assert _utc(csv["first_seen"]) == START + timedelta(days=1, hours=11, minutes=5)
    assert _utc(csv["updated_at"]) == START + timedelta(days=4, hours=11, minutes=5)
    assert csv["verdict"] is None

    vat = by_id[VAT_ID]
    assert vat["status"] == "covered"
    assert vat["covered_by"] == "kb-vat"
    assert (vat["size"], vat["ticket_ids"]) == (3, ["VAT1", "VAT2", "VAT3"])
    assert _utc(vat["first_seen"]) == START + timedelta(days=1, hours=15, minutes=5)
    assert _utc(vat["updated_at"]) == VAT_ARTICLE_AT
    assert 0 < vat["confidence"] <= 1

    assert [s["suggestion_id"] for s in _suggestions(run, ACME, status="open")["items"]] == [CSV_ID]
    assert [s["suggestion_id"] for s in _suggestions(run, ACME, status="covered")["items"]] == [
        VAT_ID
    ]
    assert len(_suggestions(run, ACME, limit=1)["items"]) == 1
    assert _get(run, "/v1/kb/suggestions", ACME, status="closed").status_code == 422


def test_kb_suggestion_alerts_once_per_opened_suggestion(run: Run) -> None:
    alerts = _get(run, "/v1/alerts", ACME, kind="kb_suggestion").json()["items"]
    by_subject = {a["subject_id"]: a for a in alerts}
    assert len(alerts) == 2
    assert set(by_subject) == {CSV_ID, VAT_ID}
    csv = by_subject[CSV_ID]
    assert csv["subject_type"] == "kb_suggestion"
    assert csv["details"]["size"] == 3  # raised when it opened, at the third ticket
    assert csv["details"]["ticket_ids"] == ["CSV1", "CSV2", "CSV3"]
    assert csv["details"]["status"] == "open"
    assert _utc(csv["event_time"]) == START + timedelta(days=3, hours=11, minutes=5)
    assert by_subject[VAT_ID]["details"]["status"] == "open"  # covered only later
    assert _get(run, "/v1/alerts", GLOBEX, kind="kb_suggestion").json()["items"] == []


def test_kb_feedback_precision_and_tenant_isolation(run: Run) -> None:
    assert _suggestions(run, ACME)["feedback"] == {
        "accepted": 0,
        "dismissed": 0,
        "precision": None,
    }
    # globex sees none of acme's suggestions and cannot judge them
    assert _suggestions(run, GLOBEX) == {
        "items": [],
        "feedback": {"accepted": 0, "dismissed": 0, "precision": None},
    }
    assert _post(run, f"/v1/kb/suggestions/{CSV_ID}/accept", GLOBEX).status_code == 404
    assert _post(run, f"/v1/kb/suggestions/{VAT_ID}/dismiss", GLOBEX).status_code == 404

    accepted = _post(run, f"/v1/kb/suggestions/{CSV_ID}/accept", ACME)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["verdict"] == "accepted"
    assert accepted.json()["feedback"] == {"accepted": 1, "dismissed": 0, "precision": 1.0}
    dismissed = _post(run, f"/v1/kb/suggestions/{VAT_ID}/dismiss", ACME)
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["feedback"] == {"accepted": 1, "dismissed": 1, "precision": 0.5}

    body = _suggestions(run, ACME)
    assert body["feedback"]["precision"] == 0.5
    verdicts = {s["suggestion_id"]: s["verdict"] for s in body["items"]}
    assert verdicts == {CSV_ID: "accepted", VAT_ID: "dismissed"}
    assert all(s["decided_at"] is not None for s in body["items"])

    unknown = uuid.uuid4()
    assert _post(run, f"/v1/kb/suggestions/{unknown}/accept", ACME).status_code == 404
    assert _post(run, f"/v1/kb/suggestions/{unknown}/dismiss", ACME).status_code == 404
    assert _post(run, "/v1/kb/suggestions/not-a-uuid/accept", ACME).status_code == 422
    assert _post(run, f"/v1/kb/suggestions/{CSV_ID}/accept", {}).status_code == 401

    # globex's attempts changed nothing, and its own precision stays empty
    assert _post(run, f"/v1/kb/suggestions/{VAT_ID}/accept", GLOBEX).status_code == 404
    assert _suggestions(run, ACME)["feedback"] == {
        "accepted": 1,
        "dismissed": 1,
        "precision": 0.5,
    }
    assert _suggestions(run, GLOBEX)["feedback"]["precision"] is None
