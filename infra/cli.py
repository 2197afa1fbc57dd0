"""``cxpulse``: the one command for operators, producers and developers."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from flows.config import FLOW_NAMES
from schemas.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="cxpulse: customer-operations events -> live intelligence.",
)
kafka_app = typer.Typer(no_args_is_help=True, help="Local Apache Kafka (KRaft, single node).")
schema_app = typer.Typer(no_args_is_help=True, help="Event schemas for producers.")
app.add_typer(kafka_app, name="kafka")
forecast_app = typer.Typer(no_args_is_help=True, help="Demand forecasts and their accuracy.")
app.add_typer(schema_app, name="schema")
app.add_typer(forecast_app, name="forecast")

log = logging.getLogger("cxpulse")
# how compute processes start this command again (`python -m <it>`), in a source tree
# (infra.cli) as in the wheel (cxpulse.infra.cli)
_CLI_MODULE = __spec__.name if __spec__ is not None else "infra.cli"


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        typer.secho(f"invalid configuration:\n{exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _err(msg: str) -> None:
    typer.secho(msg, fg="red", err=True)


def _local_kafka(settings: Settings, secure: bool | None = None) -> Any:
    """The local broker of the data dir; ``secure`` None: as it was formatted."""
    from infra.kafka_local import LocalKafka

    host, _, port = settings.kafka_bootstrap.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        _err(
            f"CXPULSE_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is not local; "
            "the local broker only runs on 127.0.0.1:<port>"
        )
        raise typer.Exit(2)
    home = settings.data_dir / "kafka"
    if secure is None:
        secure = (home / "credentials.json").is_file()
    return LocalKafka(home=home, port=int(port), secure=secure)


# ---- kafka -------------------------------------------------------------------------------


@kafka_app.command("up")
def kafka_up(
    timeout: float = 90.0,
    secure: Annotated[
        bool, typer.Option(help="SASL/SCRAM + ACLs (a new data dir; credentials generated)")
    ] = False,
) -> None:
    """Start the local broker (idempotent) and wait until it answers."""
    settings = _settings()
    broker = _local_kafka(settings, secure=secure or None)
    broker.ensure_jars(progress=lambda m: typer.echo(m, err=True))
    typer.echo(f"kafka up at {broker.up(timeout_s=timeout)} (logs: {broker.home / 'logs'})")
    if broker.secure:
        broker.grant_pipeline(settings)
        typer.echo(_sasl_env_hint(broker.credentials_file, "pipeline", '["pipeline"]'))


def _sasl_env_hint(credentials: Path, user: str, path: str) -> str:
    """Shell lines that configure a client as ``user`` (the password stays in the file)."""
    read = f"python3 -c 'import json;print(json.load(open(\"{credentials}\")){path})'"
    return (
        f"SASL/SCRAM on; credentials in {credentials}. As {user}:\n"
        "export CXPULSE_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT "
        f'CXPULSE_KAFKA_SASL_USERNAME={user} CXPULSE_KAFKA_SASL_PASSWORD="$({read})"'
    )


@kafka_app.command("add-tenant")
def kafka_add_tenant(tenant: str) -> None:
    """A tenant's producer principal on the secure local broker: SCRAM user
    ``tenant-<T>`` (password generated once), its input topic ``<prefix>events.<T>`` and
    the ACLs that let it write that topic only. Idempotent."""
    from confluent_kafka.admin import AdminClient

    from infra.kafka_security import add_tenant, new_password, tenant_principal

    settings = _settings()
    broker = _local_kafka(settings)
    if not broker.secure:
        _err("the local broker is not secure: start it with `cxpulse kafka up --secure`")
        raise typer.Exit(2)
    creds = broker.credentials()
    password = creds.tenants.setdefault(tenant, new_password())
    try:
        created = add_tenant(AdminClient(broker.admin_config()), settings, tenant, password)
    except ValueError as exc:
        _err(str(exc))
        raise typer.Exit(2) from exc
    creds.save(broker.credentials_file)
    typer.echo(f"tenant {tenant}: topic {'created' if created else 'exists'}, ACLs set")
    where = f'["tenants"]["{tenant}"]'
    typer.echo(_sasl_env_hint(broker.credentials_file, tenant_principal(tenant), where))


@kafka_app.command("down")
def kafka_down() -> None:
    """Stop the local broker (idempotent)."""
    stopped = _local_kafka(_settings()).down()
    typer.echo("kafka stopped" if stopped else "kafka was not running")


@kafka_app.command("status")
def kafka_status() -> None:
    """Print whether the local broker runs, with its pid and address."""
    typer.echo(json.dumps(_local_kafka(_settings()).status(), default=str))


@app.command()
def topics() -> None:
    """Create the events, dead-letter and alert topics if missing."""
    from infra.topics import ensure_topics

    settings = _settings()
    created = ensure_topics(settings, log=typer.echo)
    if not created:
        typer.echo("topics exist")


# ---- clickhouse ----------------------------------------------------------------------------


@app.command()
def migrate() -> None:
    """Apply pending ClickHouse migrations and the configured retention (idempotent)."""
    from infra.migrate import migrate as run_migrations

    settings = _settings()
    run_migrations(
        settings.dsn,
        settings.clickhouse_database,
        log=typer.echo,
        retention_days=settings.retention_days,
    )


@app.command()
def sql(query: str, fmt: Annotated[str, typer.Option("--format")] = "PrettyCompact") -> None:
    """Run a read query on the configured ClickHouse (handy with the embedded engine,
    which only the process owning the data dir can open)."""
    from sinks.clickhouse_client import open_client

    settings = _settings()
    client = open_client(settings.dsn, settings.clickhouse_database)
    result = client.raw_query(query, fmt=fmt)
    sys.stdout.buffer.write(result if isinstance(result, bytes) else str(result).encode())
    sys.stdout.buffer.flush()


@app.command("kafka-engine-ddl")
def kafka_engine_ddl(
    consumers: Annotated[int, typer.Option(min=1, help="kafka_num_consumers per table")] = 1,
) -> None:
    """Print the ClickHouse DDL that stores the result topics without `cxpulse store`
    (Kafka table engine + materialized views into the same tables). Run it on a
    ClickHouse server after `cxpulse migrate`, then stop every storage writer."""
    from infra.kafka_engine import print_kafka_engine_ddl

    settings = _settings()
    typer.echo(print_kafka_engine_ddl(settings, num_consumers=consumers), nl=False)


@forecast_app.command("backtest")
def forecast_backtest(
    tenant: Annotated[str, typer.Option(help="only this tenant (default: all)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Print the latest rolling-origin backtest of every segment: WAPE, MASE against
    seasonal-naive, and 80/95 % interval coverage (written by the demand flow)."""
    from dataclasses import asdict
    from functools import partial

    from infra.backtest_report import backtest_table
    from sinks.clickhouse_client import open_client
    from sinks.reader import ResultsReader

    settings = _settings()
    reader = ResultsReader(partial(open_client, settings.dsn, settings.clickhouse_database))
    rows = reader.demand_backtests(tenant)
    if not rows:
        _err("no backtests yet: the demand flow writes one per segment at each refit")
        raise typer.Exit(1)
    if as_json:
        for r in rows:
            typer.echo(json.dumps(asdict(r), default=str))
    else:
        typer.echo(backtest_table(rows))


