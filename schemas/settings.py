"""Runtime settings, read once from the environment (prefix ``CXPULSE_``).

Validated at start so a typo fails loudly before any broker or database is touched.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, StrictInt, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.api_keys import ApiKey, parse_api_keys
from schemas.results import DEFAULT_DLQ_MAX_RAW_BYTES
from schemas.retention import check_retention_days

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9._-]{0,100}$")


class Settings(BaseSettings):
    """Everything a cxpulse process needs to know about its surroundings."""

    # errors never echo the input: it may hold API keys or passwords
    model_config = SettingsConfigDict(
        env_prefix="CXPULSE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    # how every Kafka client authenticates (schemas/kafka_client.py turns these into
    # librdkafka settings); SASL_* needs the username and password
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_ca_location: Path | None = None  # SASL_SSL: CA bundle (default: the system's)
    # events input per tenant: <topic_prefix>events.<tenant>, subscribed by pattern; a
    # message whose tenant_id is not its topic's tenant is dead-lettered (tenant_mismatch)
    tenant_topics: bool = False
    topic_prefix: str = "cx."
    # result topics and the storage writer's group; empty: "<topic_prefix>results.". Two
    # deployments that read one events topic (a replay into a fresh ClickHouse, blue and
    # green) each need their own.
    results_prefix: str = ""
    data_dir: Path = Path(".cxpulse")
    clickhouse_dsn: str = ""  # empty: the embedded engine under data_dir
    clickhouse_database: str = "cxpulse"
    api_keys: SecretStr = SecretStr("")
    # flows
    allowed_lateness_s: float = Field(default=60.0, ge=0)
    dedup_window_s: float = Field(default=3600.0, ge=0)
    max_future_s: float = Field(default=86_400.0, gt=0)
    # events stamped further back than this are dead-lettered; 0 disables (400 days)
    max_past_s: float | None = Field(default=34_560_000.0, ge=0)
    # raw bytes a dead letter keeps (size and sha256 of the whole are kept too); the
    # dead-letter producer's message.max.bytes follows it and must stay under the
    # broker's default 1 MB (see sinks/kafka_sink.py)
    dlq_max_raw_bytes: int = Field(default=DEFAULT_DLQ_MAX_RAW_BYTES, ge=0, le=900_000)
    # mask e-mail addresses, phone, card and IBAN numbers in events' free text at ingest,
    # before anything stores or uses it (flows/ingest/redact.py, README "Privacy")
    redact_text: bool = True
    provisional_interval_s: float = Field(default=5.0, gt=0)
    shards: int = Field(default=32, ge=1, le=4096)
    workers: int = Field(default=1, ge=1, le=64)
    snapshot_interval_s: float = Field(default=5.0, gt=0)
    ops_snapshot_interval_s: float = Field(default=60.0, gt=0)
    risk_model_file: Path = Path(__file__).parent / "risk_model.json"
    # routing recommendation weights, eligibility, top N (schemas/routing.py)
    routing_model_file: Path = Path(__file__).parent / "routing_model.json"
    sla_policy_file: Path | None = None  # JSON: {"hours": {...}, "tenants": {t: {...}}}
    # threshold rules (schemas/alert_rules.py): JSON {tenant id: [rule, ...]}
    alert_rules_file: Path | None = None
    # demand forecasting (see flows/demand/tenant.py, flows/demand/forecast.py)
    forecast_horizon_h: int = Field(default=336, ge=1, le=336)
    forecast_every_h: int = Field(default=1, ge=1, le=168)
    forecast_refit_every_h: int = Field(default=24, ge=1, le=168)
    forecast_backtest_origins: int = Field(default=7, ge=1, le=60)
    hotspot_ratio: float = Field(default=1.25, gt=0)
    hotspot_horizon_h: int = Field(default=24, ge=1, le=336)
    hotspot_min_level: float = Field(default=5.0, ge=0)
    # absolute thresholds (events/hour) by segment, JSON: {"queue:billing": 120}
    hotspot_thresholds: dict[str, float] = Field(default_factory=dict)
    # demand anomaly alerts (flows/demand/anomaly.py): events beyond the 95 % interval
    # needed to alert (0: any hour outside it)
    anomaly_min_excess: float = Field(default=2.0, ge=0)
    # KB suggestions (see flows/kb/clusters.py): cosine similarities; unset = the tuned defaults
    kb_join_threshold: float | None = Field(default=None, gt=0, le=1)
    kb_cover_threshold: float | None = Field(default=None, gt=0, le=1)
    kb_min_size: int = Field(default=3, ge=2, le=1000)
    kafka_batch_size: int = Field(default=5000, ge=1)
    topic_partitions: int = Field(default=3, ge=1)
    # the storage writer (result topics -> ClickHouse, see sinks/store.py): rows per
    # insert at most, and how long a row may wait for more before it is stored
    store_batch_rows: int = Field(default=100_000, ge=1)
    store_flush_interval_s: float = Field(default=0.25, gt=0, le=60)
    # /readyz reports not ready while the writer is this many messages behind (0: never)
    store_max_lag: int = Field(default=1_000_000, ge=0)
    # webhooks: retries wait up to base * 2^(attempt - 1) (full jitter), then dead-letter
    webhook_backoff_base_s: float = Field(default=1.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    # one deadline for a whole attempt: connect + TLS + send + the answer's headers
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # SSRF guard (sinks/webhooks/guard.py): host names and CIDRs whose private addresses
    # webhooks may reach (and over http), comma-separated; http elsewhere only if allowed
    webhook_allowed_hosts: str = ""
    webhook_allow_http: bool = False
    # fair delivery: attempts in flight in all, per tenant at most; subscriptions per tenant
    webhook_senders: int = Field(default=16, ge=1, le=1024)
    webhook_tenant_senders: int = Field(default=4, ge=1, le=1024)
    webhook_max_subscriptions: int = Field(default=25, ge=1, le=10_000)
    # encrypts webhook secrets at rest (base64url 32-byte AES keys, comma-separated: the
    # first encrypts); unset: a key file in data_dir on the embedded engine, required else
    secret_key: SecretStr = SecretStr("")
    # days each ClickHouse table keeps its rows, JSON {"events": 400, "dead_letters": 30};
    # unset tables take their defaults (schemas/retention.py); applied by cxpulse migrate,
    # and the dead-letter topic's retention.ms follows dead_letters
    retention_days: dict[str, StrictInt] = Field(default_factory=dict)
    # request limits of the API (issue #14): request bodies above this get 413 before
    # authentication; open alert streams per tenant (429 past it); failed
    # authentications an address may make at once, and how fast it earns one back
    api_max_body_bytes: int = Field(default=65_536, ge=1024)
    sse_streams_per_tenant: int = Field(default=20, ge=1)
    auth_failure_burst: int = Field(default=10, ge=1)
    auth_failure_refill_s: float = Field(default=6.0, gt=0)

    @field_validator("clickhouse_database")
    @classmethod
    def _database_is_identifier(cls, v: str) -> str:
        if not _IDENT.match(v):
            raise ValueError("must be a plain identifier: letters, digits, underscore")
        return v

    @field_validator("topic_prefix", "results_prefix")
    @classmethod
    def _prefix_is_topic_safe(cls, v: str) -> str:
        if not _TOPIC_PREFIX.match(v):
            raise ValueError("may only hold letters, digits, '.', '_' and '-'")
        return v

    @field_validator("retention_days")
    @classmethod
    def _retention_is_known(cls, v: dict[str, int]) -> dict[str, int]:
        return check_retention_days(v)

    @field_validator("hotspot_thresholds")
    @classmethod
    def _thresholds_are_segments(cls, v: dict[str, float]) -> dict[str, float]:
        kinds = ("queue", "region", "service_type")
        bad = [k for k, x in v.items() if k.partition(":")[0] not in kinds or x <= 0]
        if bad:
            raise ValueError(
                f"keys must be '<queue|region|service_type>:<name>' with values > 0: {bad}"
            )
        return v

    @model_validator(mode="after")
    def _sasl_has_credentials(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"CXPULSE_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "CXPULSE_KAFKA_SASL_USERNAME and CXPULSE_KAFKA_SASL_PASSWORD"
            )
        return self

    @model_validator(mode="after")
    def _keys_parse(self) -> Settings:
        _ = self.api_key_list  # raises on a malformed CXPULSE_API_KEYS or scope
        return self

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic_prefix}dlq"

    @property
    def alerts_topic(self) -> str:
        return f"{self.topic_prefix}alerts"

    @property
    def rules_topic(self) -> str:
        """Changes of the API's threshold rules (compacted; the live-ops flow reads it)."""
        return f"{self.topic_prefix}rules"

    @property
    def routing_topic(self) -> str:
        """Routing recommendations (key ``<tenant>/<ticket>``) for an auto-assigner."""
        return f"{self.topic_prefix}routing"

    @property
    def erasures_topic(self) -> str:
        """The erasure ledger (compacted, key ``<tenant>/<client>``): every run starts by
        reading it, so a replay suppresses erased clients from the first event on."""
        return f"{self.topic_prefix}erasures"

    def results_topic(self, table: str) -> str:
        """The result topic of ``table``: the flows publish its rows there, the storage
        writer (or ClickHouse's Kafka engine) stores them."""
        return f"{self.results_topics_prefix}{table}"

    @property
    def results_topics_prefix(self) -> str:
        return self.results_prefix or f"{self.topic_prefix}results."

    @property
    def store_group(self) -> str:
        """Consumer group whose committed offsets say what the storage writer stored."""
        return f"{self.results_topics_prefix}store"

    @property
    def dsn(self) -> str:
        """The ClickHouse DSN; the embedded engine lives in ``<data_dir>/clickhouse``."""
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def embedded_clickhouse(self) -> bool:
        return self.dsn.startswith("chdb://")

    @property
    def recovery_dir(self) -> Path:
        return self.data_dir / "recovery"

    @cached_property
    def api_key_list(self) -> tuple[ApiKey, ...]:
        """The configured API keys with their tenants and scopes (see schemas/api_keys.py)."""
        return parse_api_keys(self.api_keys.get_secret_value())

    @property
    def tenant_keys(self) -> dict[str, str]:
        """API key -> tenant."""
        return {k.key: k.tenant for k in self.api_key_list}
