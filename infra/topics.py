"""Topic definitions and idempotent creation."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from schemas.kafka_client import client_config
from schemas.retention import effective_retention
from schemas.settings import Settings
from sinks.result_rows import RESULT_MESSAGE_MAX_BYTES
from sinks.tables import RESULT_TABLES


def topic_specs(settings: Settings) -> dict[str, int]:
    """Topic -> partitions. Events are keyed by tenant/entity, so per-entity order holds;
    result rows by their table key, so each row's versions stay in order."""
    return {
        # tenant topics: each tenant's input is created with its principal (kafka add-tenant)
        **({} if settings.tenant_topics else {settings.events_topic: settings.topic_partitions}),
        settings.dlq_topic: 1,
        settings.alerts_topic: 1,
        settings.rules_topic: 1,  # compacted: the latest change of every API rule
        settings.erasures_topic: 1,  # compacted: the erasure ledger (issue #13)
        # routing recommendations for an auto-assigner, keyed tenant/ticket (issue #15)
        settings.routing_topic: settings.topic_partitions,
        **dict.fromkeys(result_topics(settings), settings.topic_partitions),
    }


def result_topics(settings: Settings) -> list[str]:
    """The result topic of every table the flows publish rows for."""
    return [settings.results_topic(spec.table) for spec in RESULT_TABLES]


def dlq_retention_ms(settings: Settings) -> int:
    """Dead letters carry raw bytes (personal data unredacted): the dead-letter topic keeps
    them no longer than the ``dead_letters`` table does."""
    return effective_retention(settings.retention_days)["dead_letters"] * 86_400_000


def topic_config(settings: Settings, topic: str) -> dict[str, str]:
    """Topic-level settings: result topics take messages as large as their producers';
    the dead-letter topic's retention follows the ``dead_letters`` table. The others keep
    the broker's retention (``log.retention.hours``; README "Privacy: Retention")."""
    if topic in result_topics(settings):
        return {"max.message.bytes": str(RESULT_MESSAGE_MAX_BYTES)}
    if topic in (settings.rules_topic, settings.erasures_topic):
        return {"cleanup.policy": "compact"}
    if topic == settings.dlq_topic:
        return {"retention.ms": str(dlq_retention_ms(settings))}
    return {}


def align_dlq_retention(
    admin: AdminClient, settings: Settings, log: Callable[[str], None], timeout_s: float
) -> bool:
    """Set an existing dead-letter topic's ``retention.ms`` to the configured one if it
    differs (a changed ``CXPULSE_RETENTION_DAYS``); returns whether it changed. A broker
    that refuses (no AlterConfigs right) is logged, not fatal: the topic keeps working."""
    topic = settings.dlq_topic
    wanted = str(dlq_retention_ms(settings))
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        (described,) = admin.describe_configs([resource], request_timeout=timeout_s).values()
        entry = described.result().get("retention.ms")
        if entry is not None and entry.value == wanted:
            return False
        change = ConfigResource(
            ResourceType.TOPIC,
            topic,
            incremental_configs=[
                ConfigEntry("retention.ms", wanted, incremental_operation=AlterConfigOpType.SET)
            ],
        )
        for fut in admin.incremental_alter_configs([change], request_timeout=timeout_s).values():
            fut.result()
    except KafkaException as exc:
        log(f"could not set retention.ms={wanted} on {topic}: {exc}")
        return False
    log(f"retention.ms of {topic} set to {wanted}")
    return True


def ensure_topics(
    settings: Settings,
    log: Callable[[str], None] = print,
    timeout_s: float = 30.0,
    *,
    results: bool = True,
) -> list[str]:
    """Create missing topics (``results=False``: not the result topics, for processes
    that only produce events or read alerts); existing ones are left alone, but for the
    dead-letter topic's retention (see :func:`align_dlq_retention`). Returns those
    created."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    if settings.dlq_topic in existing:
        align_dlq_retention(admin, settings, log, timeout_s)
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