# ---- producers ---------------------------------------------------------------------------


@schema_app.command("export")
def schema_export(directory: Path) -> None:
    """Write JSON Schema files: one per event type plus the full envelope union."""
    from schemas.export import export_json_schemas

    for path in export_json_schemas(directory):
        typer.echo(path)


@app.command()
def emit(
    file: Annotated[str, typer.Argument(help="JSON-lines file, or - for stdin")],
    dry_run: Annotated[bool, typer.Option(help="validate only, send nothing")] = False,
) -> None:
    """Validate JSON lines and send the valid ones; report every invalid line."""
    from infra.emit import BadLine, check_lines
    from infra.producer import EventProducer, input_topic
    from schemas.kafka_client import client_config

    settings = _settings()
    stream = sys.stdin.buffer if file == "-" else Path(file).open("rb")  # noqa: SIM115
    bad = good = 0
    try:
        with EventProducer(client_config(settings), settings.events_topic) as producer:
            for item in check_lines(stream):
                if isinstance(item, BadLine):
                    bad += 1
                    typer.echo(f"line {item.number}: {item.reason}", err=True)
                    continue
                good += 1
                if not dry_run:
                    producer.send(item.key, item.value, input_topic(settings, item.tenant))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    verb = "validated" if dry_run else "sent"
    typer.echo(f"{verb} {good} event(s) to {settings.events_topic}; {bad} invalid", err=True)
    if bad:
        raise typer.Exit(1)


