"""The access audit of the API (issue #13): every state-changing call, as it ends.

:class:`AuditMiddleware` is pure ASGI and sits outside everything that can refuse a call
(the body limit, authentication, scopes, validation, the route itself), so a 413, 401,
403, 422 or 500 is recorded like a success. It records after the answer's status is
known, through an :class:`~sinks.audit_log.AuditLog` that only queues the row (no
database round trip on the request path). The caller comes from the authentication
dependency (``request.state.caller``); the route is the matched template and its path
parameters, never the raw path or the body. Each audited answer carries its
``X-Request-ID`` (the client's, if it sent a well-formed one).

The clock is read once per request (``api.deps.request_clock``): a route that records a
time (an ack, a verdict, an erasure request) and the call's row share that instant, so
they match exactly; a call that never reached such a route is timed as it is answered.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import CALLER_STATE, REQUEST_TIME_STATE, Caller
from api.metrics import route_template
from schemas import metrics
from schemas.audit import STATE_CHANGING_METHODS, AuditEntry
from sinks.audit_log import AuditLog

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_MAX_PARAM_CHARS = 256  # a path parameter as recorded (an id is far shorter)


def request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` if well-formed (letters, digits, ``._:-``, at most
    64), else a new UUID: a client cannot write arbitrary text into the audit."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode() and _REQUEST_ID.match(value):
            return str(value.decode())
    return str(uuid.uuid4())


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def entry_of(scope: Scope, status: int, rid: str, at: datetime) -> AuditEntry:
    """The audit row of a call that was answered ``status``."""
    caller: Any = scope.get("state", {}).get(CALLER_STATE)
    params = scope.get("path_params") or {}
    return AuditEntry.of(
        tenant_id=caller.tenant if isinstance(caller, Caller) else "",
        key_id=caller.key_id if isinstance(caller, Caller) else "",
        method=str(scope.get("method", "")),
        route=route_template(scope),
        path_params={str(k): str(v)[:_MAX_PARAM_CHARS] for k, v in params.items()},
        status=status,
        client=_client(scope),
        request_id=rid,
        at=at,
    )


class AuditMiddleware:
    """Records every POST/PUT/PATCH/DELETE in ``audit_log``; other methods pass through."""

    def __init__(self, app: ASGIApp, audit_log: AuditLog, now: Callable[[], datetime]) -> None:
        self.app = app
        self.audit_log = audit_log
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in STATE_CHANGING_METHODS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # request.state: caller and instant land here
        rid = request_id(scope)
        status = 500  # unless an answer starts: the server answers 500 to an exception

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                at = state.get(REQUEST_TIME_STATE)  # the route's instant, if it read one
                at = at if isinstance(at, datetime) else self.now()
                self.audit_log.record(entry_of(scope, status, rid, at))
            except Exception:  # the call's answer stands; the loss is loud
                metrics.AUDIT_UNRECORDED.inc()
                log.exception("could not record the audit row of a %s", scope.get("method"))
