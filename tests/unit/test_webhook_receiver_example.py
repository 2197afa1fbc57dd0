"""The example receiver accepts a signed delivery once, and refuses forgeries and replays."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from infra.examples.webhook_receiver import Receiver
from sinks.webhooks.signing import signature_header


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    server = Receiver(("127.0.0.1", 0), ["whsec_new", "whsec_old"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def post(url: str, body: bytes, signature: str, delivery: str = "d1") -> int:
    headers = {"X-Cxpulse-Signature": signature, "X-Cxpulse-Delivery": delivery}
    return httpx.post(url, content=body, headers=headers).status_code


def test_example_receiver(receiver: tuple[Receiver, str]) -> None:
    server, url = receiver
    body = b'{"alert_id": "a1"}'
    now = int(time.time())
    assert post(url, body, signature_header(["whsec_old"], now, body)) == 204
    assert post(url, body, signature_header(["whsec_old"], now, body)) == 200  # a retry
    assert post(url, body + b" ", signature_header(["whsec_new"], now, body), "d2") == 401
    assert post(url, body, signature_header(["whsec_new"], now - 600, body), "d3") == 401
    assert post(url, body, signature_header(["forged"], now, body), "d4") == 401
    assert server.alerts == [{"alert_id": "a1"}]
