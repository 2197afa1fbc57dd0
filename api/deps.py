"""Request dependencies: the caller (tenant, key id, scopes: from its API key), reader,
settings, model.

Routes state what their caller may do: ``TenantDep`` (the tenant of a key with the
``read`` scope; GET routes), ``WriteTenantDep`` (``write``: state-changing routes), or
``Depends(require_scope("admin"))`` / ``AdminCaller`` for the caller itself.

The app keeps its collaborators on ``app.state`` (set by ``create_app``); these
dependencies hand them to the routes, so tests can build an app with their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from api.auth_throttle import FailedAuthThrottle, retry_after_header
from schemas.api_keys import ApiKey, Scope
from schemas.risk import RiskModel
from schemas.settings import Settings
from sinks.alert_states import AlertStatePublisher
from sinks.reader import ResultsReader

KafkaCheck = Callable[[], None]
StoreLagCheck = Callable[[], dict[str, int]]  # result topic -> messages not yet stored

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="Per-tenant API key: `Authorization: Bearer <key>`",
)


def app_state(name: str) -> Callable[[Request], Any]:
    """A dependency giving ``request.app.state.<name>``, which ``create_app`` sets (so a
    test's app can hold other objects: a fixed clock, a stub Kafka check, ...)."""

    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"get_{name}"
    return get


Clock = Callable[[], datetime]
REQUEST_TIME_STATE = "received_at"  # request.state.<this>: the request's one instant


def request_clock(request: Request) -> Clock:
    """The request's one instant, as a clock: the app's clock (``app.state.now``) is read
    on first use and then kept on ``request.state``, where the audit middleware takes it
    too. What a route records (an ack's time, a verdict's ``decided_at``, a receipt's
    ``requested_at``) is then exactly the ``at`` of the call's audit row."""
    at = getattr(request.state, REQUEST_TIME_STATE, None)
    if not isinstance(at, datetime):
        at = request.app.state.now()
        setattr(request.state, REQUEST_TIME_STATE, at)
    instant: datetime = at

    def now() -> datetime:
        return instant

    return now


SettingsDep = Annotated[Settings, Depends(app_state("settings"))]
ReaderDep = Annotated[ResultsReader, Depends(app_state("reader"))]
RiskModelDep = Annotated[RiskModel, Depends(app_state("risk_model"))]
KafkaCheckDep = Annotated[KafkaCheck, Depends(app_state("kafka_check"))]
StoreLagDep = Annotated[StoreLagCheck, Depends(app_state("store_lag"))]
NowDep = Annotated[Clock, Depends(request_clock)]  # the wall clock, once per request
# announces alert state changes on the alerts topic (every replica streams them)
AlertStatesDep = Annotated[AlertStatePublisher, Depends(app_state("alert_states"))]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True)
class Caller:
    """Who is calling: the tenant its key acts for, the key's non-secret id and scopes."""

    tenant: str
    key_id: str
    scopes: frozenset[Scope]


CALLER_STATE = "caller"  # request.state.<this>: the authenticated caller (for the audit)


def client_address(request: Request) -> str:
    """The peer address as the server saw it (behind a proxy: run uvicorn with
    ``--proxy-headers`` and ``--forwarded-allow-ips`` so this is the client's)."""
    return request.client.host if request.client is not None else ""


def _match(settings: Settings, presented: bytes) -> ApiKey | None:
    found: ApiKey | None = None
    for entry in settings.api_key_list:  # compare every key, in constant time
        if hmac.compare_digest(entry.key.encode(), presented):
            found = entry
    return found


def _authenticate(
    request: Request, settings: Settings, credentials: HTTPAuthorizationCredentials | None
) -> Caller:
    """The caller of ``request``: 401 when the key is missing; 429 while the address is
    throttled for failed keys; 401 when the key is unknown (which counts as a failure)."""
    if credentials is None or not credentials.credentials:  # no guess: never throttled
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    throttle: FailedAuthThrottle = request.app.state.auth_throttle
    address = client_address(request)
    wait = throttle.retry_after(address)
    if wait > 0:  # before the key is compared: a right guess learns nothing either
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="too many failed authentications from this address; retry later",
            headers={"Retry-After": retry_after_header(wait)},
        )
    entry = _match(settings, credentials.credentials.encode())
    if entry is None:
        throttle.failed(address)
        raise _unauthorized("unknown API key")
    caller = Caller(entry.tenant, entry.key_id, entry.scopes)
    setattr(request.state, CALLER_STATE, caller)
    return caller


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_caller(request: Request, settings: SettingsDep, credentials: Credentials) -> Caller:
    """The authenticated caller, whatever its scopes (401/429 as :func:`_authenticate`)."""
    return _authenticate(request, settings, credentials)


def optional_caller(request: Request, settings: SettingsDep) -> Caller | None:
    """The caller if the request carries a valid key, else None (never 401): for routes
    open to anyone that show more to a tenant (``/readyz``). Read from the header itself,
    so the route documents no required security. A wrong key still counts as a failed
    authentication, so such a route is no way around the throttle."""
    scheme, key = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not key:
        return None
    try:
        return _authenticate(
            request, settings, HTTPAuthorizationCredentials(scheme=scheme, credentials=key)
        )
    except HTTPException:
        return None


def require_scope(scope: Scope) -> Callable[..., Caller]:
    """A dependency giving the caller if its key has ``scope``: 401 without a valid key,
    403 when the key lacks the scope. Use as ``Depends(require_scope("admin"))``."""

    def caller_with_scope(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if scope not in caller.scopes:
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"this API key lacks the '{scope}' scope "
                f"(it has: {', '.join(sorted(caller.scopes)) or 'none'})",
            )
        return caller

    caller_with_scope.__name__ = f"caller_with_{scope}_scope"
    return caller_with_scope


ReadCaller = Annotated[Caller, Depends(require_scope("read"))]
WriteCaller = Annotated[Caller, Depends(require_scope("write"))]
AdminCaller = Annotated[Caller, Depends(require_scope("admin"))]


def _read_tenant(caller: ReadCaller) -> str:
    return caller.tenant


def _write_tenant(caller: WriteCaller) -> str:
    return caller.tenant


# The tenant of a caller whose key may read (GET routes) / write (state-changing routes).
TenantDep = Annotated[str, Depends(_read_tenant)]
WriteTenantDep = Annotated[str, Depends(_write_tenant)]

# The page size every list endpoint takes (newest or biggest first, as each one says).
Limit = Annotated[int, Query(ge=1, le=1000, description="Most items returned")]
