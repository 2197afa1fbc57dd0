"""A single-node Apache Kafka (KRaft) for development, tests and benchmarks.

``secure=True`` runs it with SASL/SCRAM and ACLs (see :mod:`infra.kafka_security`): the
client listener takes SCRAM-SHA-256/512 only, the controller listener PLAIN for the
``admin`` super user, the ``StandardAuthorizer`` denies whatever no ACL allows, and the
``admin`` and ``pipeline`` passwords are generated once into ``home/credentials.json``
(mode 0600) and bootstrapped into the metadata log when the storage is formatted.

There is no Docker here, so the broker runs straight from Maven Central jars on the local JVM:
``infra/kafka/pom.xml`` lists them, ``mvn`` resolves them once, and ``java`` runs ``kafka.Kafka``
detached from the caller so the CLI can start a broker and exit. Everything the broker writes
(config, data, logs, pid file) lives under one ``home`` directory.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.kafka_security import (
    ADMIN,
    MECHANISMS,
    PIPELINE,
    Credentials,
    apply_acls,
    pipeline_acls,
    sasl_config,
)
from schemas.settings import Settings

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.properties"
LIB_ENV = "CXPULSE_KAFKA_LIB"
_MARKER = ".complete"  # written last, so a half-finished download is redone
_HOST = "127.0.0.1"
# Children started by this process, kept so they are reaped (no zombies) and can be waited on.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class KafkaLaunchError(RuntimeError):
    """The local broker could not be provisioned, started or reached."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_HOST, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    """Whether the broker could bind ``port``; SO_REUSEADDR like the JVM, so TIME_WAIT is fine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((_HOST, port))
        except OSError:
            return False
        return True


