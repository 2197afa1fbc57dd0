"""Request limits (issue #14): request body size, and open alert streams per tenant.

:class:`BodySizeLimit` is pure ASGI and sits outside the app, so an oversized body is
refused before any route, authentication or parsing runs: a declared ``Content-Length``
over the limit is answered 413 without reading a byte, and the bytes actually received
are counted as they stream in, so a missing (chunked) or lying length is caught after at
most one chunk past the limit. Nothing is buffered here.

:class:`StreamSlots` counts each tenant's open alert streams: past the cap a new stream
is refused (429), and a slot is given back when its stream ends, however it ends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLargeError(Exception):
    """The request body grew past the limit while the app was reading it."""


def _declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` header (-1: present but not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else -1
    return None


class BodySizeLimit:
    """Answers 413 to requests whose body exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body too large: at most {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and (declared < 0 or declared > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLargeError
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app answers to the failed read, it is a 413
                if not started:
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLargeError:
            if not started:
                await self._refuse(send)


@dataclass
class StreamSlot:
    """One open stream's place; ``release`` gives it back (once, however often called)."""

    _release: Callable[[], None]
    _done: bool = field(default=False)

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._release()


class StreamSlots:
    """At most ``per_tenant`` open streams per tenant (thread-safe)."""

    def __init__(self, per_tenant: int) -> None:
        self.per_tenant = per_tenant
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, tenant: str) -> StreamSlot | None:
        """A slot for a new stream of ``tenant``; None when it has ``per_tenant`` open."""
        with self._lock:
            n = self._open.get(tenant, 0)
            if n >= self.per_tenant:
                return None
            self._open[tenant] = n + 1
        return StreamSlot(partial(self._release, tenant))

    def _release(self, tenant: str) -> None:
        with self._lock:
            n = self._open.get(tenant, 0) - 1
            if n > 0:
                self._open[tenant] = n
            else:
                self._open.pop(tenant, None)

    def open(self, tenant: str) -> int:
        """How many streams ``tenant`` has open."""
        with self._lock:
            return self._open.get(tenant, 0)
