"""``cxpulse simulate``: the simulator's events, paced and sent to Kafka with progress."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

from tqdm import tqdm

from infra.pacing import Pacer, sleep_until_due
from infra.producer import EventProducer, input_topic
from infra.simulator import SimConfig, Simulator, invalid_samples
from schemas.events import ENTITY_FIELD
from schemas.kafka_client import client_config
from schemas.settings import Settings


def _key(event: dict[str, object]) -> bytes:
    payload = event["payload"]
    assert isinstance(payload, dict)
    return f"{event['tenant_id']}/{payload[ENTITY_FIELD[str(event['event_type'])]]}".encode()


def _event_seconds(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["occurred_at"])).timestamp()


def run_simulation(
    settings: Settings,
    *,
    rate: float,
    count: int,
    seed: int,
    tenants: int,
    agents: int,
    clients: int,
    tickets_per_hour: float,
    backfill: timedelta,
    speed: float,
    invalid_every: int = 0,
    progress: bool = True,
    routing_follow_p: float = 0.0,
    category_strengths: bool = False,
) -> int:
    """Send events until ``count`` (0: forever). Returns how many were delivered."""
    now = datetime.now(UTC)
    config = SimConfig(
        seed=seed,
        tenants=tenants,
        agents_per_tenant=agents,
        clients_per_tenant=clients,
        start=now - backfill,
        tickets_per_hour=tickets_per_hour,
        routing_follow_p=routing_follow_p,
        category_strengths=category_strengths,
    )
    pacer = Pacer(
        started_event_s=now.timestamp(), started_wall_s=time.time(), speed=speed, max_rate=rate
    )
    bad = invalid_samples(random.Random(seed))
    sent = 0
    bar = tqdm(
        total=count or None,
        unit="ev",
        disable=not progress,
        smoothing=0.1,
        desc=f"simulate -> {settings.events_topic}",
    )
    with EventProducer(client_config(settings), settings.events_topic) as producer:
        for event in Simulator(config).events():
            sleep_until_due(pacer, _event_seconds(event), time.time, time.sleep)
            topic = input_topic(settings, str(event["tenant_id"]))
            producer.send(_key(event), json.dumps(event, separators=(",", ":")).encode(), topic)
            sent += 1
            if invalid_every and sent % invalid_every == 0:
                producer.send(None, bad[(sent // invalid_every) % len(bad)], topic)
            bar.update()
            if count and sent >= count:
                break
    bar.close()
    return sent
