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

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from schemas.alert_lifecycle import ALERT_STATE_TYPE, MESSAGE_TYPE_HEADER, AlertStateChange
from schemas.kafka_client import client_config
from schemas.settings import Settings
from sinks.publisher import SyncPublisher

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


class AlertStatePublisher(Protocol):
    def publish(self, change: AlertStateChange) -> None:
        """Sends ``change`` and waits until the broker has it; ``PublishError`` if not."""


class KafkaAlertStates(SyncPublisher):
    """Publishes state changes to the alerts topic (see :class:`SyncPublisher`)."""

    def __init__(
        self, bootstrap: str | Mapping[str, Any], topic: str, timeout_s: float = 5.0
    ) -> None:
        super().__init__(bootstrap, topic, "state change", timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaAlertStates:
        return cls(client_config(settings), settings.alerts_topic)

    def publish(self, change: AlertStateChange) -> None:
        self.send(*encode_alert_state(change))
