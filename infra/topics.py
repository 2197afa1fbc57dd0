"""Topic definitions and idempotent creation."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from schemas.kafka_client import client_config
from schemas.settings import Settings
from sinks.result_rows import RESULT_MESSAGE_MAX_BYTES
from sinks.tables import RESULT_TABLES


def topic_specs(settings: Settings) -> dict[str, int]:
    """Topic -> partitions. Events are keyed by tenant/entity, so per-entity order holds;
    result rows by their table key, so each row's versions stay in order."""
    return {
        settings.events_topic: settings.topic_partitions,
        settings.dlq_topic: 1,
        settings.alerts_topic: 1,
        settings.rules_topic: 1,  # compacted: the latest change of every API rule
        **dict.fromkeys(result_topics(settings), settings.topic_partitions),
    }


def result_topics(settings: Settings) -> list[str]:
    """The result topic of every table the flows publish rows for."""
    return [settings.results_topic(spec.table) for spec in RESULT_TABLES]


def topic_config(settings: Settings, topic: str) -> dict[str, str]:
    """Topic-level settings: result topics take messages as large as their producers'."""
    if topic in result_topics(settings):
        return {"max.message.bytes": str(RESULT_MESSAGE_MAX_BYTES)}
    if topic == settings.rules_topic:
        return {"cleanup.policy": "compact"}
    return {}


def ensure_topics(
    settings: Settings,
    log: Callable[[str], None] = print,
    timeout_s: float = 30.0,
    *,
    results: bool = True,
) -> list[str]:
    """Create missing topics (``results=False``: not the result topics, for processes
    that only produce events or read alerts); existing ones are left alone. Returns
    those created."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(
            name,
            num_partitions=parts,
            replication_factor=-1,
            config=topic_config(settings, name),
        )
        for name, parts in topic_specs(settings).items()
        if name not in existing and (results or name not in result_topics(settings))
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
