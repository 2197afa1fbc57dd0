"""Alert state changes on the alerts topic: their encoding, and the API's publisher.

The alerts topic carries two kinds of messages, told apart by the ``cxpulse.type``
header: none (or ``alert``) for an alert (``sinks.kafka_sink.encode_alert``),
``alert_state`` for a state change (:class:`~schemas.alert_lifecycle.AlertStateChange`
as JSON, key ``<tenant>/<alert_id>``). Sharing the topic keeps alerts and their state
changes in one ordered log, so a stream client resuming with ``Last-Event-ID`` gets both
exactly; every consumer of the topic that wants alerts only skips the other type
(:func:`is_alert`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from schemas.alert_lifecycle import ALERT_STATE_TYPE, MESSAGE_TYPE_HEADER, AlertStateChange
from schemas.settings import Settings

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")

# what confluent_kafka's Message.headers() gives (a dict when a producer passed one)
Headers = Mapping[str, str | bytes | None] | Sequence[tuple[str, str | bytes | None]] | None
Encoded = tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]  # key, value, headers


def message_type(headers: Headers) -> str:
    """The ``cxpulse.type`` of a message of the alerts topic (``alert`` without one)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        if name == MESSAGE_TYPE_HEADER and value is not None:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return "alert"


def is_alert(headers: Headers) -> bool:
    """Whether a message of the alerts topic is an alert (not a state change or another
    type a newer producer added)."""
    return message_type(headers) == "alert"


def encode_alert_state(change: AlertStateChange) -> Encoded:
    return (
        f"{change.tenant_id}/{change.alert_id}".encode(),
        change.model_dump_json().encode(),
        [
            (MESSAGE_TYPE_HEADER, ALERT_STATE_TYPE.encode()),
            ("cxpulse.alert_id", str(change.alert_id).encode()),
        ],
    )


class PublishError(RuntimeError):
    """The broker did not take a state change in time."""


class AlertStatePublisher(Protocol):
    def publish(self, change: AlertStateChange) -> None:
        """Sends ``change`` and waits until the broker has it; ``PublishError`` if not."""


class KafkaAlertStates:
    """Publishes state changes to the alerts topic; the producer opens on first use.

    ``publish`` is called from the API's worker threads: the producer is thread-safe,
    and each call waits for its own message's delivery report (at most ``timeout_s``).
    """

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 5.0) -> None:
        self.topic = topic
        self._timeout_s = timeout_s
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "linger.ms": 0,
            "enable.idempotence": True,
            "message.timeout.ms": int(timeout_s * 1000),
            "logger": kafka_log,
        }
        self._lock = threading.Lock()
        self._producer: Producer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaAlertStates:
        return cls(settings.kafka_bootstrap, settings.alerts_topic)

    def _get(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            return self._producer

    def publish(self, change: AlertStateChange) -> None:
        producer = self._get()
        key, value, headers = encode_alert_state(change)
        done = threading.Event()
        failure: list[str] = []

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failure.append(str(err))
            done.set()

        producer.produce(self.topic, value, key, headers=headers, on_delivery=report)
        # Delivery reports are served by poll(); another thread's poll may serve ours.
        deadline = time.monotonic() + self._timeout_s + 1.0
        while not done.is_set() and time.monotonic() < deadline:
            producer.poll(0.05)
        if not done.is_set():
            raise PublishError(f"no delivery report from {self.topic} in {self._timeout_s}s")
        if failure:
            raise PublishError(f"{self.topic} refused the state change: {failure[0]}")

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            remaining = producer.flush(self._timeout_s)
            if remaining:
                log.warning("%d alert state change(s) not delivered at shutdown", remaining)
