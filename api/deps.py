"""Request dependencies: the caller's tenant (from its API key), reader, settings, model.

The app keeps its collaborators on ``app.state`` (set by ``create_app``); these
dependencies hand them to the routes, so tests can build an app with their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.risk import RiskModel
from schemas.settings import Settings
from sinks.reader import ResultsReader

KafkaCheck = Callable[[], None]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="Per-tenant API key: `Authorization: Bearer <key>`",
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_reader(request: Request) -> ResultsReader:
    reader: ResultsReader = request.app.state.reader
    return reader


def get_risk_model(request: Request) -> RiskModel:
    model: RiskModel = request.app.state.risk_model
    return model


Clock = Callable[[], datetime]


def get_now(request: Request) -> Clock:
    """The wall clock (injected so tests can fix it)."""
    clock: Clock = request.app.state.now
    return clock


def get_kafka_check(request: Request) -> KafkaCheck:
    check: KafkaCheck = request.app.state.kafka_check
    return check


SettingsDep = Annotated[Settings, Depends(get_settings)]
ReaderDep = Annotated[ResultsReader, Depends(get_reader)]
RiskModelDep = Annotated[RiskModel, Depends(get_risk_model)]
KafkaCheckDep = Annotated[KafkaCheck, Depends(get_kafka_check)]
NowDep = Annotated[Clock, Depends(get_now)]


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
