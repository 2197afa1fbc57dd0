"""Schemathesis on the webhook subscription routes, with the hardening in place: the SSRF
guard (a stub resolver: ``hooks.example.com`` public, ``internal.example.com`` private),
the per-tenant cap, secret rotation, sealed secrets.

Same checks as ``test_api_contract.py`` (no 5xx, documented statuses and bodies, auth),
on an app with only the subscription routes over a seeded database. Half the bodies
carry a URL from :data:`URLS` (public, private, literal internal, odd spellings), half
the path ids a seeded subscription, so 201/200/204, 404, 409 and 422 are all reached.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from api.app import create_app
from api.routers import subscriptions
from infra.migrate import migrate
from schemas.settings import Settings
from sinks.clickhouse_client import open_client
from sinks.webhooks.addresses import AllowList
from sinks.webhooks.guard import UrlGuard
from sinks.webhooks.secret_box import SecretBox, new_key
from sinks.webhooks.store import WebhookStore
from tests.integration.test_api_contract import CHECKS

pytestmark = pytest.mark.integration

ACME = {"Authorization": "Bearer k1"}
URLS = (
    "https://hooks.example.com/x",
    "https://internal.example.com/x",
    "https://127.0.0.1/x",
    "https://0x7f000001/x",
    "https://[::ffff:127.0.0.1]/x",
    "http://hooks.example.com/plain",
    "https://169.254.169.254/latest",
)


def _resolve(host: str, port: int) -> Sequence[str]:
    table = {"hooks.example.com": ["93.184.215.14"], "internal.example.com": ["10.1.2.3"]}
    if host not in table:
        raise OSError("Name or service not known")
    return table[host]


def _no_database() -> Any:
    raise RuntimeError("the seeded fixture was not applied")


_SETTINGS = Settings(
    api_keys="acme:k1,globex:k2",
    clickhouse_dsn="chdb:///nonexistent",
    kafka_bootstrap="127.0.0.1:1",
    data_dir=Path("/nonexistent"),
    auth_failure_burst=1_000_000,  # schemathesis fails auth on purpose, often
)
APP = create_app(_SETTINGS, kafka_check=lambda: None, store_lag=dict)
subscriptions.install(APP, WebhookStore(_no_database))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(
    path_regex=r"^/v1/subscriptions"
)
SEEDED: list[str] = []


@schema.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half the time, a seeded subscription id."""
    if not path_parameters or "subscription_id" not in path_parameters:
        return st.just(path_parameters)
    params = path_parameters
    return st.one_of(
        st.just(params),
        st.sampled_from(SEEDED or ["x"]).map(lambda i: {**params, "subscription_id": i}),
    )


@schema.hook
def flatmap_body(ctx: Any, body: Any) -> Any:
    """Half the time, one of :data:`URLS`."""
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        return st.just(body)
    b = body
    return st.one_of(st.just(b), st.sampled_from(URLS).map(lambda u: {**b, "url": u}))


@pytest.fixture(scope="module")
def seeded(chdb_path: Path) -> Iterator[None]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    dsn = f"chdb://{chdb_path}"
    migrate(dsn, database, log=lambda _m: None)
    store = WebhookStore(
        lambda: open_client(dsn, database),
        box=SecretBox.from_text(new_key()),
        guard=UrlGuard(AllowList(), resolver=_resolve),
        max_subscriptions=6,
    )
    subs = [store.create_subscription("acme", "https://hooks.example.com/s") for _ in range(3)]
    SEEDED[:] = [str(s.subscription_id) for s in subs]
    previous = APP.state.webhook_store
    APP.state.webhook_store = store
    try:
        yield
    finally:
        APP.state.webhook_store = previous
        store.close()


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@pytest.mark.usefixtures("seeded")
def test_subscription_routes_conform(case: schemathesis.Case[Any]) -> None:
    response = case.call_and_validate(headers=ACME, checks=CHECKS)
    if response.status_code in (200, 201) and case.method.upper() == "GET":
        assert "secret" not in response.text  # GETs never carry a secret
