"""Compute processes and the storage writer, side by side on one machine.

``cxpulse run`` / ``up`` start N compute processes (a Bytewax cluster on 127.0.0.1,
each a ``cxpulse run --process-id I --addresses ...`` child) and keep the storage
writer in their own process, the one that may open the embedded ClickHouse. Compute
and storage then use separate cores, and a slow insert never holds up the flows.

The children die with their parent (``PR_SET_PDEATHSIG``): a supervisor killed with
``kill -9`` leaves no orphan computing into the recovery store. If one compute process
fails, the others are stopped too (a Bytewax cluster cannot go on without one of its
processes) and the run fails; recovery resumes all of them on the next start.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from infra.kafka_local import free_port
from infra.runner import run_flows
from infra.storage import drain, storage_writer
from infra.topics import ensure_topics
from schemas.settings import Settings

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGKILL when the process that started it dies."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def local_addresses(processes: int) -> list[str]:
    """A free ``127.0.0.1:port`` per process of a local cluster."""
    return [f"127.0.0.1:{free_port()}" for _ in range(processes)]


def compute_command(
    cli_module: str,
    flows: Sequence[str],
    *,
    until_end: bool,
    process_id: int,
    addresses: Sequence[str],
) -> list[str]:
    """The command line of compute process ``process_id`` of the cluster ``addresses``."""
    return [
        sys.executable,
        "-m",
        cli_module,
        "run",
        *flows,
        *(["--until-end"] if until_end else []),
        "--process-id",
        str(process_id),
        "--addresses",
        ",".join(addresses),
    ]


@dataclass
class ComputeCluster:
    """N compute processes of one Bytewax cluster; ``done`` is set when they have all
    exited (or one failed and the rest were stopped)."""

    commands: list[list[str]]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    failed: list[int] = field(default_factory=list)  # exit codes of the failures

    def start(self) -> None:
        for cmd in self.commands:
            self.procs.append(subprocess.Popen(cmd, preexec_fn=_die_with_parent))
        threading.Thread(target=self._watch, name="compute-watch", daemon=True).start()

    def _watch(self) -> None:
        pending = list(self.procs)
        while pending:
            for p in list(pending):
                code = p.poll()
                if code is None:
                    continue
                pending.remove(p)
                if code != 0:
                    self.failed.append(code)
                    log.error("compute process %d exited %d; stopping the others", p.pid, code)
                    self.stop()
            time.sleep(0.1)
        self.done.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate every process still running (kill those that do not stop)."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def run_local(
    settings: Settings,
    cli_module: str,
    flows: Sequence[str],
    *,
    until_end: bool,
    processes: int,
    store: bool = True,
    stop: threading.Event | None = None,
) -> int:
    """Run ``processes`` compute processes and, with ``store``, the storage writer here
    until they end (``until_end``: then drain the result topics, so that every result
    is queryable on return) or ``stop`` is set. Returns the exit code: 0 when every
    compute process exited 0."""
    addresses = local_addresses(processes)
    cluster = ComputeCluster(
        [
            compute_command(
                cli_module, flows, until_end=until_end, process_id=i, addresses=addresses
            )
            for i in range(processes)
        ]
    )
    stop = stop or threading.Event()
    threading.Thread(
        target=_relay, args=(cluster.done, stop), name="compute-done", daemon=True
    ).start()
    cluster.start()
    try:
        if store:
            writer = storage_writer(settings)
            try:
                writer.run(stop, drain=False)
                if until_end and not cluster.failed and cluster.done.is_set():
                    writer.drain()
            finally:
                writer.close()
        else:
            stop.wait()
    finally:
        cluster.stop()
        cluster.done.wait()
    return 1 if cluster.failed else 0


def _relay(source: threading.Event, target: threading.Event) -> None:
    source.wait()
    target.set()


def run_and_store(settings: Settings, flows: frozenset[str]) -> int:
    """In this process: compute to the end of the input, then store every result
    (for tests and benchmarks that need the flows in-process); returns rows stored."""
    ensure_topics(settings, log=log.info)
    run_flows(settings, flows, until_end=True)
    return drain(settings)
