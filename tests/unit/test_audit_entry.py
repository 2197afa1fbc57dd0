"""The audit row: outcomes by status, CLI rows, and what a row never holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.audit import entry_of, request_id
from api.deps import CALLER_STATE, Caller
from schemas.audit import AuditEntry, outcome_of
from sinks.result_rows import RowCodec
from sinks.tables import AUDIT_LOG

AT = datetime(2026, 3, 2, 10, 4, 11, 512_345, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "success"),
        (201, "success"),
        (204, "success"),
        (307, "success"),
        (400, "rejected"),
        (401, "unauthenticated"),
        (403, "forbidden"),
        (404, "rejected"),
        (413, "too_large"),
        (422, "rejected"),
        (429, "throttled"),
        (500, "error"),
        (503, "error"),
    ],
)
def test_outcome_of_status(status: int, outcome: str) -> None:
    assert outcome_of(status) == outcome


def test_a_request_row_has_the_route_template_and_the_callers_key_id_only() -> None:
    class Route:
        path = "/v1/alerts/{alert_id}/ack"

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/alerts/a1/ack",
        "route": Route(),
        "path_params": {"alert_id": "a1" * 200},
        "client": ("192.0.2.1", 5555),
        "headers": [(b"authorization", b"Bearer the-secret-key")],
        "state": {CALLER_STATE: Caller("acme", "0123456789ab", frozenset({"write"}))},
    }
    row = entry_of(scope, 404, "rid-1", AT)
    assert (row.tenant_id, row.key_id, row.method, row.route) == (
        "acme",
        "0123456789ab",
        "POST",
        "/v1/alerts/{alert_id}/ack",
    )
    assert len(row.path_params["alert_id"]) == 256  # bounded, whatever the URL
    assert (row.status, row.outcome, row.client) == (404, "rejected", "192.0.2.1")
    assert row.at == AT.replace(microsecond=512_000)
    _, value, _ = RowCodec(AUDIT_LOG).encode(row)
    assert b"the-secret-key" not in value
    unmatched = entry_of({"method": "DELETE", "headers": []}, 401, "rid-2", AT)
    assert (unmatched.tenant_id, unmatched.key_id, unmatched.route) == ("", "", "<unmatched>")


@pytest.mark.parametrize(
    ("header", "kept"),
    [(b"abc-123.x:y_z", True), (b"a b", False), (b"x" * 65, False), (b"", False)],
)
def test_request_ids_are_kept_only_when_well_formed(header: bytes, kept: bool) -> None:
    rid = request_id({"headers": [(b"x-request-id", header)]})
    assert (rid == header.decode()) is kept
    assert len(rid) <= 64


def test_a_cli_command_row() -> None:
    row = AuditEntry.of_command("cxpulse erase", "acme", {"client_id": "C-1"}, ok=True, at=AT)
    assert (row.method, row.route, row.status, row.outcome, row.client) == (
        "CLI",
        "cxpulse erase",
        200,
        "success",
        "local",
    )
    assert AuditEntry.of_command("cxpulse erase", "acme", {}, ok=False, at=AT).outcome == "error"
