"""A small synchronous-on-flush Kafka producer for the CLI tools (emit, simulate).

Idempotent producer, so a retried send never duplicates; ``flush`` raises if any
message was not delivered, so a tool never reports success for lost data.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.kafka_client import as_config
from schemas.settings import Settings
from schemas.tenant_topics import tenant_topic


def input_topic(settings: Settings, tenant: str) -> str:
    """Where a producer sends ``tenant``'s events: its own topic with
    ``CXPULSE_TENANT_TOPICS``, else the shared events topic."""
    if settings.tenant_topics:
        return tenant_topic(settings.events_topic, tenant)
    return settings.events_topic


class DeliveryError(RuntimeError):
    """Some messages were not acknowledged by the broker."""


class EventProducer:
    def __init__(self, bootstrap: str | Mapping[str, Any], topic: str, **config: Any) -> None:
        self._config = {
            **as_config(bootstrap),
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
            **config,
        }
        self._topic = topic
        self._producer: Producer | None = None
        self._failed: list[str] = []
        self.delivered = 0

    def __enter__(self) -> EventProducer:
        self._producer = Producer(self._config)
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.flush()
        elif self._producer is not None:
            self._producer.flush(10)

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self._failed.append(str(err))

    def send(self, key: bytes | None, value: bytes, topic: str | None = None) -> None:
        """Queue one message to ``topic`` (default: the producer's topic)."""
        assert self._producer is not None, "use EventProducer as a context manager"
        while True:
            try:
                self._producer.produce(
                    topic or self._topic, value, key, on_delivery=self._on_delivery
                )
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        assert self._producer is not None
        remaining = self._producer.flush(timeout_s)
        if remaining or self._failed:
            raise DeliveryError(
                f"{remaining} message(s) still queued and {len(self._failed)} failed "
                f"for topic {self._topic}: {self._failed[:3]}"
            )
