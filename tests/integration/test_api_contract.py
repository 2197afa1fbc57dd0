"""Contract tests: schemathesis fuzzes every operation of the app's own OpenAPI schema.

The app runs in-process (ASGI) on a migrated embedded-ClickHouse database seeded, for two
tenants, with the rows of ``test_api.py`` (agent_performance, alerts) and
``test_api_risk_ops.py`` (client_risk, ops snapshots). Requests carry acme's key, except
the ones schemathesis makes without it (the key is the schema's ``Authorization`` header).
Checks on every response:

* ``not_a_server_error`` - no 5xx, whatever the input;
* ``status_code_conformance`` - the status is one the operation documents (401 included);
* ``response_schema_conformance`` - the body matches the documented schema;
* ``content_type_conformance`` - the media type is the documented one;
* ``ignored_auth`` / ``missing_required_header`` - without the key it is a 401, not data;
* ``unsupported_method`` - another method on a path is a 405.

Left out, on purpose (both fail, on behaviour that is intended):

* ``positive_data_acceptance``: schema-valid input is refused by design - an unknown agent
  or client is a 404, ``start >= end`` or an unknown risk factor (``without=``) a 422;
* ``negative_data_rejection``: FastAPI / pydantic accept some schema-violating input on
  purpose - a number for a date-time is read as a Unix time (``since=0.5``), and unknown
  query parameters are ignored.

Operations left out: ``/v1/alerts/stream`` (and any ``text/event-stream`` operation) never
ends, and ``/metrics`` is Prometheus text for scrapers, not part of the JSON API. The app
is ``create_app``'s: routes that ``api.main`` mounts on top of it are not in it.
``test_every_v1_operation_needs_a_known_key`` asserts the 401 (and its body) of every /v1
operation for a missing, unknown or non-Bearer key.

Random strings almost never hit a seeded id, so path parameters are sometimes swapped for
a seeded agent/client id, and ``without`` for real factor names: the 200 paths are fuzzed
too, not only the 404 / 422 ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from api.app import create_app
from infra.migrate import migrate
from infra.settings import Settings
from schemas.risk import FACTOR_NAMES
from sinks.clickhouse_client import open_client
from sinks.reader import ResultsReader
from tests.integration import test_api, test_api_risk_ops

pytestmark = pytest.mark.integration

ACME = {"Authorization": "Bearer k1"}
# Seeded ids of either tenant (acme's and globex's, some shared on purpose)
AGENT_IDS = ("a1", "a2", "g1")
CLIENT_IDS = ("c1", "c2", "c3", "c4", "c5", "g1")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    unsupported_method,
]
EXCLUDED_PATHS = ("/v1/alerts/stream", "/metrics")


def _streams(operation: Any) -> bool:
    """Whether any documented response of the operation is a Server-Sent Events stream."""
    responses = operation.definition.raw.get("responses", {})
    return any("text/event-stream" in (r.get("content") or {}) for r in responses.values())


def _excluded(ctx: Any) -> bool:
    operation = ctx.operation
    return operation.path in EXCLUDED_PATHS or _streams(operation)


def _settings(chdb_path: Path | str, database: str, data_dir: Path) -> Settings:
    return Settings(
        api_keys="acme:k1,globex:k2",
        clickhouse_dsn=f"chdb://{chdb_path}",
        clickhouse_database=database,
        kafka_bootstrap="127.0.0.1:1",
        data_dir=data_dir,
    )


def _no_database() -> Any:
    raise RuntimeError("the seeded_reader fixture was not applied")


# The schema must exist when pytest collects the tests, before any fixture runs (and the
# lazy ``schemathesis.pytest.from_fixture`` loader does not work with pytest 9). The app
# is built once here, with a reader that refuses to open; ``seeded_reader`` swaps in a
# reader on the test's seeded database (routes take it from ``app.state``).
APP = create_app(
    _settings("/nonexistent", "none", Path("/nonexistent")),
    reader=ResultsReader(_no_database),
    kafka_check=lambda: None,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(_excluded)


@schema.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half the time, seeded ids instead of random ones (so 200s are fuzzed too)."""
    ids = {"agent_id": AGENT_IDS, "client_id": CLIENT_IDS}
    if not path_parameters or not ids.keys() & path_parameters.keys():
        return st.just(path_parameters)
    params = path_parameters
    known = st.fixed_dictionaries({n: st.sampled_from(ids[n]) for n in params if n in ids}).map(
        lambda k: {**params, **k}
    )
    return st.one_of(st.just(params), known)


@schema.hook
def flatmap_query(ctx: Any, query: dict[str, Any] | None) -> Any:
    """Half the time, real factor names in ``without`` (random ones are always a 422)."""
    if not query or "without" not in query:
        return st.just(query)
    q = query
    names = st.lists(st.sampled_from(FACTOR_NAMES), min_size=1, max_size=3)
    return st.one_of(st.just(q), names.map(lambda w: {**q, "without": w}))


@pytest.fixture(scope="module")
def seeded_reader(
    chdb_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ResultsReader]:
    """Two tenants' rows in a database of this module, read by ``APP`` meanwhile.

    Module-scoped (each operation is a test of its own; the API only reads), on the
    session's engine path like ``conftest.database``.
    """
    database = f"t_{uuid.uuid4().hex[:12]}"
    migrate(f"chdb://{chdb_path}", database, log=lambda _m: None)
    s = _settings(chdb_path, database, tmp_path_factory.mktemp("data"))
    test_api.seed(s.dsn, database)
    test_api_risk_ops.seed(s.dsn, database)
    reader = ResultsReader(lambda: open_client(s.dsn, database))
    previous = APP.state.reader
    APP.state.reader = reader
    try:
        yield reader
    finally:
        APP.state.reader = previous
        reader.close()


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@pytest.mark.usefixtures("seeded_reader")
def test_api_conforms_to_its_schema(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(headers=ACME, checks=CHECKS)


# --- auth -------------------------------------------------------------------------------

BAD_KEYS: list[dict[str, str]] = [
    {},
    {"Authorization": "Bearer not-a-key"},
    {"Authorization": "Basic k1"},
]


@pytest.mark.usefixtures("seeded_reader")
def test_every_v1_operation_needs_a_known_key() -> None:
    """Each /v1 operation, with a valid request but no/an unknown key, is a 401."""
    seen = []
    for result in schema.include(path_regex=r"^/v1/").get_all_operations():
        assert isinstance(result, Ok), result  # the schema is valid
        operation = result.ok()
        seen.append(operation.label)
        params = {
            name: AGENT_IDS[0] if name == "agent_id" else CLIENT_IDS[0]
            for name in _path_parameter_names(operation.path)
        }
        query = {"without": ["escalations"]} if "what-if" in operation.path else None
        for headers in BAD_KEYS:
            case = operation.Case(path_parameters=params, query=query, headers=headers)
            response = case.call()
            assert response.status_code == 401, (operation.label, headers, response.text)
            assert response.headers.get("www-authenticate") == ["Bearer"], operation.label
            case.validate_response(response, checks=CHECKS)  # 401 is documented, body too
    assert {"GET /v1/agents", "GET /v1/ops/live"} <= set(seen)


def _path_parameter_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