@app.command()
def simulate(
    rate: Annotated[float, typer.Option(help="max events per second (0: no cap)")] = 200.0,
    count: Annotated[int, typer.Option(help="stop after N events (0: run until stopped)")] = 0,
    seed: int = 7,
    tenants: int = 3,
    agents: Annotated[int, typer.Option(help="agents per tenant")] = 20,
    clients: Annotated[int, typer.Option(help="clients per tenant")] = 200,
    tickets_per_hour: Annotated[float, typer.Option(help="peak tickets/h per tenant")] = 60.0,
    backfill_hours: Annotated[float, typer.Option(help="history to send first, fast")] = 0.0,
    speed: Annotated[float, typer.Option(help="event time per wall time once live")] = 1.0,
    invalid_every: Annotated[int, typer.Option(help="1 bad message per N (0: none)")] = 0,
    routing_follow: Annotated[
        float, typer.Option(help="share of auto-assignments following the recommendation")
    ] = 0.0,
    category_strengths: Annotated[
        bool, typer.Option(help="agents have category specialities (routing demo)")
    ] = False,
) -> None:
    """Produce realistic, seeded traffic (history first, then live)."""
    from infra.simulate import run_simulation

    settings = _settings()
    run_simulation(
        settings,
        rate=rate,
        count=count,
        seed=seed,
        tenants=tenants,
        agents=agents,
        clients=clients,
        tickets_per_hour=tickets_per_hour,
        backfill=timedelta(hours=backfill_hours),
        speed=speed,
        invalid_every=invalid_every,
        routing_follow_p=routing_follow,
        category_strengths=category_strengths,
    )


# ---- running -------------------------------------------------------------------------------


def _flows(names: list[str] | None) -> frozenset[str]:
    chosen = frozenset(names or FLOW_NAMES)
    unknown = chosen - set(FLOW_NAMES)
    if unknown:
        _err(f"unknown flow(s): {', '.join(sorted(unknown))}; known: {', '.join(FLOW_NAMES)}")
        raise typer.Exit(2)
    return chosen


def _prepare(settings: Settings) -> None:
    from infra.migrate import migrate as run_migrations
    from infra.topics import ensure_topics

    ensure_topics(settings, log=typer.echo)
    run_migrations(
        settings.dsn,
        settings.clickhouse_database,
        log=typer.echo,
        retention_days=settings.retention_days,
    )


def _addresses(raw: str) -> list[str]:
    parts = [a.strip() for a in raw.replace(";", ",").split(",") if a.strip()]
    bad = [a for a in parts if not a.rpartition(":")[2].isdigit()]
    if not parts or bad:
        _err(f"--addresses must be host:port,host:port,... (got {raw!r})")
        raise typer.Exit(2)
    return parts


def _stop_on_sigterm(stop: threading.Event) -> None:
    """SIGTERM stops the run like Ctrl-C: compute processes stopped, stored rows committed."""
    import signal

    signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())


