"""One message at a time to a topic, each waited for: what the API publishes (alert
state changes, rule changes) must be on the broker before the request answers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.kafka_client import as_config

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")


class PublishError(RuntimeError):
    """The broker did not take a message in time, or refused it."""


class SyncPublisher:
    """Sends one message and waits for its own delivery report (at most ``timeout_s``).

    Called from the API's worker threads: the producer (opened on first use, never at
    construction) is thread-safe, and another thread's ``poll`` may serve our report.
    """

    def __init__(
        self, bootstrap: str | Mapping[str, Any], topic: str, what: str, timeout_s: float = 5.0
    ) -> None:
        self.topic = topic
        self._what = what  # "state change", "rule change": for errors and logs
        self._timeout_s = timeout_s
        self._config: dict[str, Any] = {
            **as_config(bootstrap),  # a bootstrap address or schemas.kafka_client's config
            "linger.ms": 0,
            "enable.idempotence": True,
            "message.timeout.ms": int(timeout_s * 1000),
            "logger": kafka_log,
        }
        self._lock = threading.Lock()
        self._producer: Producer | None = None

    def _get(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            return self._producer

    def send(
        self,
        key: bytes,
        value: bytes,
        headers: Sequence[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        producer = self._get()
        done = threading.Event()
        failure: list[str] = []

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failure.append(str(err))
            done.set()

        producer.produce(
            self.topic, value, key, headers=list(headers) if headers else None, on_delivery=report
        )
        deadline = time.monotonic() + self._timeout_s + 1.0
        while not done.is_set() and time.monotonic() < deadline:
            producer.poll(0.05)
        if not done.is_set():
            raise PublishError(f"no delivery report from {self.topic} in {self._timeout_s}s")
        if failure:
            raise PublishError(f"{self.topic} refused the {self._what}: {failure[0]}")

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            remaining = producer.flush(self._timeout_s)
            if remaining:
                log.warning("%d %s(s) not delivered at shutdown", remaining, self._what)
