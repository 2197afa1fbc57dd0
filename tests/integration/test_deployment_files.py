"""The deployment files, checked without Docker: compose file, Dockerfile, Grafana.

- ``infra/docker-compose.yml`` validates against the Compose Specification JSON schema
  (vendored in ``tests/vendor``, see its README) both as written and after Compose-style
  interpolation with ``infra/.env.example``; images are pinned, references resolve, and
  the ``CXPULSE_*`` environment of each cxpulse service loads into ``Settings``.
- ``Dockerfile`` / ``.dockerignore``: pinned base, non-root user, ``cxpulse`` entrypoint,
  every package of the wheel copied in.
- ``infra/grafana``: the datasource is the plugin the compose file installs and the panels
  use; every panel query, with Grafana variables and the ClickHouse plugin's macros
  expanded the way the plugin expands them, runs on the real ClickHouse engine against a
  migrated, seeded database and returns rows.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from schemas.settings import Settings
from sinks.clickhouse_client import open_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE_FILE = INFRA / "docker-compose.yml"
ENV_EXAMPLE = INFRA / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
GRAFANA = INFRA / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "clickhouse.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "cxpulse.yml"
DASHBOARD = GRAFANA / "dashboards" / "cxpulse.json"
COMPOSE_SCHEMA = ROOT / "tests" / "vendor" / "compose-spec.json"

PLUGIN_ID = "grafana-clickhouse-datasource"
CXPULSE_SERVICES = ("migrate", "flows", "api", "dispatch")
# Test values for the variables .env.example leaves empty on purpose (the secrets).
SECRETS = {
    "CLICKHOUSE_PASSWORD": "0123456789abcdef",
    "CXPULSE_API_KEYS": "acme:key-acme,globex:key-globex",
    "CXPULSE_SECRET_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "GRAFANA_ADMIN_PASSWORD": "fedcba9876543210",
}

# ---- Compose-style interpolation -------------------------------------------------------

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariableError(ValueError):
    """A ``${VAR:?message}`` variable is unset or empty."""


def _interpolate_str(text: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["named"]
        op, arg = m["op"], m["arg"] or ""
        value = env.get(name)
        missing = value is None or (op is not None and op.startswith(":") and value == "")
        if op in (":-", "-"):
            return arg if missing else str(value)
        if op in (":?", "?"):
            if missing:
                raise MissingVariableError(f"{name}: {arg}")
            return str(value)
        return "" if value is None else value

    return _VAR.sub(sub, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate_str(node, env)
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    return node


def variables(node: Any) -> dict[str, tuple[str | None, str]]:
    """Variable -> (operator, argument) of each ``${...}`` reference in the strings of a
    parsed YAML document (so comments do not count)."""
    out: dict[str, tuple[str | None, str]] = {}
    if isinstance(node, str):
        for m in _VAR.finditer(node):
            name = m["braced"] or m["named"]
            if name:
                out[name] = (m["op"], m["arg"] or "")
    elif isinstance(node, list | dict):
        for value in node.values() if isinstance(node, dict) else node:
            out.update(variables(value))
    return out


def env_example() -> dict[str, tuple[str, bool]]:
    """Variable -> (value, commented out) from ``.env.example``."""
    out = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            out[m[2]] = (m[3], m[1] is not None)
    return out


@pytest.fixture(scope="module")
def compose_raw() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def compose(compose_raw: dict[str, Any]) -> dict[str, Any]:
    """The compose file as Compose would see it with ``.env`` = ``.env.example`` + secrets."""
    env = {k: v for k, (v, commented) in env_example().items() if not commented}
    env.update(SECRETS)
    result = interpolate(compose_raw, env)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def compose_validator() -> Any:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _schema_errors(validator: Any, doc: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


# ---- compose ------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification(compose_raw, compose, compose_validator):
    assert _schema_errors(compose_validator, compose_raw) == []
    assert _schema_errors(compose_validator, compose) == []


def test_schema_validation_catches_mistakes(compose_raw, compose_validator):
    """The vendored schema is strict enough to matter (negative control)."""
    bad = json.loads(json.dumps(compose_raw))
    bad["services"]["flows"]["depends_on"]["migrate"]["condition"] = "service_finished"
    bad["services"]["api"]["helthcheck"] = bad["services"]["api"].pop("healthcheck")
    errors = _schema_errors(compose_validator, bad)
    assert any("depends_on" in e for e in errors), errors
    assert any("helthcheck" in e for e in errors), errors


def test_services_are_the_deployment(compose):
    services = compose["services"]
    assert {"kafka", "clickhouse", "migrate", "flows", "api", "grafana"} <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_every_image_is_pinned(compose):
    for name, svc in compose["services"].items():
        image = svc.get("image")
        assert image, f"{name}: no image"
        _repo, sep, tag = image.rpartition(":")
        assert sep, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} is not pinned"
        if "build" in svc:  # built locally from the repository's Dockerfile
            context = (COMPOSE_FILE.parent / svc["build"]["context"]).resolve()
            assert (context / svc["build"].get("dockerfile", "Dockerfile")).is_file(), name


def test_references_resolve(compose):
    services = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep in deps:
            assert dep in services, f"{name} depends on unknown service {dep}"
        for vol in svc.get("volumes") or []:
            source = vol.split(":")[0] if isinstance(vol, str) else vol["source"]
            if source.startswith((".", "/")):
                assert (COMPOSE_FILE.parent / source).exists(), f"{name}: {source} missing"
            else:
                assert source in declared_volumes, f"{name}: volume {source} not declared"


def test_startup_order_and_commands(compose):
    s = compose["services"]
    healthy = {"condition": "service_healthy"}
    assert s["migrate"]["depends_on"] == {"kafka": healthy, "clickhouse": healthy}
    script = " ".join(s["migrate"]["command"])
    assert "cxpulse migrate" in script
    assert "cxpulse topics" in script
    assert s["migrate"].get("restart", "no") == "no"
    for name in ("flows", "api"):
        assert s[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert s[name]["restart"] == "unless-stopped"
    assert s["flows"]["command"] == ["run"]
    assert s["api"]["command"] == ["api", "--host", "0.0.0.0", "--port", "8000"]
    assert any(p.endswith(":8000") for p in s["api"]["ports"])
    assert "/healthz" in " ".join(s["api"]["healthcheck"]["test"])
    for name in ("kafka", "clickhouse"):
        assert s[name]["healthcheck"]["test"], name
        assert any(v.split(":")[0] in compose["volumes"] for v in s[name]["volumes"]), name


def _service_settings(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    with monkeypatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("CXPULSE_")]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, str(value))
        return Settings()


def test_cxpulse_environment_is_valid_settings(compose, monkeypatch):
    fields = set(Settings.model_fields)
    for name in CXPULSE_SERVICES:
        env = compose["services"][name]["environment"]
        for key in env:
            if key.startswith("CXPULSE_"):
                field = key.removeprefix("CXPULSE_").lower()
                assert field in fields, f"{name}: {key} is not a Settings field"
        settings = _service_settings(env, monkeypatch)
        # a server DSN: the embedded engine cannot be shared by separate processes
        assert not settings.embedded_clickhouse, name
        assert settings.kafka_bootstrap == "kafka:9092", name
        assert settings.dsn == "http://cxpulse:0123456789abcdef@clickhouse:8123", name
    flows = compose["services"]["flows"]
    data_dir = flows["environment"]["CXPULSE_DATA_DIR"]
    assert any(v.endswith(f":{data_dir}") for v in flows["volumes"]), "no recovery volume"
    api_settings = _service_settings(compose["services"]["api"]["environment"], monkeypatch)
    assert api_settings.tenant_keys == {"key-acme": "acme", "key-globex": "globex"}


def test_compose_variables_are_documented_in_env_example(compose_raw):
    used = variables(compose_raw)
    documented = env_example()
    fields = set(Settings.model_fields)
    for name, (op, arg) in used.items():
        assert name in documented, f"${{{name}}} is not in .env.example"
        value, commented = documented[name]
        if op in (":-", "-"):  # optional: .env.example shows the compose default
            assert commented, f"{name} has a default: comment it out in .env.example"
            assert value == arg, f"{name}: .env.example says {value!r}, compose {arg!r}"
        if name.startswith("CXPULSE_") and name != "CXPULSE_IMAGE":
            assert name.removeprefix("CXPULSE_").lower() in fields, name
    for name in documented:
        assert name in used, f".env.example documents unused {name}"


def test_secrets_are_required_not_defaulted(compose_raw):
    refs = variables(compose_raw)
    for name in ("CLICKHOUSE_PASSWORD", "CXPULSE_API_KEYS", "GRAFANA_ADMIN_PASSWORD"):
        assert refs[name][0] == ":?", f"{name} must be ${{{name}:?...}}"
        assert env_example()[name] == ("", False), f".env.example must leave {name} empty"
    env = {k: v for k, (v, commented) in env_example().items() if not commented}
    with pytest.raises(MissingVariableError, match=r"CLICKHOUSE_PASSWORD|CXPULSE_API_KEYS"):
        interpolate(compose_raw, env)


# ---- Dockerfile -----------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def _copied(ins: list[tuple[str, str]]) -> set[str]:
    """Sources of the COPY instructions (all arguments but the destination)."""
    out: set[str] = set()
    for op, rest in ins:
        if op == "COPY":
            out.update(a for a in rest.split()[:-1] if not a.startswith("--"))
    return out


def test_dockerfile_basics():
    ins = _instructions()
    bases = [rest for op, rest in ins if op == "FROM"]
    assert len(bases) == 1
    image, _, tag = bases[0].split()[0].partition(":")
    assert image == "python", bases[0]
    assert re.match(r"3\.11(\.\d+)?-slim", tag), bases[0]
    users = [rest for op, rest in ins if op == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    assert [json.loads(rest) for op, rest in ins if op == "ENTRYPOINT"] == [["cxpulse"]]
    run = " ".join(rest for op, rest in ins if op == "RUN")
    assert re.search(r"pip install (--[\w-]+ )*\.(\s|$)", run), "the image does not install cxpulse"
    assert "['project']['dependencies']" in run, "the pinned dependencies are not installed"
    copied = _copied(ins)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for folder in ("schemas", "flows", "sinks", "api", "infra"):  # setup.py's FOLDERS
        assert folder in copied, f"{folder} is not copied into the image"
    assert "setup.py" in copied, "the build step that namespaces the wheel is not copied"
    assert "pyproject.toml" in copied
    assert pyproject["project"]["readme"] in copied
    env = " ".join(rest for op, rest in ins if op == "ENV")
    assert "CXPULSE_DATA_DIR=/data" in env


def test_dockerignore_keeps_the_context_small_and_the_sources_in():
    ignored = {
        ln.strip().rstrip("/")
        for ln in DOCKERIGNORE.read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert {".venv", ".cxpulse", "infra/kafka/lib", "**/__pycache__"} <= ignored
    assert not _copied(_instructions()) & ignored


# ---- Grafana ----------------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


def _targets() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in _dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def test_grafana_provisioning_is_consistent(compose):
    datasources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert len(datasources) == 1
    ds = datasources[0]
    assert ds["type"] == PLUGIN_ID
    assert ds["jsonData"]["host"] == "clickhouse"
    assert ds["jsonData"]["port"] == 8123
    assert ds["jsonData"]["protocol"] == "http"
    grafana = compose["services"]["grafana"]
    preinstall = grafana["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    assert PLUGIN_ID in [p.split("@")[0] for p in preinstall.split(",")]
    # ${VAR} in the provisioning file come from the grafana container's environment
    for name in variables(yaml.safe_load(DATASOURCES.read_text())):
        assert name in grafana["environment"], f"grafana service lacks {name}"
    assert "password" in ds["secureJsonData"]
    assert "password" not in ds["jsonData"]

    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning/datasources"].endswith("/provisioning/datasources")
    assert mounts["./grafana/provisioning/dashboards"].endswith("/provisioning/dashboards")

    dashboard = _dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    refs = [dashboard["templating"]["list"][0]["datasource"]]
    refs += [p["datasource"] for p in dashboard["panels"] if p["type"] != "row"]
    refs += [t["datasource"] for _p, t in _targets()]
    assert all(r == {"type": PLUGIN_ID, "uid": ds["uid"]} for r in refs)


def test_dashboard_covers_the_tables():
    sqls = " ".join(t["rawSql"] for _p, t in _targets())
    for table in (
        "agent_performance_final",
        "agent_csat_30d",
        "alerts FINAL",
        "dead_letters",
        "late_events",
        "client_risk_latest",
        "ops_queue_snapshots FINAL",
        "FROM events",
    ):
        assert table in sqls, table
    assert "window = '1h'" in sqls
    for panel, target in _targets():
        assert target["editorType"] == "sql", panel["title"]
        assert target["format"] == (0 if target["queryType"] == "timeseries" else 1)
        assert (target["queryType"] == "timeseries") == (panel["type"] == "timeseries")


# Grafana's variables first (front end), then the plugin's macros (back end), as in
# grafana-clickhouse-datasource 4.20 (pkg/macros/macros.go).
FROM = datetime(2026, 1, 1, tzinfo=UTC)
TO = FROM + timedelta(days=1)
INTERVAL_S = 60


def _macro(name: str, args: list[str]) -> str:
    f, t = int(FROM.timestamp()), int(TO.timestamp())
    fm, tm = f * 1000, t * 1000
    table: dict[str, Callable[[], str]] = {
        "timeFilter": lambda: f"{args[0]} >= toDateTime({f}) AND {args[0]} <= toDateTime({t})",
        "timeFilter_ms": lambda: (
            f"{args[0]} >= fromUnixTimestamp64Milli({fm}) "
            f"AND {args[0]} <= fromUnixTimestamp64Milli({tm})"
        ),
        "fromTime": lambda: f"toDateTime({f})",
        "toTime": lambda: f"toDateTime({t})",
        "fromTime_ms": lambda: f"fromUnixTimestamp64Milli({fm})",
        "toTime_ms": lambda: f"fromUnixTimestamp64Milli({tm})",
        "timeInterval": lambda: (
            f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {INTERVAL_S} second)"
        ),
        "timeInterval_ms": lambda: (
            f"toStartOfInterval(toDateTime64({args[0]}, 3), "
            f"INTERVAL {INTERVAL_S * 1000} millisecond)"
        ),
        "interval_s": lambda: str(INTERVAL_S),
    }
    if name not in table:
        raise AssertionError(f"macro $__{name} is not expanded by this test: add it")
    return table[name]()


def expand(sql: str, variables_: Mapping[str, str]) -> str:
    def var(m: re.Match[str]) -> str:
        name, fmt = m["name"] or m["bare"], m["fmt"]
        value = variables_[name]
        if fmt in ("singlequote", "sqlstring"):
            return "'" + value.replace("'", "''") + "'"
        assert fmt is None, f"format {fmt} not handled"
        return value

    sql = re.sub(
        r"\$\{(?P<name>[a-z][A-Za-z0-9_]*)(?::(?P<fmt>\w+))?\}|\$(?P<bare>[a-z][A-Za-z0-9_]*)\b",
        var,
        sql,
    )
    out, i = [], 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < i:
            continue
        out.append(sql[i : m.start()])
        j, args = m.end(), []
        if j < len(sql) and sql[j] == "(":
            depth, k, start = 0, j, j + 1
            while True:
                if sql[k] == "(":
                    depth += 1
                elif sql[k] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                elif sql[k] == "," and depth == 1:
                    args.append(sql[start:k].strip())
                    start = k + 1
                k += 1
            args.append(sql[start:k].strip())
            j = k + 1
        out.append(_macro(m[1], [expand(a, variables_) for a in args if a]))
        i = j
    out.append(sql[i:])
    result = "".join(out)
    assert "$" not in result, f"unexpanded variable in:\n{result}"
    return result


def test_expand_mirrors_the_plugin():
    got = expand(
        "SELECT $__timeInterval(t) AS time FROM x WHERE tenant_id = ${tenant:singlequote} "
        "AND $__timeFilter(toDateTime(t)) AND $__fromTime < $__toTime AND $tenant != ''",
        {"tenant": "o'hare"},
    )
    assert got == (
        "SELECT toStartOfInterval(toDateTime(t), INTERVAL 60 second) AS time FROM x "
        "WHERE tenant_id = 'o''hare' AND toDateTime(t) >= toDateTime(1767225600) "
        "AND toDateTime(t) <= toDateTime(1767312000) AND toDateTime(1767225600) < "
        "toDateTime(1767312000) AND o'hare != ''"
    )


def _seed(client: Any) -> None:
    """A few rows per table for acme inside [FROM, TO] (and an event of globex); columns
    left out take their defaults."""

    def ins(table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        client.insert(table, rows, column_names=columns.split())

    at = FROM + timedelta(hours=10)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    h, d, m = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)
    u = uuid.uuid4
    ins(
        "events",
        "event_id event_type tenant_id occurred_at ingested_at payload",
        [
            (u(), "ticket.created", "acme", at, at + m, "{}"),
            (u(), "csat.received", "acme", at, at + 2 * m, "{}"),
            (u(), "ticket.created", "globex", at, at + m, "{}"),
        ],
    )
    ins("dead_letters", "letter_id received_at topic reason", [(u(), at, "cx.events", "bad")])
    ins(
        "agent_performance",
        "row_id version is_final tenant_id agent_id window window_start window_end "
        "tickets_assigned tickets_resolved handle_time_sum_s handle_time_count "
        "csat_sum csat_count low_csat_count",
        [
            (u(), 3, True, "acme", "agent-a", "1h", at, at + h, 4, 3, 1800.0, 3, 9, 2, 0),
            (u(), 1, True, "acme", "agent-a", "1h", at + h, at + 2 * h, 1, 1, 600.0, 1, 2, 1, 1),
            (u(), 1, True, "acme", "agent-b", "1h", at, at + h, 2, 2, 900.0, 2, 0, 0, 0),
            (u(), 5, True, "acme", "agent-a", "1d", today, today + d, 5, 4, 2400.0, 4, 11, 3, 1),
        ],
    )
    ins(
        "alerts",
        "alert_id tenant_id kind severity subject_type subject_id title event_time fired_at",
        [(u(), "acme", "coaching", "medium", "agent", "agent-a", "CSAT 2", at, at)],
    )
    ins(
        "late_events",
        "late_id flow event_id tenant_id occurred_at watermark recorded_at",
        [(u(), "agent_performance", u(), "acme", at - 2 * h, at, at)],
    )
    ins(
        "client_risk",
        "risk_id tenant_id client_id version scored_at churn_probability risk_level "
        "factor_names factor_contributions",
        [
            (u(), "acme", "client-1", 1, at, 0.3, "medium", ["health"], [0.9]),
            (
                u(),
                "acme",
                "client-1",
                2,
                at + m,
                0.8,
                "critical",
                ["escalations", "health"],
                [1.2, 0.9],
            ),
        ],
    )
    ins(
        "ops_snapshots",
        "snapshot_id tenant_id as_of agents_active agents_idle agents_in_call agents_offline",
        [(u(), "acme", at, 3, 1, 2, 4), (u(), "acme", at + m, 4, 0, 2, 4)],
    )
    ins(
        "ops_queue_snapshots",
        "tenant_id as_of queue depth oldest_wait_s",
        [("acme", at + i * m, q, n + i, 30.0 * n) for i in (0, 1) for q, n in (("a", 2), ("b", 5))],
    )
    ins(
        "demand_hourly",
        "tenant_id segment_type segment hour_start events",
        [("acme", "queue", "billing", at + i * h, 5 + i) for i in range(4)],
    )
    ins(  # made at `at`, its 24th hour ahead is at + 23 h (inside the range)
        "demand_forecast_snapshots",
        "tenant_id segment_type segment generated_at first_target model predicted lower_80 "
        "upper_80 lower_95 upper_95",
        [("acme", "queue", "billing", at, at + h, "m", *([[4.0] * 24] * 5))],
    )
    ins(
        "demand_backtest",
        "tenant_id segment_type segment generated_at model baseline origins horizon_h points "
        "mae baseline_mae wape mase coverage_80 coverage_95",
        [("acme", "queue", "billing", at, "m", "b", 7, 24, 168, 1.0, 1.5, 0.2, 0.7, 0.8, 0.95)],
    )
    ins(
        "kb_suggestions",
        "suggestion_id version tenant_id status title category ticket_ids size confidence "
        "first_seen updated_at",
        [(u(), 1, "acme", "open", "Login loops", "login", ["t1", "t2", "t3"], 3, 0.7, at, at)],
    )
    ins(
        "routing_decisions",
        "decision_id tenant_id ticket_id recommendation_id version assigned_at agent_id "
        "assigned_by rank adoption first_response_s handle_time_s csat reopened updated_at",
        [
            (u(), "acme", "t1", u(), 2, at, "agent-a", "auto", 1, "top", 60.0, 900.0, 5, False, at),
            (u(), "acme", "t2", u(), 1, at, "agent-b", "manual", 0, "outside", None, None, None,
             False, at),
        ],
    )  # fmt: skip


def test_every_panel_query_runs_on_clickhouse(chdb_path: Path, database: str):
    client = open_client(f"chdb://{chdb_path}", database)
    _seed(client)
    dashboard = _dashboard()
    tenants = expand(dashboard["templating"]["list"][0]["query"]["rawSql"], {})
    assert [r[0] for r in client.query(tenants).result_rows] == ["acme", "globex"]

    failures, checked = [], 0
    for panel, target in _targets():
        where = f"{panel['title']!r} {target['refId']}"
        sql = expand(target["rawSql"], {"tenant": "acme"})
        try:
            result = client.query(sql)
        except Exception as exc:
            failures.append(f"{where}: {exc}\n{sql}")
            continue
        checked += 1
        if not result.result_rows:
            failures.append(f"{where}: no rows on the seeded data\n{sql}")
        elif target["queryType"] == "timeseries":
            # the plugin turns long frames wide per label; that needs time first, ascending
            times = [r[0] for r in result.result_rows]
            if result.column_names[0] != "time" or times != sorted(times):
                failures.append(f"{where}: first column must be `time`, ascending\n{sql}")
    assert not failures, "\n\n".join(failures)
    assert checked >= 15