@app.command()
def run(
    flows: Annotated[
        list[str] | None, typer.Argument(help=f"any of {', '.join(FLOW_NAMES)}")
    ] = None,
    until_end: Annotated[
        bool,
        typer.Option(
            help="stop at the end offsets seen at start; on exit 0 every result is stored"
        ),
    ] = False,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="compute processes on this machine")
    ] = 1,
    addresses: Annotated[
        str,
        typer.Option(
            help="host:port of every compute process of a cluster across machines "
            "(with --process-id): this process computes only; store with `cxpulse store`"
        ),
    ] = "",
    process_id: Annotated[
        int | None, typer.Option(help="this process's index in --addresses")
    ] = None,
    store: Annotated[
        bool,
        typer.Option(
            help="run the storage writer here (--no-store: ClickHouse's Kafka engine "
            "or a `cxpulse store` elsewhere stores the result topics)"
        ),
    ] = True,
    metrics_port: Annotated[
        int,
        typer.Option(
            help="serve Prometheus /metrics on this port (0: off; "
            "`up` serves them on the API's /metrics)"
        ),
    ] = 0,
    metrics_host: Annotated[
        str,
        typer.Option(
            help="the interface --metrics-port binds (0.0.0.0: all; the metrics carry "
            "topic names and rates, so keep them local or behind a firewall)"
        ),
    ] = "127.0.0.1",
) -> None:
    """Run the dataflows (all by default) with recovery; resumes where it stopped."""
    settings = _settings()
    chosen = _flows(flows)
    if addresses or process_id is not None:
        _run_member(settings, chosen, addresses, process_id, until_end=until_end)
        return
    _prepare(settings)
    if metrics_port:
        serve_metrics(metrics_host, metrics_port)
        typer.echo(f"metrics on http://{metrics_host}:{metrics_port}/metrics", err=True)
    typer.echo(
        f"running {', '.join(sorted(chosen))} on {settings.events_topic} in {processes} "
        f"process(es){' until the end offsets seen now' if until_end else ''}",
        err=True,
    )
    started = time.monotonic()
    code = _run_local(settings, chosen, until_end=until_end, processes=processes, store=store)
    if code:
        _err(f"a compute process failed after {time.monotonic() - started:.1f}s")
        raise typer.Exit(code)
    typer.echo(f"done in {time.monotonic() - started:.1f}s", err=True)


def _run_local(
    settings: Settings, chosen: frozenset[str], *, until_end: bool, processes: int, store: bool
) -> int:
    from infra.cluster import run_local

    stop = threading.Event()
    _stop_on_sigterm(stop)
    try:
        return run_local(
            settings,
            _CLI_MODULE,
            sorted(chosen),
            until_end=until_end,
            processes=processes,
            store=store,
            stop=stop,
        )
    except KeyboardInterrupt:
        stop.set()
        return 130


def _run_member(
    settings: Settings,
    chosen: frozenset[str],
    addresses: str,
    process_id: int | None,
    *,
    until_end: bool,
) -> None:
    """One compute process of a cluster: no storage, no migrations (nor ClickHouse)."""
    from infra.runner import run_flows
    from infra.topics import ensure_topics

    members = _addresses(addresses)
    if process_id is None or not 0 <= process_id < len(members):
        _err(f"--process-id must be 0..{len(members) - 1} with {len(members)} addresses")
        raise typer.Exit(2)
    ensure_topics(settings, log=typer.echo)
    run_flows(settings, chosen, until_end=until_end, process_id=process_id, addresses=members)


@app.command()
def store(
    until_end: Annotated[
        bool, typer.Option(help="store what the result topics hold now, then exit")
    ] = False,
) -> None:
    """Store the result topics in ClickHouse (what `run`, `up` and `demo` do in their
    own process); commits its offsets only after each insert."""
    from infra.storage import storage_writer

    settings = _settings()
    _prepare(settings)
    writer = storage_writer(settings)
    started = time.monotonic()
    try:
        if until_end:
            rows = writer.drain()
            typer.echo(f"stored {rows} rows in {time.monotonic() - started:.1f}s", err=True)
            return
        stop = threading.Event()
        _stop_on_sigterm(stop)
        typer.echo(f"storing the result topics {settings.results_topics_prefix}*", err=True)
        try:
            writer.run(stop, drain=False)
        except KeyboardInterrupt:
            writer.flush()
    finally:
        writer.close()


