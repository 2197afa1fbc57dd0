"""Test helpers on the real broker: produce raw messages, read a topic to its end."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, Message, Producer, TopicPartition


def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]]) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    n = 0
    for key, value in messages:
        producer.produce(topic, value, key)
        n += 1
    assert producer.flush(30) == 0
    return n


def read_all(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[Message]:
    """Every message currently in ``topic`` (all partitions), in partition order."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex, "enable.auto.commit": False}
    )
    md = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
    out: list[Message] = []
    for p in sorted(md.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
        if high <= low:
            continue
        consumer.assign([TopicPartition(topic, p, low)])
        while len([m for m in out if m.partition() == p]) < high - low:
            msg = consumer.poll(timeout_s)
            assert msg is not None, f"timed out reading {topic}/{p}"
            if msg.error() is None:
                out.append(msg)
    consumer.close()
    return out
