"""Liveness and readiness probes (no API key needed).

``/readyz`` shows why a check failed (error text, lag per result topic) only to a
caller with a valid API key; anyone else learns ``ok`` or ``failed`` per check, so an
unauthenticated probe reveals no host names, topic names or exception text (issue #14).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from api.deps import Caller, KafkaCheckDep, ReaderDep, SettingsDep, StoreLagDep, optional_caller
from api.models import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return Health()


def _run(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return "ok"


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="ClickHouse and Kafka are reachable, and results are being stored",
    responses={503: {"model": Readiness, "description": "A dependency is not reachable"}},
)
def readyz(
    response: Response,
    reader: ReaderDep,
    kafka_check: KafkaCheckDep,
    store_lag: StoreLagDep,
    settings: SettingsDep,
    caller: Annotated[Caller | None, Depends(optional_caller)],
) -> Readiness:
    """200 when ClickHouse answers ``SELECT 1``, Kafka lists its topics and the storage
    writer is at most ``CXPULSE_STORE_MAX_LAG`` messages behind (0: no limit); else 503
    with the failing check's error in ``checks``. ``store_lag`` is per result topic.

    Without a valid API key (``Authorization: Bearer <key>``) a failed check reads
    ``failed`` and ``store_lag`` is empty: the details are for the operator."""
    checks = {"clickhouse": _run(reader.ping), "kafka": _run(kafka_check)}
    lag: dict[str, int] = {}

    def storage() -> None:
        lag.update(store_lag())
        behind = sum(lag.values())
        if settings.store_max_lag and behind > settings.store_max_lag:
            raise RuntimeError(
                f"the storage writer is {behind} messages behind "
                f"(limit CXPULSE_STORE_MAX_LAG={settings.store_max_lag})"
            )

    checks["storage_writer"] = _run(storage)
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    if caller is None:
        checks = {name: "ok" if v == "ok" else "failed" for name, v in checks.items()}
        lag = {}
    return Readiness(status="ready" if ready else "not_ready", checks=checks, store_lag=lag)
