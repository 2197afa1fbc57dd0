"""Who may do what on a secured Kafka: SCRAM principals and their ACLs.

Three kinds of principal (SASL/SCRAM users; the broker denies whatever no ACL allows):

- ``admin``: the broker's super user (inter-broker traffic, creating users and ACLs);
- ``pipeline``: every cxpulse process (flows, storage writer, API, dispatcher): all
  operations on the topics under the topic and results prefixes and on consumer groups.
  It is the only principal besides ``admin`` that may write ``<prefix>alerts``, the DLQ,
  the rules and the result topics, so the alert feed and the webhook dispatcher trust
  what they read there;
- ``tenant-<T>``: a tenant's producers: write (and describe) ``<prefix>events.<T>`` and
  nothing else, so a producer cannot speak for another tenant or forge alerts.

The ACL lists are pure (built from settings); :func:`apply_acls` and
:func:`upsert_scram_user` talk to the broker through an admin client.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from schemas.settings import Settings
from schemas.tenant_topics import tenant_topic

ADMIN = "admin"
PIPELINE = "pipeline"
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_ITERATIONS = 8192
_HOST = "*"


def tenant_principal(tenant: str) -> str:
    """The SCRAM user of ``tenant``'s producers (prefixed: no tenant can be ``admin``)."""
    return f"tenant-{tenant}"


def _allow(principal: str, rtype: Any, name: str, pattern: Any, op: Any) -> AclBinding:
    return AclBinding(rtype, name, pattern, f"User:{principal}", _HOST, op, AclPermissionType.ALLOW)


def pipeline_acls(settings: Settings, principal: str = PIPELINE) -> list[AclBinding]:
    """Everything on the deployment's topics (events, tenant topics, alerts, DLQ, rules,
    results) and on consumer groups; topic creation and config changes included."""
    prefixes = sorted({settings.topic_prefix, settings.results_topics_prefix})
    out = [
        _allow(principal, ResourceType.TOPIC, p, ResourcePatternType.PREFIXED, AclOperation.ALL)
        for p in prefixes
        if p
    ]
    if "" in prefixes:  # an empty prefix: every topic
        out.append(
            _allow(
                principal, ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, AclOperation.ALL
            )
        )
    out.append(
        _allow(principal, ResourceType.GROUP, "*", ResourcePatternType.LITERAL, AclOperation.ALL)
    )
    return out


def tenant_acls(settings: Settings, tenant: str) -> list[AclBinding]:
    """Write and describe on the tenant's own input topic, nothing else."""
    topic = tenant_topic(settings.events_topic, tenant)
    who = tenant_principal(tenant)
    return [
        _allow(who, ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, op)
        for op in (AclOperation.WRITE, AclOperation.DESCRIBE)
    ]


def apply_acls(admin: AdminClient, acls: list[AclBinding], timeout_s: float = 30.0) -> None:
    """Create ``acls`` (creating an existing ACL is a no-op) and return once the broker
    enforces them: the controller commits them first, the broker's authorizer (which
    answers DescribeAcls) applies them a moment later, and a producer started in
    between would be refused."""
    for fut in admin.create_acls(acls, request_timeout=timeout_s).values():
        fut.result()
    deadline = time.monotonic() + timeout_s
    for acl in acls:
        query = AclBindingFilter(
            acl.restype,
            acl.name,
            acl.resource_pattern_type,
            acl.principal,
            acl.host,
            acl.operation,
            acl.permission_type,
        )
        while not admin.describe_acls(query, request_timeout=timeout_s).result():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker did not apply the ACL {acl} in {timeout_s} s")
            time.sleep(0.05)


def upsert_scram_user(
    admin: AdminClient, user: str, password: str, timeout_s: float = 30.0
) -> None:
    """Create or change ``user``'s SCRAM credentials, for both SHA-256 and SHA-512."""
    for m in MECHANISMS:  # one alteration per user and request
        change: list[UserScramCredentialAlteration] = [
            UserScramCredentialUpsertion(
                user,
                ScramCredentialInfo(getattr(ScramMechanism, m.replace("-", "_")), SCRAM_ITERATIONS),
                password.encode(),
            )
        ]
        for fut in admin.alter_user_scram_credentials(change, request_timeout=timeout_s).values():
            fut.result()


def create_tenant_topic(admin: AdminClient, settings: Settings, tenant: str) -> bool:
    """``<prefix>events.<tenant>`` with ``CXPULSE_TOPIC_PARTITIONS`` partitions (the slots
    of the tenant source); False if it already existed."""
    topic = tenant_topic(settings.events_topic, tenant)
    new = NewTopic(topic, num_partitions=settings.topic_partitions, replication_factor=-1)
    for fut in admin.create_topics([new], operation_timeout=30).values():
        try:
            fut.result()
        except KafkaException as exc:
            if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:
                raise
            return False
    return True


def sasl_config(bootstrap: str, user: str, password: str) -> dict[str, Any]:
    """librdkafka settings of a principal on the local SASL_PLAINTEXT listener."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "sasl_plaintext",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
    }


def new_password() -> str:
    """URL-safe, so it fits the broker's JAAS and ``--add-scram`` syntax unquoted."""
    return secrets.token_urlsafe(24)


@dataclass
class Credentials:
    """The local secure broker's passwords, in ``<home>/credentials.json`` (mode 0600),
    generated once; tenants are added by ``cxpulse kafka add-tenant``."""

    admin: str
    pipeline: str
    tenants: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        if path.is_file():
            doc = json.loads(path.read_text())
            return cls(doc["admin"], doc["pipeline"], dict(doc.get("tenants", {})))
        creds = cls(new_password(), new_password())
        creds.save(path)
        return creds

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"admin": self.admin, "pipeline": self.pipeline, "tenants": self.tenants}, fh)
        tmp.replace(path)


def add_tenant(admin: AdminClient, settings: Settings, tenant: str, password: str) -> bool:
    """The tenant's principal (SCRAM user), its input topic and its ACLs; idempotent.
    Returns whether the topic was created now."""
    upsert_scram_user(admin, tenant_principal(tenant), password)
    created = create_tenant_topic(admin, settings, tenant)
    apply_acls(admin, tenant_acls(settings, tenant))
    return created
