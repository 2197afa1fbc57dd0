"""Running the real ``cxpulse`` command as a subprocess, with a per-test environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition

from infra.kafka_local import free_port
from tests.conftest import KEEP_TEST_ROWS

CXPULSE = [sys.executable, "-m", "infra.cli"]
ROOT = Path(__file__).resolve().parents[2]


def cli_env(bootstrap: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXPULSE_")}
    env.update(
        CXPULSE_KAFKA_BOOTSTRAP=bootstrap,
        CXPULSE_TOPIC_PREFIX=f"e{uuid.uuid4().hex[:10]}.",
        # own result topics even where a test shares the input through the prefix
        CXPULSE_RESULTS_PREFIX=f"r{uuid.uuid4().hex[:10]}.",
        CXPULSE_DATA_DIR=str(data_dir),
        CXPULSE_API_KEYS="acme:key-acme-0123456789abcdef,globex:key-globex-0123456789abcdef",
        PYTHONPATH=str(ROOT),
        CXPULSE_MAX_PAST_S="0",  # the scenarios use fixed dates (tests of the bound set it)
        CXPULSE_RETENTION_DAYS=json.dumps(KEEP_TEST_ROWS),  # nor age past the retention
    )
    env.update(extra)
    return env


def cxpulse(
    env: dict[str, str],
    *args: str,
    stdin: bytes | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        [*CXPULSE, *args], env=env, input=stdin, capture_output=True, timeout=timeout, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"cxpulse {' '.join(args)} exited {proc.returncode}\n"
            f"stdout: {proc.stdout.decode()[-3000:]}\nstderr: {proc.stderr.decode()[-3000:]}"
        )
    return proc


def sql_rows(env: dict[str, str], query: str) -> list[dict[str, Any]]:
    out = cxpulse(env, "sql", query, "--format", "JSONEachRow").stdout.decode()
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "cxpulse api exited early"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("API did not become healthy")


@contextmanager
def serve_api(env: dict[str, str]) -> Iterator[str]:
    """``cxpulse api`` on a free port until the block ends; yields its base URL once
    ``/healthz`` answers."""
    port = free_port()
    proc = subprocess.Popen(
        [*CXPULSE, "api", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def store_offsets(env: dict[str, str], *, committed: bool = True) -> dict[str, int]:
    """Per result topic: the storage writer's committed offsets (or the end offsets)."""
    results = env["CXPULSE_RESULTS_PREFIX"]
    consumer = Consumer(
        {"bootstrap.servers": env["CXPULSE_KAFKA_BOOTSTRAP"], "group.id": f"{results}store"}
    )
    try:
        topics = [t for t in consumer.list_topics(timeout=10).topics if t.startswith(results)]
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in consumer.list_topics(t, timeout=10).topics[t].partitions
        ]
        if committed:
            done = consumer.committed(parts, timeout=10)
            out = [(tp.topic, max(0, tp.offset)) for tp in done]
        else:
            out = [(tp.topic, consumer.get_watermark_offsets(tp, timeout=10)[1]) for tp in parts]
    finally:
        consumer.close()
    totals: dict[str, int] = {}
    for topic, n in out:
        totals[topic] = totals.get(topic, 0) + n
    return totals
