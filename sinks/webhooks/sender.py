"""One webhook attempt on the wire: checked, pinned, bounded, and never reading the answer.

The URL goes through the :class:`~sinks.webhooks.guard.UrlGuard` again (an address
allowed at creation may not be any more), then the connection is made to the address
the guard checked, whatever DNS says by now, while ``Host`` and TLS (SNI and certificate
verification) use the URL's host name: DNS rebinding cannot redirect it. One deadline
covers connect, TLS, sending and the answer's status line and headers together (each
socket operation gets only what is left of it), so a receiver that trickles bytes
cannot hold a sender longer than ``deadline_s``. Redirects are not followed, and the
answer's body is never read: the attempt records the status code and a short reason
of our own wording, so an internal service's error page cannot reach the tenant.
"""

from __future__ import annotations

import base64
import http
import socket
import ssl
import time
import typing
from collections.abc import Iterable, Mapping

import httpcore
from httpcore import SOCKET_OPTION, NetworkBackend, NetworkStream, SyncBackend

from sinks.webhooks.deliveries import AttemptResult
from sinks.webhooks.guard import BlockedUrlError, Target, UrlGuard

USER_AGENT = "cxpulse-webhooks/2"


def _left(deadline: float, timeout: float | None) -> float:
    """What is left of the deadline for one socket operation (raises once it passed)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("attempt deadline passed")
    return left if timeout is None else min(left, timeout)


class _DeadlineStream(NetworkStream):
    """A network stream whose every operation ends by the attempt's deadline."""

    def __init__(self, inner: NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(self._deadline, timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(self._deadline, timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _left(self._deadline, timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(NetworkBackend):
    """Connects to the checked address, whatever host the request names."""

    def __init__(self, address: str, deadline: float) -> None:
        self._address = address
        self._deadline = deadline
        self._inner = SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> NetworkStream:
        stream = self._inner.connect_tcp(
            self._address, port, _left(self._deadline, timeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> NetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def status_reason(code: int) -> str:
    """``HTTP <code> <standard phrase>``: never the receiver's own reason phrase."""
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    reason = f"HTTP {code} {phrase}".strip()
    if 300 <= code < 400:
        reason += " (redirects are not followed)"
    return reason


def error_reason(exc: BaseException, deadline_s: float) -> str:
    """A short, fixed wording of why an attempt got no answer."""
    if isinstance(exc, httpcore.TimeoutException | socket.timeout | TimeoutError):
        return f"timeout: no answer within {deadline_s:g}s"
    if isinstance(exc, BlockedUrlError):
        return f"blocked: {exc}"
    cause = exc.__context__ or exc.__cause__
    if isinstance(exc, ssl.SSLError) or isinstance(cause, ssl.SSLError):
        return "TLS handshake or certificate verification failed"
    if isinstance(exc, httpcore.ConnectError):
        refused = isinstance(cause, ConnectionRefusedError) or "refused" in str(exc).lower()
        return "connection refused" if refused else "connection failed"
    if isinstance(exc, httpcore.RemoteProtocolError | httpcore.ReadError | httpcore.WriteError):
        return "connection closed or invalid HTTP answer"
    return "request failed"


class Sender:
    """Sends one webhook attempt (see the module doc); safe to share between threads.

    ``ssl_context`` defaults to the system's trust store with hostname verification.
    """

    def __init__(
        self, guard: UrlGuard, deadline_s: float, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        if deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        self._guard = guard
        self._deadline_s = deadline_s
        self._ssl_context = ssl_context or ssl.create_default_context()

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> AttemptResult:
        """POST ``body`` to ``url``; the status code (``None`` without one) and a reason."""
        started = time.monotonic()
        deadline = started + self._deadline_s
        code: int | None = None
        error = ""
        try:
            target = self._guard.check(url)
            code = self._post(target, body, headers, deadline)
            if not 200 <= code < 300:
                error = status_reason(code)
        except Exception as exc:
            error = error_reason(exc, self._deadline_s)
        duration_ms = (time.monotonic() - started) * 1000.0
        return AttemptResult(status_code=code, error=error, duration_ms=duration_ms)

    def _post(
        self, target: Target, body: bytes, headers: Mapping[str, str], deadline: float
    ) -> int:
        all_headers = {"User-Agent": USER_AGENT, **headers}
        if target.username or target.password:
            token = base64.b64encode(f"{target.username}:{target.password}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        pool = httpcore.ConnectionPool(
            ssl_context=self._ssl_context,
            max_connections=1,
            retries=0,
            network_backend=_PinnedBackend(str(target.address), deadline),
        )
        url = httpcore.URL(
            scheme=target.scheme, host=target.host, port=target.port, target=target.target
        )
        left = _left(deadline, None)
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        with (
            pool,
            pool.stream(
                "POST",
                url,
                headers=list(all_headers.items()),
                content=body,
                extensions={"timeout": timeouts},
            ) as response,
        ):
            return response.status  # the body is never read
