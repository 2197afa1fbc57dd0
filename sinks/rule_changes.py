"""Changes of the API's threshold rules on the compacted rules topic (issue #12).

The flows never read ClickHouse, so ``POST``/``DELETE /v1/rules`` store a change and
publish it here (key ``<tenant>/<rule_id>``, value :class:`RuleChange` as JSON); the
live-ops flow reads the topic from its start. Compaction keeps the latest change of
every rule, so the topic stays as small as the rule set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from schemas.alert_rules import RuleChange
from schemas.kafka_client import client_config
from schemas.settings import Settings
from sinks.publisher import SyncPublisher

log = logging.getLogger(__name__)


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


class KafkaRuleChanges(SyncPublisher):
    """Publishes rule changes to the rules topic (see :class:`SyncPublisher`)."""

    def __init__(
        self, bootstrap: str | Mapping[str, Any], topic: str, timeout_s: float = 5.0
    ) -> None:
        super().__init__(bootstrap, topic, "rule change", timeout_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaRuleChanges:
        return cls(client_config(settings), settings.rules_topic)

    def publish(self, change: RuleChange) -> None:
        self.send(*encode_rule_change(change))