@app.command()
def erase(
    tenant: Annotated[str, typer.Option(help="the tenant of the client")],
    client: Annotated[str, typer.Option(help="the client (data subject) to erase")],
    wait_s: Annotated[
        float, typer.Option(help="wait this long for completion (0: do not wait)")
    ] = 300.0,
) -> None:
    """Erase a client's data from every table and from the flows' state (GDPR art. 17).

    Records the erasure in the ledger and sends it through the events topic; the running
    flows apply it and the storage writer deletes the client's rows. Prints the receipt
    as it progresses (requested, applied, completed) and records the command in
    audit_log. Exits 1 if it has not completed within --wait-s (it completes once the
    pipeline runs: `cxpulse up` or `run` plus `store`)."""
    from infra.topics import ensure_topics
    from schemas.audit import AuditEntry
    from sinks.audit_log import KafkaAuditLog
    from sinks.erasure_requests import ErasureRequests, watch_receipts

    settings = _settings()
    ensure_topics(settings, log=_quiet)
    requests = ErasureRequests(settings)
    now = datetime.now(UTC)
    ok = False
    try:
        receipt = requests.request(tenant, client, now)
        ok = True
    finally:
        requests.close()
        with KafkaAuditLog.from_settings(settings) as audit:
            params = {"tenant": tenant, "client_id": client}
            audit.record(AuditEntry.of_command("erase", tenant, params, ok=ok, at=now))
    typer.echo(receipt.model_dump_json())
    if wait_s <= 0:
        return
    for seen in watch_receipts(settings, receipt.erasure_id, "completed", wait_s):
        if seen.status != "requested":
            typer.echo(seen.model_dump_json())
        if seen.status == "completed":
            return
    _err(
        f"erasure {receipt.erasure_id} not completed within {wait_s:.0f}s: it completes "
        "when the flows and the storage writer run (GET /v1/erasures/<id> shows progress)"
    )
    raise typer.Exit(1)


def _quiet(_message: str) -> None:
    """A log that says nothing (a command whose output is its result)."""


def serve_metrics(host: str, port: int) -> Any:
    """Prometheus ``/metrics`` of this process on ``host:port`` in a thread; the server."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host)
    return server


def refuse_short_keys(settings: Settings) -> None:
    """Exit 2 when an API key is shorter than ``MIN_KEY_CHARS``: guessable (only the demo's
    own keys are exempt, and only in ``cxpulse demo``)."""
    from schemas.api_keys import MIN_KEY_CHARS, short_keys

    short = short_keys(settings.api_key_list)
    if short:
        _err(
            f"CXPULSE_API_KEYS: the key(s) of {', '.join(short)} are shorter than "
            f"{MIN_KEY_CHARS} characters; use random keys, e.g. `openssl rand -hex 24`"
        )
        raise typer.Exit(2)


def _api_server(
    settings: Settings,
    host: str,
    port: int,
    dispatch: bool | None = None,
    *,
    allow_short_keys: bool = False,
) -> Any:
    import uvicorn

    if not allow_short_keys:
        refuse_short_keys(settings)

    from api.main import build_app
    from sinks.webhooks.secret_box import MissingSecretKeyError

    try:
        built = build_app(settings, dispatch=dispatch)
    except MissingSecretKeyError as exc:
        _err(str(exc))
        raise typer.Exit(2) from exc
    config = uvicorn.Config(
        built,
        host=host,
        port=port,
        log_level="warning",
        # an open alert stream must not stall shutdown
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


@app.command()
def api(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the HTTP API (with the embedded engine, use `up` instead while flows run)."""
    from sinks.clickhouse_client import ClickHouseUnavailableError, open_client

    settings = _settings()
    if settings.embedded_clickhouse:
        try:  # fail now, not on the first request, when `run` holds the data dir
            open_client(settings.dsn, settings.clickhouse_database).close()
        except ClickHouseUnavailableError as exc:
            _err(
                f"{exc}\nThe embedded ClickHouse belongs to one process: while flows run, "
                "use `cxpulse up` (flows + API), or a ClickHouse server DSN."
            )
            raise typer.Exit(2) from exc
    typer.echo(f"API on http://{host}:{port}  (docs: /docs)", err=True)
    _api_server(settings, host, port).run()


def _serve_in_thread(
    settings: Settings, host: str, port: int, *, allow_short_keys: bool = False
) -> threading.Thread:
    """Start the API (and the webhook dispatcher) beside the flows; exit at once if it
    cannot serve (e.g. port taken) rather than run flows nobody can query."""
    server = _api_server(settings, host, port, dispatch=True, allow_short_keys=allow_short_keys)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            _err(f"the API could not start on {host}:{port} (see the error above)")
            raise typer.Exit(1)
        time.sleep(0.05)
    return thread


