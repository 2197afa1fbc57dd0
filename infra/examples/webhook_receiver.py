"""A minimal cxpulse webhook receiver: standard library plus ``sinks/webhooks/verify.py``.

Copy both files to your service (verify.py imports nothing of cxpulse), then::

    CXPULSE_WEBHOOK_SECRETS=whsec_new,whsec_old python webhook_receiver.py 8080

It answers 401 to a bad or stale signature (older than 5 minutes: a replay), 200 to a
delivery already seen (``X-Cxpulse-Delivery``: retries resend the same one) and 204
after handling a new one. During a secret rotation, list both secrets.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:  # in the cxpulse repository
    from sinks.webhooks.verify import DEFAULT_TOLERANCE_S, verify_signature
except ImportError:  # copied next to this file
    from verify import DEFAULT_TOLERANCE_S, verify_signature  # type: ignore[no-redef,import-not-found]

MAX_BODY = 1 << 20


class Receiver(ThreadingHTTPServer):
    """Verifies, deduplicates, then hands each alert to :meth:`handle_alert`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], secrets: list[str]) -> None:
        super().__init__(address, _Handler)
        self.secrets = secrets
        self.alerts: list[dict[str, object]] = []
        self._seen: dict[str, float] = {}  # delivery id -> when, kept for the tolerance
        self._lock = threading.Lock()

    def first_time(self, delivery_id: str) -> bool:
        now = time.time()
        with self._lock:
            for d, at in list(self._seen.items()):
                if now - at > 2 * DEFAULT_TOLERANCE_S:
                    del self._seen[d]
            if delivery_id in self._seen:
                return False
            self._seen[delivery_id] = now
            return True

    def handle_alert(self, alert: dict[str, object]) -> None:
        """Your code: page someone, open a ticket..."""
        self.alerts.append(alert)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413)
            return
        body = self.rfile.read(length)  # the raw bytes: verify before parsing
        signature = self.headers.get("X-Cxpulse-Signature", "")
        if not verify_signature(self.server.secrets, body, signature):
            self._answer(401)
            return
        if not self.server.first_time(self.headers.get("X-Cxpulse-Delivery", "")):
            self._answer(200)
            return
        self.server.handle_alert(json.loads(body))
        self._answer(204)

    def _answer(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    secrets = [s for s in os.environ.get("CXPULSE_WEBHOOK_SECRETS", "").split(",") if s]
    if not secrets:
        sys.exit("set CXPULSE_WEBHOOK_SECRETS=<secret>[,<previous secret>]")
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    Receiver(("0.0.0.0", port), secrets).serve_forever()  # noqa: S104 - a receiver listens


if __name__ == "__main__":
    main()
