"""How every cxpulse Kafka client connects: the one place that turns settings into the
librdkafka connection and authentication properties.

Producers, consumers and admin clients all start from :func:`client_config` (or accept
its result where they used to take a bare bootstrap address, see :func:`as_config`), so
turning on SASL in the settings reaches every client in the product at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.settings import Settings

# The librdkafka properties that say where and as whom to connect (not what to do there).
_CONNECTION_PREFIXES = ("bootstrap.servers", "security.protocol", "sasl.", "ssl.")


def client_config(settings: Settings) -> dict[str, Any]:
    """``bootstrap.servers`` plus the security properties of ``settings``; a client adds
    its own (``group.id``, ``linger.ms``, ...) on top."""
    config: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap}
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return config
    config["security.protocol"] = protocol.lower()
    config["sasl.mechanism"] = settings.kafka_sasl_mechanism
    config["sasl.username"] = settings.kafka_sasl_username
    config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if protocol == "SASL_SSL" and settings.kafka_ssl_ca_location is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return config


def as_config(connection: str | Mapping[str, Any]) -> dict[str, Any]:
    """A client's connection given as a bootstrap address (plaintext, tests and tools)
    or as :func:`client_config`'s result; a fresh dict the caller may extend."""
    if isinstance(connection, str):
        return {"bootstrap.servers": connection}
    return dict(connection)


def connection_only(config: Mapping[str, Any]) -> dict[str, Any]:
    """The connection and authentication part of a client's config (e.g. for an admin
    client next to a consumer): nothing that only a consumer or producer accepts."""
    return {k: v for k, v in config.items() if k.startswith(_CONNECTION_PREFIXES)}
