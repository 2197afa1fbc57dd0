"""Tenant-bound input (issue #14): topic naming, the tenant_mismatch verdict at decode,
the tenant source's slot bookkeeping, and the one Kafka client configuration."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING
from pydantic import ValidationError

from flows.core.watermark import Watermark
from flows.ingest.decode import decode, decode_batch
from flows.ingest.tenant_source import SlotOffsets, matching_topics
from schemas.kafka_client import as_config, client_config, connection_only
from schemas.results import DeadLetter
from schemas.settings import Settings
from schemas.tenant_topics import tenant_topic, tenant_topic_pattern, topic_tenant
from schemas.transport import Accepted
from tests.unit.helpers import T0, envelope, raw_message, to_bytes

EVENTS = "cx.events"
OWNER = partial(topic_tenant, EVENTS)


def test_topic_names_round_trip_and_refuse_what_is_no_tenant() -> None:
    assert tenant_topic(EVENTS, "acme") == "cx.events.acme"
    assert topic_tenant(EVENTS, "cx.events.acme") == "acme"
    assert topic_tenant(EVENTS, "cx.events.acme.eu") == "acme.eu"
    for other in ("cx.events", "cx.events.", "cx.dlq", "cx.alerts", "cx.results.events", "x"):
        assert topic_tenant(EVENTS, other) is None
    with pytest.raises(ValueError):
        tenant_topic(EVENTS, "a/b")
    pattern = tenant_topic_pattern(EVENTS)
    assert pattern.match("cx.events.acme")
    assert not pattern.match("cx.events")
    assert not pattern.match("cxXevents.acme")
    assert not pattern.match("cx.results.alerts")


def _msg(tenant: str, topic: str, offset: int = 0) -> Any:
    return raw_message(
        to_bytes(envelope("ticket.reopened", tenant=tenant)), topic=topic, offset=offset
    )


def test_an_event_claiming_another_tenant_is_a_tenant_mismatch_letter() -> None:
    """The attack: globex's producer writes an acme event into its own topic."""
    forged = _msg("acme", "cx.events.globex")
    out = decode(forged, T0, topic_tenant=OWNER)
    assert isinstance(out, DeadLetter)
    assert out.reason == "tenant_mismatch"
    assert "'acme'" in out.error
    assert "cx.events.globex" in out.error
    assert out.raw == forged.value
    assert isinstance(decode(_msg("acme", "cx.events.acme"), T0, topic_tenant=OWNER), Accepted)
    # a topic that is no tenant's carries nobody's events
    assert isinstance(decode(_msg("acme", "cx.events"), T0, topic_tenant=OWNER), DeadLetter)
    # without tenant topics the topic says nothing
    assert isinstance(decode(forged, T0), Accepted)


def test_mismatch_wins_over_other_checks_and_the_batch_path_agrees() -> None:
    msgs = [
        _msg("acme", "cx.events.acme", 0),
        _msg("acme", "cx.events.globex", 1),
        _msg("globex", "cx.events.globex", 2),
        raw_message(b"{bad", topic="cx.events.globex", offset=3),
    ]
    batch = decode_batch(msgs, T0, timedelta(days=1), topic_tenant=OWNER)
    one_by_one = [decode(m, T0, timedelta(days=1), topic_tenant=OWNER) for m in msgs]
    assert batch == one_by_one
    kinds = [x.reason if isinstance(x, DeadLetter) else "ok" for x in batch]
    assert kinds == ["ok", "tenant_mismatch", "ok", "invalid_json"]


def test_a_slot_reads_its_share_of_every_tenant_topic_and_resumes_where_it_was() -> None:
    o = SlotOffsets.resume(1, 3, {"cx.events.acme:1": 42})
    found = {"cx.events.acme": [0, 1, 2], "cx.events.globex": [0, 1, 2, 3, 4]}
    assert o.new_partitions(found) == [
        ("cx.events.acme", 1),
        ("cx.events.globex", 1),
        ("cx.events.globex", 4),
    ]
    assert o.start(("cx.events.acme", 1)) == 42
    assert o.start(("cx.events.globex", 4)) == OFFSET_BEGINNING  # a new topic: from its start
    o.assigned.update(o.new_partitions(found))
    assert o.new_partitions({**found, "cx.events.initech": [0, 1]}) == [("cx.events.initech", 1)]
    o.next[("cx.events.globex", 4)] = 7
    assert SlotOffsets.resume(1, 3, o.snapshot()).next == o.next


def test_a_bounded_slot_ends_at_the_offsets_seen_at_start() -> None:
    o = SlotOffsets(0, 1, ends={("cx.events.a", 0): 2, ("cx.events.b", 0): 0})
    assert o.new_partitions({"cx.events.a": [0], "cx.events.b": [0], "cx.events.c": [0]}) == [
        ("cx.events.a", 0),
        ("cx.events.b", 0),
    ]  # c appeared after the start: not part of this replay
    assert not o.all_done()
    o.next[("cx.events.a", 0)] = 2
    assert o.done(("cx.events.a", 0))
    assert o.all_done()


def test_matching_topics_skips_other_topics_and_errors() -> None:
    class Md:
        def __init__(self, parts: list[int], error: object = None) -> None:
            self.partitions = dict.fromkeys(parts)
            self.error = error

    topics = {"cx.events.a": Md([1, 0]), "cx.events": Md([0]), "cx.events.b": Md([0], "x")}
    assert matching_topics(topics, tenant_topic_pattern(EVENTS)) == {"cx.events.a": [0, 1]}


def test_a_partition_beyond_the_configured_count_holds_the_watermark_back_too() -> None:
    wm = Watermark(0, partitions=2)
    wm.observe(0, 100, 0)
    wm.observe(1, 100, 0)
    wm.observe(5, 10, 0)  # a tenant topic with more partitions than the slots
    assert wm.current(0) == 10


def test_one_client_config_carries_sasl_to_every_client() -> None:
    plain = Settings(kafka_bootstrap="h:1")
    assert client_config(plain) == {"bootstrap.servers": "h:1"}
    secure = Settings(
        kafka_bootstrap="h:1",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="acme",
        kafka_sasl_password="pw",
        kafka_ssl_ca_location="/etc/ca.pem",
    )
    conf = client_config(secure)
    assert conf == {
        "bootstrap.servers": "h:1",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "acme",
        "sasl.password": "pw",
        "ssl.ca.location": "/etc/ca.pem",
    }
    consumer = {**conf, "group.id": "g", "enable.auto.commit": False}
    assert connection_only(consumer) == conf
    assert as_config("h:2") == {"bootstrap.servers": "h:2"}
    assert as_config(conf) == conf
    assert as_config(conf) is not conf
    assert "pw" not in repr(secure)


def test_sasl_without_credentials_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="SASL_USERNAME"):
        Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="acme")