def _answers(port: int) -> bool:
    """Whether something accepts TCP connections on ``127.0.0.1:port``."""
    try:
        with socket.create_connection((_HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; reaps it first if it is our exited child (else it would look alive)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        # A zombie answers kill(0) but is gone; the state follows the ")" closing the name.
        return stat.read_text().rpartition(")")[2].split()[0] != "Z"
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _new_cluster_id() -> str:
    """Kafka's ``Uuid.randomUuid()`` format (url-safe base64, no padding) without a JVM start."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):  # Kafka refuses ids that look like CLI flags
            return cid


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise KafkaLaunchError(
            f"`{tool}` not found on PATH; the local Kafka needs Java 17+ and Maven "
            "(e.g. apt-get install openjdk-17-jre-headless maven)"
        )
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so parallel CLI/test runs do not race on the same files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _lib_dir() -> tuple[Path, bool]:
    """The jar directory and whether it came from ``CXPULSE_KAFKA_LIB``."""
    override = os.environ.get(LIB_ENV, "").strip()
    if override:
        return Path(override).expanduser().resolve(), True
    return KAFKA_DIR / "lib", False


@dataclass(frozen=True)
class LocalKafka:
    """One local broker+controller; ``home`` holds its config, data, logs and pid file."""

    home: Path
    port: int = 9092
    controller_port: int | None = None  # default: port + 1
    heap: str = "1g"
    secure: bool = False  # SASL/SCRAM + ACLs (see the module docstring)

    def __post_init__(self) -> None:
        # Absolute, because the path is matched against the broker's command line.
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        for p in (self.port, self.cport):
            if not 0 < p < 65536:
                raise ValueError(f"port out of range: {p}")
        if self.port == self.cport:
            raise ValueError("port and controller_port must differ")

    @property
    def cport(self) -> int:
        return self.controller_port if self.controller_port is not None else self.port + 1

    @property
    def bootstrap(self) -> str:
        return f"{_HOST}:{self.port}"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    def credentials(self) -> Credentials:
        """The secure broker's passwords (generated on first use)."""
        return Credentials.load_or_create(self.credentials_file)

    def admin_config(self) -> dict[str, Any]:
        """librdkafka settings of the super user (plaintext broker: the address alone)."""
        if not self.secure:
            return {"bootstrap.servers": self.bootstrap}
        return sasl_config(self.bootstrap, ADMIN, self.credentials().admin)

    def pipeline_env(self) -> dict[str, str]:
        """``CXPULSE_KAFKA_*`` of the pipeline principal (what cxpulse processes need)."""
        env = {"CXPULSE_KAFKA_BOOTSTRAP": self.bootstrap}
        if self.secure:
            env |= {
                "CXPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "CXPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "CXPULSE_KAFKA_SASL_USERNAME": PIPELINE,
                "CXPULSE_KAFKA_SASL_PASSWORD": self.credentials().pipeline,
            }
        return env

    def grant_pipeline(self, settings: Settings) -> None:
        """The pipeline principal's ACLs on the topics and groups of ``settings``."""
        if self.secure:
            apply_acls(AdminClient(self.admin_config()), pipeline_acls(settings))

    @property
    def _props(self) -> Path:
        return self.home / "server.properties"

    @property
    def _pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def _data(self) -> Path:
        return self.home / "data"

    @property
    def _logs(self) -> Path:
        return self.home / "logs"

    # -- jars -------------------------------------------------------------------------------

    def ensure_jars(self, progress: Callable[[str], None] = print) -> Path:
        """Return the broker's jar directory, resolving it with Maven only when incomplete.

        The marker holds the pom's hash: a pom change (version bump) triggers a fresh resolve.
        A ``CXPULSE_KAFKA_LIB`` directory that already has jars is used as given.
        """
        lib, overridden = _lib_dir()
        if overridden and any(lib.glob("*.jar")):
            return lib
        want = hashlib.sha256(POM.read_bytes()).hexdigest()
        marker = lib / _MARKER
        with _locked(lib / ".lock"):
            if marker.is_file() and marker.read_text().strip() == want:
                return lib
            mvn = _require("mvn")
            _require("java")
            marker.unlink(missing_ok=True)
            if not overridden:
                for old in lib.glob("*.jar"):  # drop jars of an older pom
                    old.unlink()
            progress(f"resolving Kafka jars from Maven Central into {lib} (first run: ~1 min)")
            cmd = [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",  # plain text for the error tail
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={lib}",
            ]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
            except subprocess.TimeoutExpired as e:
                raise KafkaLaunchError("mvn took over 30 min resolving the Kafka jars") from e
            if out.returncode != 0 or not any(lib.glob("kafka_2.13-*.jar")):
                tail = "\n".join((out.stdout + out.stderr).splitlines()[-30:])
                raise KafkaLaunchError(
                    f"mvn failed to resolve the Kafka jars (exit {out.returncode}):\n{tail}"
                )
            marker.write_text(want + "\n")
        return lib

    # -- lifecycle ---------------------------------------------------------------------------

    def _java(self, lib: Path, *args: str, heap: str | None = None) -> list[str]:
        jvm = [_require("java")]
        if heap:
            jvm.append(f"-Xmx{heap}")
        return [
            *jvm,
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self._logs}",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{lib}/*",
            *args,
        ]

    def _pid(self) -> int | None:
        """The pid of this home's running broker, or None (dropping a stale pid file)."""
        try:
            pid = int(self._pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid) and self._is_ours(pid):
            return pid
        self._pid_file.unlink(missing_ok=True)
        return None

    def _is_ours(self, pid: int) -> bool:
        """Guards against pid reuse: the process must be kafka.Kafka on this home's config."""
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return not Path("/proc/self").exists()  # no procfs: trust the pid file
        return b"kafka.Kafka" in argv and os.fsencode(self._props) in argv

    def _security_props(self) -> dict[str, str]:
        """SASL listeners and the authorizer (secure mode)."""
        pw = self.credentials().admin
        scram = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{ADMIN}" password="{pw}";'
        )
        plain = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{ADMIN}" password="{pw}" user_{ADMIN}="{pw}";'
        )
        return {
            "listeners": f"CLIENT://{_HOST}:{self.port},CONTROLLER://{_HOST}:{self.cport}",
            "advertised.listeners": f"CLIENT://{_HOST}:{self.port}",
            "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name": "CLIENT",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.client.sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "listener.name.client.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.client.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{ADMIN}",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _write_props(self) -> None:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{_HOST}:{self.cport}",
            "listeners": f"PLAINTEXT://{_HOST}:{self.port},CONTROLLER://{_HOST}:{self.cport}",
            "advertised.listeners": f"PLAINTEXT://{_HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self._data),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.secure:
            props |= self._security_props()
        text = "# written by infra/kafka_local.py on every start; edits are lost\n"
        text += "".join(f"{k}={v}\n" for k, v in props.items())
        tmp = self._props.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds passwords
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        tmp.replace(self._props)

    def _format(self, lib: Path) -> None:
        """Format the KRaft log dir once; ``meta.properties`` there means already formatted."""
        if (self._data / "meta.properties").is_file():
            return
        cid_file = self.home / "cluster.id"
        cid = cid_file.read_text().strip() if cid_file.is_file() else ""
        if not cid:
            cid = _new_cluster_id()
            cid_file.write_text(cid + "\n")
        # No --standalone: controller.quorum.voters already fixes the (static) quorum.
        cmd = self._java(
            lib,
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            cid,
            "-c",
            str(self._props),
            *self._scram_bootstrap(),
            heap="256m",
        )
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if out.returncode != 0:
            tail = "\n".join((out.stdout + out.stderr).splitlines()[-30:])
            raise KafkaLaunchError(f"formatting {self._data} failed:\n{tail}")

    def _check_mode(self) -> None:
        """A data dir formatted plain has no SCRAM users; one formatted secure must not
        come up open: either way, refuse before writing anything."""
        formatted = (self._data / "meta.properties").is_file()
        if formatted and self.secure != self.credentials_file.is_file():
            raise KafkaLaunchError(
                f"the broker in {self.home} was formatted "
                f"{'without' if self.secure else 'with'} --secure; start it the same "
                "way, or use another data dir"
            )

    def _scram_bootstrap(self) -> list[str]:
        """``--add-scram`` of the admin and pipeline users (secure mode): the broker needs
        the admin's credential before it can authenticate anyone."""
        if not self.secure:
            return []
        creds = self.credentials()
        return [
            arg
            for user, pw in ((ADMIN, creds.admin), (PIPELINE, creds.pipeline))
            for m in MECHANISMS
            for arg in ("--add-scram", f"{m}=[name={user},password={pw}]")
        ]

    def _broker_tail(self) -> str:
        parts = [
            f"--- {p} ---\n{t}"
            for p in (self._logs / "server.log", self._logs / "stdout.log")
            if (t := _tail(p))
        ]
        return "\n".join(parts) or "(the broker wrote no log)"

    def _wait_ready(self, pid: int, deadline: float) -> None:
        """Block until the broker serves metadata; fail fast if its process dies meanwhile."""
        admin: AdminClient | None = None
        while True:
            if not _alive(pid):
                raise KafkaLaunchError(
                    f"the Kafka broker (pid {pid}) exited during start-up:\n{self._broker_tail()}"
                )
            left = deadline - time.monotonic()
            # TCP first: an AdminClient pointed at a closed port floods stderr with retries.
            if _answers(self.port):
                if admin is None:
                    admin = AdminClient(self.admin_config())
                try:
                    md = admin.list_topics(timeout=max(0.5, min(2.0, left)))
                except KafkaException:
                    md = None
                if md is not None and md.brokers:
                    return
            if time.monotonic() >= deadline:
                raise KafkaLaunchError(
                    f"the Kafka broker (pid {pid}) did not answer on {self.bootstrap} in time:\n"
                    f"{self._broker_tail()}"
                )
            time.sleep(0.2)

    def up(self, timeout_s: float = 60) -> str:
        """Start the broker unless it already runs for this home; return the bootstrap address.

        The broker is detached (own session, output to ``home/logs``) so it outlives the caller;
        ``down()`` stops it. A port held by anything else is an error, never silently shared.
        """
        deadline = time.monotonic() + timeout_s
        self.home.mkdir(parents=True, exist_ok=True)
        with _locked(self.home / ".lock"):
            pid = self._pid()
            if pid is not None:
                if not _answers(self.port):  # started moments ago, still coming up
                    self._wait_ready(pid, deadline)
                return self.bootstrap
            for p in (self.port, self.cport):
                if not _port_free(p):
                    raise KafkaLaunchError(
                        f"port {_HOST}:{p} is in use by another process, not the cxpulse broker "
                        f"of {self.home}; stop it or choose other ports"
                    )
            lib = self.ensure_jars()
            self._logs.mkdir(parents=True, exist_ok=True)
            self._check_mode()
            self._write_props()
            self._format(lib)
            cmd = self._java(lib, "kafka.Kafka", str(self._props), heap=self.heap)
            with (self._logs / "stdout.log").open("ab") as out:
                proc = subprocess.Popen(
                    cmd,
                    cwd=self.home,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            _CHILDREN[proc.pid] = proc
            self._pid_file.write_text(f"{proc.pid}\n")
            try:
                self._wait_ready(proc.pid, deadline)
            except BaseException:
                self._stop(proc.pid, timeout_s=10)  # no half-started broker left behind
                raise
        return self.bootstrap

    def _stop(self, pid: int, timeout_s: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # controlled shutdown flushes logs and metadata
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid) and time.monotonic() < deadline + 10:
                time.sleep(0.05)
        self._pid_file.unlink(missing_ok=True)

    def down(self, timeout_s: float = 30) -> bool:
        """Stop this home's broker (SIGTERM, SIGKILL after ``timeout_s``); True if one ran."""
        if not self.home.is_dir():
            return False
        with _locked(self.home / ".lock"):
            pid = self._pid()
            if pid is None:
                return False
            self._stop(pid, timeout_s)
            return True

    def status(self) -> dict[str, object]:
        """A snapshot for the CLI: whether this home's broker runs, and where."""
        pid = self._pid() if self.home.is_dir() else None
        return {
            "running": pid is not None,
            "pid": pid,
            "bootstrap": self.bootstrap,
            "home": str(self.home),
            "secure": self.secure,
        }
