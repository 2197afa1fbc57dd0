"""Changes of the API's threshold rules on the compacted rules topic (issue #12).

The flows never read ClickHouse, so ``POST``/``DELETE /v1/rules`` store a change and
publish it here (key ``<tenant>/<rule_id>``, value :class:`RuleChange` as JSON); the
live-ops flow reads the topic from its start. Compaction keeps the latest change of
every rule, so the topic stays as small as the rule set.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from confluent_kafka import Producer

from schemas.alert_rules import RuleChange
from schemas.settings import Settings
from sinks.alert_states import PublishError

log = logging.getLogger(__name__)
kafka_log = logging.getLogger(f"{__name__}.kafka")


def encode_rule_change(change: RuleChange) -> tuple[bytes, bytes]:
    return f"{change.tenant_id}/{change.rule_id}".encode(), change.model_dump_json().encode()


def decode_rule_change(value: bytes | None) -> RuleChange | None:
    """A message of the rules topic (None: not a valid change, logged and skipped)."""
    if value is None:
        return None
    try:
        return RuleChange.model_validate_json(value)
    except ValueError:
        log.warning("skipping an invalid message of the rules topic")
        return None


class RuleChangePublisher(Protocol):
    def publish(self, change: RuleChange) -> None:
        """Sends ``change`` and waits until the broker has it; ``PublishError`` if not."""


class KafkaRuleChanges:
    """Publishes rule changes; the producer opens on first use (thread-safe)."""

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
    def from_settings(cls, settings: Settings) -> KafkaRuleChanges:
        return cls(settings.kafka_bootstrap, settings.rules_topic)

    def publish(self, change: RuleChange) -> None:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(self._config)
            producer = self._producer
        key, value = encode_rule_change(change)
        failure: list[str] = []
        producer.produce(
            self.topic,
            value,
            key,
            on_delivery=lambda err, _m: failure.append(str(err)) if err is not None else None,
        )
        if producer.flush(self._timeout_s + 1.0):
            raise PublishError(f"no delivery report from {self.topic} in {self._timeout_s}s")
        if failure:
            raise PublishError(f"{self.topic} refused the rule change: {failure[0]}")

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None and producer.flush(self._timeout_s):
            log.warning("rule change(s) not delivered at shutdown")
