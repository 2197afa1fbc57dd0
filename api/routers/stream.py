"""``GET /v1/alerts/stream``: the tenant's alerts as they are raised (Server-Sent Events).

Wire format (``text/event-stream``), one block per alert::

    event: alert
    id: 0-1234
    data: {"alert_id": "...", "tenant_id": "acme", "kind": "coaching", ...}

``data`` is an ``AlertItem`` (the same JSON as ``GET /v1/alerts``). An alert's state
change (acknowledged, resolved: ``POST /v1/alerts/{id}/ack`` and ``/resolve``, on any API
replica) is a block of its own::

    event: alert_state
    id: 0-1240
    data: {"tenant_id": "acme", "alert_id": "...", "kind": "coaching", "severity": "high",
           "state": "acknowledged", "at": "...", "action": "acknowledge", "actor": "api",
           "note": null}

(``AlertStateEvent``; one line on the wire), for the alerts the stream's filters let
through. States only move forward, so a client keeps the furthest state it has seen
(open < acknowledged < resolved). ``id`` is ``<partition>-<offset>`` of the message on
the alerts topic. An idle stream gets a comment
line ``: ping`` every ``heartbeat_s`` (15 s by default) so proxies keep it open and
clients notice a dead connection. To resume, send the last id received as the
``Last-Event-ID`` header: the stream then starts with exactly the matching alerts after
that id (also across API restarts, as long as the topic keeps them), then goes live.

Authentication is the usual ``Authorization: Bearer <key>`` header. A browser's
``EventSource`` cannot send headers, so browser clients read the stream with
``fetch()`` (``response.body`` is a ``ReadableStream``) and parse the blocks themselves,
sending ``Authorization`` and, on reconnect, ``Last-Event-ID``.

``install(app, feed)`` adds the route and keeps the feed on ``app.state.alert_feed``;
the feed must also be one of the app's background services so it runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.alert_events import FeedEvent
from api.alert_feed import AlertFeed, FeedNotRunningError
from api.deps import TenantDep
from api.limits import StreamSlot, StreamSlots
from api.models import UNAUTHORIZED, ErrorOut
from schemas.results import AlertKind, AlertSeverity

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=UNAUTHORIZED)

RETRY_MS = 2000  # reconnection delay suggested to clients (SSE ``retry:`` field)
STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


def get_feed(request: Request) -> AlertFeed:
    feed: AlertFeed | None = getattr(request.app.state, "alert_feed", None)
    if feed is None or not feed.running:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the alert stream is not available right now; retry later",
            headers={"Retry-After": "5"},
        )
    return feed


def format_event(event: FeedEvent) -> str:
    return f"event: {event.type}\nid: {event.id}\ndata: {event.data}\n\n"


async def _sse(events: AsyncIterator[FeedEvent | None]) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    async for event in events:
        yield ": ping\n\n" if event is None else format_event(event)


@router.get(
    "/stream",
    summary="The tenant's alerts, live (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An endless `text/event-stream`: `event: alert`, `id: "
            "<partition>-<offset>`, `data: <AlertItem JSON>`; `event: alert_state`, `data: "
            "<AlertStateEvent JSON>` when an alert is acknowledged or resolved; `: ping` "
            "comments when idle",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        400: {"model": ErrorOut, "description": "Malformed or unknown `Last-Event-ID`"},
        429: {
            "model": ErrorOut,
            "description": "The tenant has the most open streams allowed "
            "(`CXPULSE_SSE_STREAMS_PER_TENANT`), or its address failed to authenticate too often",
        },
        503: {"model": ErrorOut, "description": "The alert feed is not connected to Kafka"},
    },
)
async def stream_alerts(
    request: Request,
    tenant: TenantDep,
    kind: Annotated[
        list[AlertKind] | None, Query(description="Only alerts of these kinds (repeatable)")
    ] = None,
    min_severity: Annotated[
        AlertSeverity | None, Query(description="Only alerts at least this severe")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this id: the matching alerts after it come first",
        ),
    ] = None,
) -> StreamingResponse:
    """Streams the caller's alerts as they are raised; see the module docs for the format.

    Browsers: ``EventSource`` cannot send the ``Authorization`` header, so read the stream
    with ``fetch()`` and a ``ReadableStream`` reader instead.
    """
    feed = get_feed(request)
    slots: StreamSlots = request.app.state.stream_slots
    slot = slots.acquire(tenant)
    if slot is None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"this tenant has {slots.per_tenant} alert streams open, the most allowed "
            "(CXPULSE_SSE_STREAMS_PER_TENANT); close one first",
            headers={"Retry-After": str(RETRY_MS // 1000)},
        )
    try:
        events = feed.subscribe(
            tenant,
            kinds=kind,
            min_severity=min_severity,
            last_event_id=last_event_id or None,
            heartbeat_s=feed.heartbeat_s,
        )
    except FeedNotRunningError as exc:
        slot.release()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from exc
    except ValueError as exc:
        slot.release()
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc

    async def body() -> AsyncIterator[str]:
        # aclosing: a disconnect (cancellation) or the end of the response also ends the
        # subscription at once, rather than whenever the generator is collected.
        try:
            async with aclosing(events) as subscription:
                async for chunk in _sse(subscription):
                    yield chunk
        finally:
            slot.release()

    return _SlotStream(slot, body(), media_type="text/event-stream", headers=STREAM_HEADERS)


class _SlotStream(StreamingResponse):
    """A stream that gives its slot back when the response ends, also when its body
    never started (the client left before the first byte)."""

    def __init__(self, slot: StreamSlot, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()


def install(app: FastAPI, feed: AlertFeed) -> None:
    """Serves ``GET /v1/alerts/stream`` from ``feed`` (which must also be passed to
    ``create_app(services=[...])`` so the app starts and stops it)."""
    app.state.alert_feed = feed
    app.include_router(router)
