"""The live-operations page in a real headless Chromium, against `cxpulse up`.

emit a shifted scenario -> `cxpulse up` (flows + API) -> open `/` in Chromium (Playwright
driving Debian's /usr/bin/chromium), enter the API key, wait for the cards, filter and
sort the live agent board, then emit a
CSAT rating of 1 and watch its coaching alert arrive in "Live alerts" (by the SSE stream
when the server has `/v1/alerts/stream`, else by the page's polling fallback), then click
its Acknowledge button and watch its state change (and the stream's `alert_state` event
for it arrive). Saves `artifacts/ops-page.png`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import httpx
import pytest

from infra.kafka_local import free_port
from schemas.ids import stable_id
from tests import scenario, scenario_risk
from tests.e2e.cli import CXPULSE, ROOT, cli_env, cxpulse, wait_healthy

if TYPE_CHECKING:  # imported at run time once the browser is known to be there
    from playwright.sync_api import ConsoleMessage, Page

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "artifacts" / "ops-page.png"
# Endpoints the page probes that may legitimately answer 404 (the browser logs a
# "Failed to load resource" console error for each): not built yet, or no SSE route.
OPTIONAL_PATHS = {"/v1/demand/forecast", "/v1/kb/suggestions", "/v1/alerts/stream"}
# Markup in data must arrive as text: the page never parses data as HTML.
HOSTILE_AGENT = 'A9<img src=x onerror="window.__xss=1">'


def _require_browser() -> None:
    """Skip when Chromium or Playwright is missing on a developer's machine; in CI fail."""
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (run infra/ensure_chromium.sh: Debian package 'chromium')")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the Python package playwright (dev extras)")
    if not missing:
        return
    reason = "browser test needs " + " and ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _recent_events() -> list[dict[str, Any]]:
    """The two scripted scenarios, moved so that their newest event was 2 minutes ago."""
    events = scenario.timeline() + scenario_risk.timeline()
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    shift = datetime.now(UTC) - timedelta(minutes=2) - max(times)
    for e, t in zip(events, times, strict=True):
        e["occurred_at"] = (t + shift).isoformat().replace("+00:00", "Z")
    return events


def _low_csat(agent: str) -> tuple[dict[str, Any], str]:
    """A fresh rating-1 survey and the id of the coaching alert it raises."""
    event_id = uuid.uuid4()
    event = {
        "event_id": str(event_id),
        "event_type": "csat.received",
        "schema_version": 1,
        "tenant_id": "acme",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": "ops-page-test",
        "payload": {
            "survey_id": f"S-{event_id.hex[:8]}",
            "ticket_id": "T2",
            "agent_id": agent,
            "client_id": "C1",
            "rating": 1,
            "comment": "<b>not bold</b>",
        },
    }
    return event, str(stable_id("coaching", event_id))


