"""The local broker launcher: start, idempotent re-start, real round trip, clean stop."""

from __future__ import annotations

import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from infra.kafka_local import LocalKafka, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("java") is None or shutil.which("mvn") is None,
        reason="the local Kafka needs java and mvn",
    ),
]


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_up_roundtrip_down(tmp_path: Path) -> None:
    port = free_port()
    cport = free_port()
    while cport == port:
        cport = free_port()
    kafka = LocalKafka(home=tmp_path / "kafka", port=port, controller_port=cport, heap="512m")
    try:
        bootstrap = kafka.up(timeout_s=60)
        assert bootstrap == f"127.0.0.1:{port}"
        first = kafka.status()
        assert first["running"] is True
        assert isinstance(first["pid"], int)

        t0 = time.monotonic()
        assert kafka.up() == bootstrap
        assert time.monotonic() - t0 < 2, "a running broker must be reused, not restarted"
        assert kafka.status()["pid"] == first["pid"]

        topic = f"t-{uuid.uuid4().hex[:8]}"
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(topic, key=b"k", value=b"hello")
        assert producer.flush(15) == 0

        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "g",
                "auto.offset.reset": "earliest",
            }
        )
        try:
            consumer.subscribe([topic])
            msg = None
            deadline = time.monotonic() + 20
            while msg is None and time.monotonic() < deadline:
                m = consumer.poll(0.5)
                if m is not None and m.error() is None:
                    msg = m
            assert msg is not None, "no message consumed"
            assert (msg.key(), msg.value()) == (b"k", b"hello")
        finally:
            consumer.close()
    finally:
        stopped = kafka.down()

    assert stopped is True
    assert kafka.status() == {
        "running": False,
        "pid": None,
        "bootstrap": f"127.0.0.1:{port}",
        "home": str(tmp_path / "kafka"),
        "secure": False,
    }
    assert _bindable(port)
    assert _bindable(cport)
    assert kafka.down() is False
