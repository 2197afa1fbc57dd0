"""Topic definitions and idempotent creation."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from schemas.settings import Settings


def topic_specs(settings: Settings) -> dict[str, int]:
    """Topic -> partitions. Events are keyed by tenant/entity, so per-entity order holds."""
    return {
        settings.events_topic: settings.topic_partitions,
        settings.dlq_topic: 1,
        settings.alerts_topic: 1,
    }


def ensure_topics(
    settings: Settings, log: Callable[[str], None] = print, timeout_s: float = 30.0
) -> list[str]:
    """Create missing topics; existing ones are left alone. Returns those created."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(name, num_partitions=parts, replication_factor=-1)
        for name, parts in topic_specs(settings).items()
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, fut in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            fut.result()
            created.append(name)
            log(f"created topic {name}")
        except KafkaException as exc:
            if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:
                raise
    return created