def _wait_json(url: str, headers: dict[str, str], ok: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        r = httpx.get(url, headers=headers, timeout=5)
        last = r.text
        if r.status_code == 200 and ok(r.json()):
            return
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready after {timeout_s}s: {last}")


@contextmanager
def _cxpulse_up(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`cxpulse up` (flows + API with the page) on a free port; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    passed = False
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*CXPULSE, "up", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(base, proc)
            yield base
            passed = True
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    if not passed:  # pytest shows the captured stderr of a failed test
        sys.stderr.write(log_path.read_text(errors="replace")[-4000:])


class _Console:
    """Console errors and uncaught exceptions of a page, minus the expected 404s."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.errors: list[str] = []

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        url = msg.location.get("url", "")
        expected = (
            "status of 404" in msg.text
            and url.startswith(self.base)
            and urlparse(url).path in OPTIONAL_PATHS
        )
        if not expected:
            self.errors.append(f"console: {msg.text} ({url})")

    def on_page_error(self, exc: Exception) -> None:
        self.errors.append(f"uncaught: {exc}")


def _enter_key_and_wait_for_cards(page: Page, expected_via: str) -> None:
    # No key yet: the page asks for one.
    page.wait_for_selector("#key-panel:not([hidden])", timeout=10_000)
    page.fill("#key-input", "key-acme-0123456789abcdef")
    page.click("#key-save")
    page.wait_for_selector("#key-panel", state="hidden", timeout=5_000)
    assert page.evaluate("localStorage.getItem('cxpulse.apiKey')") == "key-acme-0123456789abcdef"

    for card in ("queues", "agents-status", "csat", "agents", "risk", "performance"):
        page.wait_for_selector(f'#{card}[data-state="ready"]', timeout=30_000)
    assert page.locator('#queues tr[data-queue="billing"]').count() == 1
    assert page.locator('#risk tr[data-client="C2"][data-level="critical"]').count() == 1
    assert page.locator("#performance svg rect.bar-res").count() >= 1
    for card in ("forecast", "kb"):  # filled once hours close / clusters reach 3 tickets
        page.wait_for_selector(f'#{card}:not([data-state="loading"])', timeout=10_000)
        state = page.get_attribute(f"#{card}", "data-state")
        assert state in {"ready", "empty"}, (card, state)
    if page.get_attribute("#forecast", "data-state") == "ready":
        assert page.locator("#forecast svg polyline.line-forecast").count() == 1
        assert page.locator("#forecast svg polygon.band-80").count() == 1
    page.wait_for_selector("#alert-list li", timeout=10_000)
    page.wait_for_selector(
        f'#alerts[data-source="{expected_via}"][data-state="live"]', timeout=15_000
    )


def _use_the_agent_board(page: Page) -> None:
    """The live agent board lists every agent, filters by status and sorts by column."""
    page.wait_for_selector('#agent-board[data-state="ready"]', timeout=30_000)
    rows = "#agent-board tbody tr"
    everyone = page.locator(rows).count()
    assert everyone >= 3
    assert page.locator(f'{rows}[data-agent="A3"][data-status="offline"]').count() == 1
    assert page.get_attribute("#board-summary", "data-open-complaints") == "1"  # K1, critical
    assert page.locator('#board-summary .chip[data-severity="critical"]').count() == 1

    page.select_option("#board-status", "offline")
    statuses = page.eval_on_selector_all(rows, "trs => trs.map(tr => tr.dataset.status)")
    assert statuses
    assert set(statuses) == {"offline"}
    assert len(statuses) < everyone
    assert " of " in page.inner_text("#agent-board .meta")
    page.select_option("#board-status", "")
    assert page.locator(rows).count() == everyone

    # Open tickets, largest first; a second click reverses the order.
    header = '#agent-board th[data-sort="open_tickets"]'
    page.click(f"{header} button")
    assert page.get_attribute(header, "aria-sort") == "descending"
    cells = "trs => trs.map(tr => Number(tr.lastElementChild.textContent))"
    tickets = page.eval_on_selector_all(rows, cells)
    assert tickets == sorted(tickets, reverse=True)
    page.click(f"{header} button")
    assert page.get_attribute(header, "aria-sort") == "ascending"
    assert page.eval_on_selector_all(rows, cells) == sorted(tickets)


def _emit_low_csat_and_wait(page: Page, env: dict[str, str], expected_via: str) -> str:
    event, alert_id = _low_csat(HOSTILE_AGENT)
    cxpulse(env, "emit", "-", stdin=json.dumps(event).encode() + b"\n")
    item = page.wait_for_selector(f'#alert-list li[data-alert-id="{alert_id}"]', timeout=20_000)
    assert item is not None
    assert item.get_attribute("data-via") == expected_via
    assert item.get_attribute("data-severity") == "high"
    listed = page.eval_on_selector_all(
        "#alert-list li", "items => items.map(li => [li.dataset.alertId, li.dataset.via])"
    )
    ids = [i for i, _ in listed]
    vias = [v for _, v in listed]
    # Newest on top: above every alert the page loaded at start.
    first_initial = vias.index("initial") if "initial" in vias else len(vias)
    assert ids.index(alert_id) < first_initial

    # Data is text, never markup.
    title = item.query_selector(".alert-title")
    assert title is not None
    assert HOSTILE_AGENT in title.inner_text()
    assert page.locator("#alert-list img, #agents img, #agent-select img").count() == 0
    assert page.evaluate("window.__xss") is None
    return alert_id


def _acknowledge_and_wait(page: Page, base: str, alert_id: str) -> None:
    """Acknowledge goes through the API: the item changes state, the stream announces
    the change (``alert_state``) and the list serves it."""
    item = f'#alert-list li[data-alert-id="{alert_id}"]'
    assert page.get_attribute(item, "data-state") == "open"
    page.click(f'{item} button[data-action="acknowledge"]')
    page.wait_for_selector(f'{item}[data-state="acknowledged"]', timeout=10_000)
    page.wait_for_selector(f'{item}[data-stream-state="acknowledged"]', timeout=15_000)
    assert page.locator(f'{item} button[data-action="acknowledge"]').is_hidden()
    assert page.locator(f'{item} button[data-action="resolve"]').is_visible()
    assert page.inner_text(f"{item} .alert-state").strip().lower() == "acknowledged"
    acked = httpx.get(
        f"{base}/v1/alerts",
        params={"state": "acknowledged"},
        headers={"Authorization": "Bearer key-acme-0123456789abcdef"},
        timeout=5,
    ).json()["items"]
    assert alert_id in {a["alert_id"] for a in acked}


def test_ops_page_shows_data_and_live_alerts(kafka_bootstrap: str, tmp_path: Path) -> None:
    _require_browser()
    from playwright.sync_api import sync_playwright

    env = cli_env(
        kafka_bootstrap,
        tmp_path / "data",
        CXPULSE_SNAPSHOT_INTERVAL_S="1",
        CXPULSE_PROVISIONAL_INTERVAL_S="1",
        CXPULSE_SHARDS="4",
    )
    cxpulse(env, "topics")
    lines = b"\n".join(scenario.encode(e) for e in _recent_events()) + b"\n"
    cxpulse(env, "emit", "-", stdin=lines)

    with _cxpulse_up(env, tmp_path / "up.log") as base:
        acme = {"Authorization": "Bearer key-acme-0123456789abcdef"}
        # The flows have caught up with the scripted history before the page opens.
        _wait_json(f"{base}/v1/alerts", acme, lambda b: len(b["items"]) >= 2, 45)
        _wait_json(f"{base}/v1/ops/live", acme, lambda b: bool(b["queues"]), 20)
        paths = httpx.get(f"{base}/openapi.json").json()["paths"]
        assert "/v1/alerts/stream" in paths, "cxpulse up must serve the alert stream"
        expected_via = "stream"

        index = httpx.get(f"{base}/")
        assert index.status_code == 200
        assert "text/html" in index.headers["content-type"]
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert httpx.get(f"{base}/static/app.js").status_code == 200

        console = _Console(base)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.on("console", console.on_console)
                page.on("pageerror", console.on_page_error)
                page.goto(base + "/")
                _enter_key_and_wait_for_cards(page, expected_via)
                _use_the_agent_board(page)
                alert_id = _emit_low_csat_and_wait(page, env, expected_via)
                _acknowledge_and_wait(page, base, alert_id)
                page.wait_for_timeout(700)  # let the arrival animation finish
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            finally:
                browser.close()
        assert SCREENSHOT.stat().st_size > 10_000
        assert not console.errors, console.errors


def test_chromium_helper_is_idempotent() -> None:
    """infra/ensure_chromium.sh returns at once when the browser is already installed."""
    _require_browser()
    script = ROOT / "infra" / "ensure_chromium.sh"
    bash = shutil.which("bash")
    assert bash is not None
    started = time.monotonic()
    done = subprocess.run([bash, str(script)], capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert b"nothing to do" in done.stderr
    assert time.monotonic() - started < 5
