"""Authenticated producers and a tenant-bound input (issue #14) on a real SASL/SCRAM
broker with ACLs: one secure broker for the module, started on free ports.

The attacks: a tenant's producer writing another tenant's input, the alerts topic (a
fake alert), the DLQ or a result topic; reading the alerts topic; a client without
credentials or with a wrong password; a tenant's producer claiming another tenant's
``tenant_id`` inside its own topic.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from flows.ingest.tenant_source import TenantTopicsSource
from infra.cluster import run_and_store
from infra.kafka_local import LocalKafka, free_port
from infra.kafka_security import add_tenant, sasl_config, tenant_principal
from infra.producer import DeliveryError, EventProducer, input_topic
from infra.topics import ensure_topics
from schemas.kafka_client import client_config
from schemas.settings import Settings
from schemas.transport import RawMessage
from sinks.clickhouse_client import open_client
from tests.unit.helpers import envelope, to_bytes

pytestmark = pytest.mark.integration
AUTH_FAILED = KafkaError.TOPIC_AUTHORIZATION_FAILED


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    kafka = LocalKafka(
        home=tmp_path_factory.mktemp("secure-kafka"),
        port=free_port(),
        controller_port=free_port(),
        heap="384m",
        secure=True,
    )
    kafka.ensure_jars()
    kafka.up(timeout_s=120)
    try:
        yield kafka
    finally:
        kafka.down()


@pytest.fixture
def secure(broker: LocalKafka, chdb_path: Path, tmp_path: Path) -> Settings:
    """The pipeline principal's settings, tenant topics on, tenants acme and globex."""
    env = broker.pipeline_env()
    s = Settings(
        kafka_bootstrap=env["CXPULSE_KAFKA_BOOTSTRAP"],
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=env["CXPULSE_KAFKA_SASL_USERNAME"],
        kafka_sasl_password=env["CXPULSE_KAFKA_SASL_PASSWORD"],
        tenant_topics=True,
        topic_prefix=f"s{uuid.uuid4().hex[:8]}.",
        topic_partitions=1,
        data_dir=tmp_path / "data",
        clickhouse_dsn=f"chdb://{chdb_path}",
        snapshot_interval_s=0.5,
        shards=4,
        max_past_s=0,
    )
    broker.grant_pipeline(s)
    admin = AdminClient(broker.admin_config())
    for tenant in ("acme", "globex"):
        add_tenant(admin, s, tenant, f"pw-{tenant}")
    return s


def _tenant(broker: LocalKafka, tenant: str, password: str | None = None) -> dict[str, Any]:
    return sasl_config(broker.bootstrap, tenant_principal(tenant), password or f"pw-{tenant}")


def _event(tenant: str, n: int = 0) -> bytes:
    return to_bytes(envelope("ticket.reopened", {"ticket_id": f"T{n}"}, tenant=tenant))


def _produce_error(config: dict[str, Any], topic: str, timeout_ms: int = 8000) -> KafkaError | None:
    """The delivery error of one message (None: delivered)."""
    errors: list[KafkaError | None] = []
    producer = Producer({**config, "message.timeout.ms": timeout_ms})
    producer.produce(topic, b"{}", on_delivery=lambda err, _m: errors.append(err))
    producer.flush(15)
    assert len(errors) == 1
    return errors[0]


def test_a_tenant_writes_its_own_topic_and_nothing_else(
    broker: LocalKafka, secure: Settings
) -> None:
    acme = _tenant(broker, "acme")
    own = input_topic(secure, "acme")
    assert own == f"{secure.events_topic}.acme"
    with EventProducer(acme, own) as producer:  # what `cxpulse emit` does, idempotent
        producer.send(b"acme/T0", _event("acme"))
    assert producer.delivered == 1
    forbidden = [
        input_topic(secure, "globex"),
        secure.alerts_topic,  # a fake alert
        secure.dlq_topic,
        secure.results_topic("events"),
        secure.results_topic("alerts"),
        secure.rules_topic,
    ]
    for topic in forbidden:
        err = _produce_error(acme, topic)
        assert err is not None, topic
        assert err.code() == AUTH_FAILED, (topic, err)
    refused = EventProducer(acme, secure.alerts_topic)  # what `cxpulse emit` reports
    with pytest.raises(DeliveryError, match="TOPIC_AUTHORIZATION_FAILED"), refused as producer:
        producer.send(None, b"{}")


def test_a_tenant_cannot_read_the_alerts_of_all_tenants(
    broker: LocalKafka, secure: Settings
) -> None:
    consumer = Consumer({**_tenant(broker, "globex"), "group.id": "sneak"})
    consumer.assign([TopicPartition(secure.alerts_topic, 0, 0)])
    try:
        deadline = time.monotonic() + 10
        codes = set()
        while time.monotonic() < deadline and not codes:
            m = consumer.poll(0.5)
            if m is not None and m.error() is not None:
                codes.add(m.error().code())
        assert codes & {AUTH_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}, codes
    finally:
        consumer.close()