@app.command()
def dispatch() -> None:
    """The webhook dispatcher alone: alerts topic -> signed POSTs. Run exactly one per
    deployment with a ClickHouse server (API replicas never dispatch); `up`, `demo` and
    `api` on the embedded engine run it in their own process."""
    import asyncio

    from sinks.webhooks.dispatcher import WebhookDispatcher
    from sinks.webhooks.secret_box import MissingSecretKeyError
    from sinks.webhooks.store import default_store

    settings = _settings()
    try:
        store = default_store(settings)
    except MissingSecretKeyError as exc:
        _err(str(exc))
        raise typer.Exit(2) from exc
    dispatcher = WebhookDispatcher(settings, store)
    stop = threading.Event()
    _stop_on_sigterm(stop)
    asyncio.run(dispatcher.start())
    typer.echo(f"dispatching webhooks for {settings.alerts_topic}", err=True)
    try:
        while not stop.wait(1.0):
            if not dispatcher.running:
                _err("the webhook dispatcher stopped (see the log)")
                raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        asyncio.run(dispatcher.stop())
        store.close()


@app.command()
def up(
    host: str = "127.0.0.1",
    port: int = 8000,
    flows: Annotated[list[str] | None, typer.Option("--flow")] = None,
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="compute processes on this machine")
    ] = 1,
) -> None:
    """API and storage writer in this process (the embedded engine belongs to one
    process), the flows in ``--processes`` compute processes beside it."""
    settings = _settings()
    chosen = _flows(flows)
    _prepare(settings)
    _serve_in_thread(settings, host, port)
    typer.echo(
        f"API on http://{host}:{port}  (docs: /docs); flows: {', '.join(sorted(chosen))}", err=True
    )
    raise typer.Exit(_run_local(settings, chosen, until_end=False, processes=processes, store=True))


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    # nine days: enough history for weekly demand models (a week + a day) and backtests
    backfill_hours: float = 216.0,
    rate: float = 4000.0,  # the backfill drains in a minute or so; live pace after
) -> None:
    """Everything on this machine: local Kafka, simulator, flows, API."""
    from infra.simulate import run_simulation

    settings = _settings()
    broker = _local_kafka(settings)
    broker.ensure_jars(progress=lambda m: typer.echo(m, err=True))
    typer.echo(f"kafka at {broker.up(timeout_s=90)}", err=True)
    _prepare(settings)
    # demo defaults go into the environment: the compute processes read their settings
    # from it (the API keys, and threshold rules that the simulator's stories cross)
    own_keys = not settings.tenant_keys  # the demo's keys are short; anyone else's may not be
    if own_keys:
        os.environ["CXPULSE_API_KEYS"] = _demo_keys().get_secret_value()
    if settings.alert_rules_file is None:
        os.environ["CXPULSE_ALERT_RULES_FILE"] = str(Path(__file__).with_name("demo_rules.json"))
    settings = _settings()
    sim = threading.Thread(
        target=run_simulation,
        name="simulator",
        daemon=True,
        kwargs={
            "settings": settings,
            "rate": rate,
            "count": 0,
            "seed": 7,
            "tenants": 3,
            "agents": 20,
            "clients": 200,
            "tickets_per_hour": 60.0,
            "backfill": timedelta(hours=backfill_hours),
            "speed": 1.0,
            "invalid_every": 500,
            "progress": False,
            # the auto-assigner follows 70 % of recommendations (GET /v1/routing/adoption)
            "routing_follow_p": 0.7,
            "category_strengths": True,
        },
    )
    sim.start()
    keys = ", ".join(f"{t}: {k}" for k, t in settings.tenant_keys.items())
    typer.echo(
        f"API on http://{host}:{port}  docs: http://{host}:{port}/docs\n"
        f"API keys ({keys}); try:\n"
        f"  curl -H 'Authorization: Bearer {next(iter(settings.tenant_keys))}' "
        f"http://{host}:{port}/v1/agents",
        err=True,
    )
    _serve_in_thread(settings, host, port, allow_short_keys=own_keys)
    raise typer.Exit(_run_local(settings, _flows(None), until_end=False, processes=1, store=True))


def _demo_keys() -> Any:
    from pydantic import SecretStr

    # every scope, so the demo shows the audit (GET /v1/audit) and erasure too
    return SecretStr(
        "acme:demo-acme:read+write+admin,globex:demo-globex:read+write+admin,"
        "initech:demo-initech:read+write+admin"
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app()


if __name__ == "__main__":
    main()
