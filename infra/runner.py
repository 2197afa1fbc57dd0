"""Runs the dataflow against real Kafka, with Bytewax recovery on.

The flows read the events topic and publish every output to Kafka: table rows to their
result topics (stored by the storage writer, see infra/storage.py), alerts and dead
letters to their topics. Recovery snapshots state and input offsets every
``snapshot_interval_s``; after a crash the run resumes from the last snapshot and
replays the tail, whose rows carry the same ids and versions (idempotent upserts).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from operator import attrgetter
from typing import Any, Generic, TypeVar

from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from flows.config import FlowConfig
from flows.core import outputs
from flows.core.outputs import SinkKey
from flows.demand.anomaly import AnomalyRule
from flows.demand.tenant import DemandConfig, HotspotRule
from flows.ingest.kafka_source import KafkaEventSource
from flows.ingest.tenant_source import TenantTopicsSource
from flows.kb.clusters import KbConfig
from flows.pipeline import build_flow
from infra.policy import load_sla_policy
from schemas.alert_lifecycle import AlertStateChange
from schemas.alert_rules import load_rules_file
from schemas.kafka_client import client_config
from schemas.results import Alert
from schemas.risk import RiskModel
from schemas.routing import RoutingModel
from schemas.settings import Settings
from schemas.transport import RawMessage
from sinks import tables
from sinks.alert_states import encode_alert_state
from sinks.erasure_requests import read_ledger
from sinks.kafka_sink import (
    Encoded,
    KafkaTopicSink,
    dlq_message_max_bytes,
    encode_alert,
    encode_dead_letter,
)
from sinks.result_sink import LettersToTopic, result_sink
from sinks.routing_topic import encode_recommendation
from sinks.tables import TableSpec

log = logging.getLogger(__name__)
RECOVERY_PARTITIONS = 4
T = TypeVar("T")


@dataclass(frozen=True)
class ResultOut(Generic[T]):
    """An output of table rows, published to the table's result topic (``key`` and
    ``spec`` agree on ``T``); the storage writer stores them."""

    key: SinkKey[T]
    spec: TableSpec[T]


@dataclass(frozen=True)
class TopicOut(Generic[T]):
    """An output produced to a Kafka topic of the settings."""

    key: SinkKey[T]
    topic: Callable[[Settings], str]
    encode: Callable[[T], Encoded]
    ident: Callable[[T], object]
    capped: bool = False  # dead letters: message size from the raw-bytes cap


def _encode_alert_feed(item: Alert | AlertStateChange) -> Encoded:
    """An alert, or a state change (:func:`sinks.alert_states.encode_alert_state`)."""
    if isinstance(item, Alert):
        return encode_alert(item)
    key, value, headers = encode_alert_state(item)
    return key, value, [(k, v) for k, v in headers if isinstance(v, bytes)]


# Every output of the dataflow and where it goes. The alerts table counts each alert
# once (the alerts topic carries the same ones, for live delivery).
OUTPUTS: dict[SinkKey[Any], ResultOut[Any] | TopicOut[Any]] = {
    out.key: out
    for out in (
        ResultOut(outputs.EVENTS, tables.EVENTS),
        ResultOut(outputs.DEAD_LETTERS, tables.DEAD_LETTERS),
        ResultOut(outputs.AGENT_PERFORMANCE, tables.AGENT_PERFORMANCE),
        ResultOut(outputs.LATE_EVENTS, tables.LATE_EVENTS),
        ResultOut(outputs.ALERTS, tables.ALERTS),
        ResultOut(outputs.CLIENT_RISK, tables.CLIENT_RISK),
        ResultOut(outputs.OPS_SNAPSHOTS, tables.OPS_SNAPSHOTS),
        ResultOut(outputs.OPS_QUEUE_SNAPSHOTS, tables.OPS_QUEUE_SNAPSHOTS),
        ResultOut(outputs.OPS_AGENT_BOARD, tables.OPS_AGENT_BOARD),
        ResultOut(outputs.DEMAND_HOURLY, tables.DEMAND_HOURLY),
        ResultOut(outputs.DEMAND_FORECAST, tables.DEMAND_FORECAST),
        ResultOut(outputs.DEMAND_BACKTEST, tables.DEMAND_BACKTEST),
        ResultOut(outputs.KB_SUGGESTIONS, tables.KB_SUGGESTIONS),
        ResultOut(outputs.ALERT_ACTIONS, tables.ALERT_ACTIONS),
        ResultOut(outputs.ERASURES, tables.ERASURES),
        ResultOut(outputs.ROUTING_RECOMMENDATIONS, tables.ROUTING_RECOMMENDATIONS),
        ResultOut(outputs.ROUTING_DECISIONS, tables.ROUTING_DECISIONS),
        # for an auto-assigner: key tenant/ticket, the recommendation as the API serves it
        TopicOut(
            outputs.ROUTING_TOPIC,
            attrgetter("routing_topic"),
            encode_recommendation,
            attrgetter("recommendation_id"),
        ),
        TopicOut(
            outputs.DLQ_TOPIC,
            attrgetter("dlq_topic"),
            encode_dead_letter,
            attrgetter("letter_id"),
            capped=True,
        ),
        TopicOut(
            outputs.ALERTS_TOPIC, attrgetter("alerts_topic"), encode_alert, attrgetter("alert_id")
        ),
        # alerts and their state changes in order (header cxpulse.type: alert_state)
        TopicOut(
            outputs.ALERT_FEED_TOPIC,
            attrgetter("alerts_topic"),
            _encode_alert_feed,
            attrgetter("alert_id"),
        ),
    )
}


@dataclass(frozen=True)
class KafkaIO:
    """FlowIO on the Kafka cluster of the settings: events in, every output to a topic
    (table rows to result topics). Compute never opens ClickHouse."""

    settings: Settings
    until_end: bool = False

    def rules_source(self) -> Source[RawMessage]:
        """The compacted rules topic from its start (the API's rule changes)."""
        s = self.settings
        return KafkaEventSource(client_config(s), s.rules_topic, until_end=self.until_end)

    def source(self) -> Source[RawMessage]:
        s = self.settings
        if s.tenant_topics:
            return TenantTopicsSource(
                client_config(s),
                s.events_topic,
                slots=s.topic_partitions,
                until_end=self.until_end,
                batch_size=s.kafka_batch_size,
            )
        return KafkaEventSource(
            client_config(s),
            s.events_topic,
            until_end=self.until_end,
            batch_size=s.kafka_batch_size,
        )

    def sink(self, key: SinkKey[T]) -> Sink[T]:
        s = self.settings
        cap = s.dlq_max_raw_bytes
        letters = s.results_topic(tables.DEAD_LETTERS.table)
        out = OUTPUTS[key]
        if isinstance(out, ResultOut):
            return result_sink(
                client_config(s),
                s.results_topic(out.spec.table),
                out.spec,
                letters_topic=letters,
                dlq_max_raw_bytes=cap,
            )
        producer: dict[str, Any] = client_config(s)
        if out.capped:
            # every letter is capped, so this limit never refuses one (and stays under
            # the broker's)
            producer["message.max.bytes"] = dlq_message_max_bytes(cap)
        return KafkaTopicSink(
            producer,
            out.topic(s),
            out.encode,
            sink=key.name,
            # messages a topic refuses go to the dead_letters result topic
            on_rejected=LettersToTopic(client_config(s), letters, sink=key.name, cap=cap),
            ident=out.ident,
            dlq_max_raw_bytes=cap,
        )


def input_partitions(settings: Settings) -> int:
    """Partition count of the events topic (watermarks wait for all of them); with
    tenant topics, of each tenant's topic (``cxpulse kafka add-tenant`` creates them so)."""
    if settings.tenant_topics:
        return settings.topic_partitions
    return len(KafkaEventSource(client_config(settings), settings.events_topic).list_parts())


def flow_config(settings: Settings, flows: frozenset[str], *, until_end: bool) -> FlowConfig:
    return FlowConfig(
        input_partitions=input_partitions(settings),
        events_topic=settings.events_topic,
        tenant_topics=settings.tenant_topics,
        flows=flows,
        allowed_lateness_s=settings.allowed_lateness_s,
        dedup_window_s=settings.dedup_window_s,
        max_future_s=settings.max_future_s,
        max_past_s=settings.max_past_s or None,  # 0 disables the bound
        dlq_max_raw_bytes=settings.dlq_max_raw_bytes,
        redact_text=settings.redact_text,
        provisional_interval_s=settings.provisional_interval_s,
        shards=settings.shards,
        ops_snapshot_interval_s=settings.ops_snapshot_interval_s,
        risk_model=RiskModel.from_json(settings.risk_model_file),
        routing_model=RoutingModel.from_json(settings.routing_model_file),
        sla_policy=load_sla_policy(settings.sla_policy_file),
        demand=demand_config(settings),
        kb=kb_config(settings),
        alert_rules=load_rules_file(settings.alert_rules_file),
        erased=read_ledger(settings),
        idle_advance=not until_end,  # a bounded replay must not depend on wall time
        provisional=not until_end,  # nobody reads a replay's live rows; finals suffice
    )


def demand_config(settings: Settings) -> DemandConfig:
    return DemandConfig(
        horizon_h=settings.forecast_horizon_h,
        forecast_every_h=settings.forecast_every_h,
        refit_every_h=settings.forecast_refit_every_h,
        backtest_origins=settings.forecast_backtest_origins,
        hotspot=HotspotRule(
            ratio=settings.hotspot_ratio,
            absolute=settings.hotspot_thresholds,
            horizon_h=settings.hotspot_horizon_h,
            min_level=settings.hotspot_min_level,
        ),
        anomaly=AnomalyRule(min_excess=settings.anomaly_min_excess),
    )


def kb_config(settings: Settings) -> KbConfig:
    tuned = KbConfig()
    return KbConfig(
        join_threshold=settings.kb_join_threshold or tuned.join_threshold,
        cover_threshold=settings.kb_cover_threshold or tuned.cover_threshold,
        min_size=settings.kb_min_size,
    )


def recovery_config(settings: Settings) -> RecoveryConfig:
    """The recovery store under the data dir, created on first use."""
    db_dir = settings.recovery_dir
    if not db_dir.exists() or not any(db_dir.glob("part-*.sqlite3")):
        db_dir.mkdir(parents=True, exist_ok=True)
        init_db_dir(db_dir, RECOVERY_PARTITIONS)  # type: ignore[no-untyped-call]
    return RecoveryConfig(str(db_dir))  # type: ignore[no-untyped-call]


def build(settings: Settings, flows: frozenset[str], *, until_end: bool) -> Dataflow:
    cfg = flow_config(settings, flows, until_end=until_end)
    return build_flow(cfg, KafkaIO(settings, until_end=until_end))


def tune_gc() -> None:
    """Fewer cyclic-GC passes: the flows allocate millions of short-lived, acyclic
    objects (events, rows) while holding large state; with the default thresholds,
    collections walking that state tripled per-event cost (measured: pydantic
    validation 11.5 us -> 3.7 us per event inside Bytewax). Freezing start-up objects
    keeps them out of every later pass. Reference counting still frees almost
    everything immediately; only cycles wait longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run_flows(
    settings: Settings,
    flows: frozenset[str],
    *,
    until_end: bool,
    recovery: bool = True,
    process_id: int | None = None,
    addresses: list[str] | None = None,
) -> None:
    """Compute: blocks until the input ends (``until_end``) or the process is stopped.
    With ``addresses`` (``host:port`` of every process) this is process ``process_id``
    of a Bytewax cluster; every process builds the same dataflow.

    ``recovery=False`` (no recovery store) exists for the benchmark's on/off ratio only:
    the product always runs with recovery."""
    flow = build(settings, flows, until_end=until_end)
    tune_gc()
    cli_main(  # type: ignore[no-untyped-call]
        flow,
        workers_per_process=settings.workers,
        process_id=process_id,
        addresses=addresses,
        epoch_interval=timedelta(seconds=settings.snapshot_interval_s),
        recovery_config=recovery_config(settings) if recovery else None,
    )
