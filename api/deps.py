"""Request dependencies: the caller's tenant (from its API key), reader, settings, model.

The app keeps its collaborators on ``app.state`` (set by ``create_app``); these
dependencies hand them to the routes, so tests can build an app with their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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

SettingsDep = Annotated[Settings, Depends(app_state("settings"))]
ReaderDep = Annotated[ResultsReader, Depends(app_state("reader"))]
RiskModelDep = Annotated[RiskModel, Depends(app_state("risk_model"))]
KafkaCheckDep = Annotated[KafkaCheck, Depends(app_state("kafka_check"))]
StoreLagDep = Annotated[StoreLagCheck, Depends(app_state("store_lag"))]
NowDep = Annotated[Clock, Depends(app_state("now"))]  # the wall clock
# announces alert state changes on the alerts topic (every replica streams them)
AlertStatesDep = Annotated[AlertStatePublisher, Depends(app_state("alert_states"))]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_tenant(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The tenant owning the bearer key; 401 when the key is missing or unknown."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    presented = credentials.credentials.encode()
    tenant: str | None = None
    for key, owner in settings.tenant_keys.items():  # compare every key in constant time
        if hmac.compare_digest(key.encode(), presented):
            tenant = owner
    if tenant is None:
        raise _unauthorized("unknown API key")
    return tenant


TenantDep = Annotated[str, Depends(get_tenant)]

# The page size every list endpoint takes (newest or biggest first, as each one says).
Limit = Annotated[int, Query(ge=1, le=1000, description="Most items returned")]