@pytest.mark.parametrize("who", ["anonymous", "wrong password"])
def test_an_unauthenticated_client_is_refused(
    broker: LocalKafka, secure: Settings, who: str
) -> None:
    config: dict[str, Any] = (
        {"bootstrap.servers": broker.bootstrap}
        if who == "anonymous"
        else _tenant(broker, "acme", password="guess")
    )
    with pytest.raises(KafkaException):
        AdminClient(config).list_topics(timeout=2)
    assert _produce_error(config, input_topic(secure, "acme"), timeout_ms=2000) is not None


def test_the_pipeline_runs_on_the_secure_broker_and_binds_events_to_their_topic(
    broker: LocalKafka, secure: Settings, database: str
) -> None:
    secure = secure.model_copy(update={"clickhouse_database": database})
    with EventProducer(_tenant(broker, "acme"), input_topic(secure, "acme")) as acme:
        acme.send(b"acme/T1", _event("acme", 1))
        acme.send(b"globex/T2", _event("globex", 2))  # acme speaking for globex
    with EventProducer(_tenant(broker, "globex"), input_topic(secure, "globex")) as globex:
        globex.send(b"globex/T3", _event("globex", 3))
    ensure_topics(secure, log=lambda _m: None)  # as the pipeline: it may create topics
    _wait_for_leaders(secure)
    run_and_store(secure, frozenset({"ingest"}))

    client = open_client(secure.dsn, secure.clickhouse_database)
    stored = client.query("SELECT tenant_id, payload FROM events FINAL ORDER BY tenant_id")
    assert [(t, '"T2"' in p) for t, p in stored.result_rows] == [
        ("acme", False),
        ("globex", False),
    ]
    letters = client.query("SELECT reason, topic, error FROM dead_letters FINAL").result_rows
    assert len(letters) == 1
    reason, topic, error = letters[0]
    assert (reason, topic) == ("tenant_mismatch", input_topic(secure, "acme"))
    assert "'globex'" in error


def _wait_for_leaders(settings: Settings, timeout_s: float = 30.0) -> None:
    """Until every topic of the deployment has a partition leader (fresh topics on a
    fresh broker answer NOT_LEADER for a moment)."""
    admin = AdminClient(client_config(settings))
    deadline = time.monotonic() + timeout_s
    while True:
        topics = admin.list_topics(timeout=5).topics
        mine = [t for name, t in topics.items() if name.startswith(settings.topic_prefix)]
        if mine and all(p.leader >= 0 for t in mine for p in t.partitions.values()):
            break
        assert time.monotonic() < deadline, "topics without a leader"
        time.sleep(0.2)
    consumer = Consumer({**client_config(settings), "group.id": "probe"})
    try:  # and until each answers offset requests (the ledger reader asks at start)
        for t in mine:
            for p in t.partitions:
                while True:
                    try:
                        consumer.get_watermark_offsets(TopicPartition(t.topic, p), timeout=5)
                        break
                    except KafkaException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
    finally:
        consumer.close()


def _drain(part: Any, want: int, timeout_s: float = 20.0) -> list[RawMessage]:
    out: list[RawMessage] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < want and time.monotonic() < deadline:
        out += part.next_batch()
        time.sleep(0.05)
    return out


def test_a_tenant_topic_created_while_running_joins_the_input(
    broker: LocalKafka, secure: Settings
) -> None:
    source = TenantTopicsSource(
        client_config(secure), secure.events_topic, slots=1, discover_every_s=0.2
    )
    assert source.list_parts() == ["0"]
    with EventProducer(_tenant(broker, "acme"), input_topic(secure, "acme")) as acme:
        acme.send(b"acme/T1", _event("acme", 1))
    part = source.build_part("in", "0", None)
    try:
        first = _drain(part, 1)
        assert [m.topic for m in first] == [input_topic(secure, "acme")]
        add_tenant(AdminClient(broker.admin_config()), secure, "initech", "pw-initech")
        with EventProducer(_tenant(broker, "initech"), input_topic(secure, "initech")) as p:
            p.send(b"initech/T1", _event("initech", 1))
        later = _drain(part, 1)
        assert [(m.topic, m.offset) for m in later] == [(input_topic(secure, "initech"), 0)]
        state = part.snapshot()
    finally:
        part.close()
    assert state == {
        f"{input_topic(secure, 'acme')}:0": 1,
        f"{input_topic(secure, 'initech')}:0": 1,
    }
    # resumed from the snapshot: only what came after it
    with EventProducer(_tenant(broker, "initech"), input_topic(secure, "initech")) as p:
        p.send(b"initech/T2", _event("initech", 2))
    resumed = source.build_part("in", "0", state)
    try:
        assert [(m.topic, m.offset) for m in _drain(resumed, 1)] == [
            (input_topic(secure, "initech"), 1)
        ]
    finally:
        resumed.close()
