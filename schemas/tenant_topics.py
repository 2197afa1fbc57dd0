"""Per-tenant input topics (``CXPULSE_TENANT_TOPICS``): ``<events topic>.<tenant>``.

A tenant's producers get write access to their topic only (Kafka ACLs), so the topic a
message arrived on names the tenant it may speak for; ingest dead-letters a message
whose ``tenant_id`` says otherwise (``tenant_mismatch``).
"""

from __future__ import annotations

import re

# what schemas.events accepts as a tenant id; every such id is also a legal topic suffix
TENANT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def tenant_topic(events_topic: str, tenant: str) -> str:
    """The input topic of ``tenant``."""
    if not TENANT_ID.match(tenant):
        raise ValueError(f"not a tenant id (letters, digits, '.', '_', '-'; 1-64): {tenant!r}")
    return f"{events_topic}.{tenant}"


def topic_tenant(events_topic: str, topic: str) -> str | None:
    """The tenant whose input topic ``topic`` is, or None if it is none's."""
    head = f"{events_topic}."
    if not topic.startswith(head):
        return None
    tenant = topic[len(head) :]
    return tenant if TENANT_ID.match(tenant) else None


def tenant_topic_pattern(events_topic: str) -> re.Pattern[str]:
    """Matches every tenant input topic (what the ingest source subscribes to)."""
    return re.compile(rf"^{re.escape(events_topic)}\.[A-Za-z0-9_.-]{{1,64}}$")
