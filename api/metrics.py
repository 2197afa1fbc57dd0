"""Prometheus metrics over HTTP: ``GET /metrics`` and per-route API latency.

``install(app)`` adds both to an app from ``create_app``:

- ``GET /metrics``: the process-wide registry (``cxpulse_*``, see ``schemas/metrics.py``)
  in the Prometheus text format 0.0.4 (what prometheus_client's own server sends when
  the scraper does not negotiate; every Prometheus version reads it). No API key: it
  carries no tenant data, only counts, and scrapers do not hold tenant keys. Kept out
  of the OpenAPI document, which describes the JSON ``/v1`` API.
- ``cxpulse_api_request_seconds{method, route, status}``: time until the response
  starts (for a streamed response such as the alert stream: until its headers, not
  the life of the connection). ``route`` is the route's template
  (``/v1/agents/{agent_id}/performance``), never the raw path, so the label set stays
  bounded; requests no route matched are labelled ``<unmatched>``. Scrapes of
  ``/metrics`` itself are not observed.

In ``cxpulse up`` flows and API share one process, so this endpoint also serves the
flows' metrics; ``cxpulse run --metrics-port`` serves them for a flows-only process.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.metrics import API_REQUEST_SECONDS

METRICS_PATH = "/metrics"
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The matched route's path template, once routing has run; ``<unmatched>`` if none."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestTimer:
    """Pure ASGI middleware (no buffering, so streamed responses pass straight through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        observed = False

        def observe(status: int) -> None:
            nonlocal observed
            observed = True
            API_REQUEST_SECONDS.labels(
                scope.get("method", ""), route_template(scope), str(status)
            ).observe(time.perf_counter() - started)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not observed:
                observe(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not observed:  # failed before any response (the server answers 500)
                observe(500)


def install(app: FastAPI) -> None:
    """Add the latency middleware and ``GET /metrics`` to ``app`` (before it starts)."""
    app.add_middleware(RequestTimer)

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics() -> Response:
        """Prometheus text exposition of every ``cxpulse_*`` metric of this process."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_PLAIN_0_0_4)
