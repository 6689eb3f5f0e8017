"""Apache Kafka on loopback, for users without Docker and for the test suites: the broker's jars
from Maven Central (``deploy/kafka/pom.xml``, fetched once with ``mvn`` into a cache), storage
formatted, and one KRaft node (broker and controller) run with the settings of
``docker-compose.yml``'s ``kafka`` service, so that the two cannot drift apart: only the
listeners (loopback ports) and the data directory differ.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import yaml

from shared.broker import BrokerProcess, free_port

PROJECT = Path(__file__).resolve().parents[1]
POM = PROJECT / "deploy" / "kafka" / "pom.xml"
COMPOSE = PROJECT / "docker-compose.yml"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trustwatch"
# what differs between the compose service and a broker on loopback
LOOPBACK_KEYS = ("listeners", "advertised.listeners", "controller.quorum.voters", "log.dirs")


class KafkaUnavailable(RuntimeError):
    """Apache Kafka cannot be fetched or started here; the message says what to install."""


def kafka_version(pom: Path = POM) -> str:
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if not found:
        raise KafkaUnavailable(f"{pom} names no kafka.version")
    return found.group(1)


def compose_properties(compose: Path = COMPOSE) -> dict[str, str]:
    """The ``kafka`` service's ``KAFKA_*`` environment of the compose file, as broker
    properties (``KAFKA_NODE_ID`` is ``node.id``)."""
    service = yaml.safe_load(compose.read_text())["services"]["kafka"]
    environment = service.get("environment", {})
    return {
        name.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for name, value in environment.items()
        if name.startswith("KAFKA_")
    }


def fetch(version: str | None = None) -> Path:
    """The directory of the broker's jars, fetched with ``mvn`` the first time."""
    version = version or kafka_version()
    libs = CACHE / f"apache-kafka-{version}" / "libs"
    done = libs / ".complete"
    if done.exists():
        return libs
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        raise KafkaUnavailable(
            f"Apache Kafka needs {' and '.join(missing)}: install a Java 17+ runtime and Maven "
            "(Debian: apt-get install openjdk-17-jre-headless maven)"
        )
    libs.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs}", "-DincludeScope=runtime", f"-Dkafka.version={version}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if fetched.returncode:
        last = (fetched.stdout + fetched.stderr).strip().splitlines()[-1:] or ["no output"]
        raise KafkaUnavailable(f"mvn could not fetch Apache Kafka {version}: {last[0]}")
    done.touch()
    return libs


def cluster_id() -> str:
    """A new cluster id as Kafka writes them: 16 random bytes, URL-safe base64 unpadded.

    Like Kafka's ``Uuid.randomUuid``, an id that would begin with ``-`` is drawn again: one in 64
    does, and a command line takes it for an option.
    """
    while True:
        drawn = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not drawn.startswith("-"):
            return drawn


class ApacheKafka(BrokerProcess):
    """One KRaft node on loopback, data in a temporary directory (kept until stopped).

    ``overrides`` are further broker properties (a cluster's node ids and voters, say).
    """

    name = "apache kafka"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        overrides: dict[str, str] | None = None,
        cluster: str | None = None,
    ):
        super().__init__(host, port, log_path)
        self.controller_port = free_port(host)
        self.overrides = overrides or {}
        self.cluster = cluster or cluster_id()  # the nodes of one cluster share it
        self.data_dir = Path(tempfile.mkdtemp(prefix="trustwatch-kafka-"))

    def properties(self) -> dict[str, str]:
        node = compose_properties() | {k: v for k, v in self.overrides.items() if k == "node.id"}
        loopback = {
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.quorum.voters": f"{node.get('node.id', '1')}@{self.host}:"
            f"{self.controller_port}",
            "log.dirs": str(self.data_dir / "data"),
        }
        return node | loopback | self.overrides

    def command(self) -> list[str]:
        classpath = f"{fetch()}/*"
        config = self.write_config()
        if not (self.data_dir / "data" / "meta.properties").exists():
            self.format_storage(classpath, config)
        return ["java", "-Xmx768m", "-cp", classpath, "kafka.Kafka", str(config)]

    def write_config(self) -> Path:
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        return config

    def format_storage(self, classpath: str, config: Path) -> None:
        """Write the node's ``meta.properties`` for ``self.cluster``. The id is passed joined to
        its option, so that one given from outside that begins with ``-`` is still a value."""
        formatted = subprocess.run(
            ["java", "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={self.cluster}", "--config", str(config)],
            capture_output=True, text=True,
        )  # fmt: skip
        if formatted.returncode:
            raise KafkaUnavailable(f"formatting Kafka's storage failed: {formatted.stderr}")

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout)
        shutil.rmtree(self.data_dir, ignore_errors=True)


class KafkaCluster:
    """``size`` KRaft nodes on loopback, each broker and controller, for replication and
    failover: internal topics replicated to every node, two in sync needed to write."""

    def __init__(self, size: int = 3):
        cluster = cluster_id()
        self.nodes = [ApacheKafka(cluster=cluster) for _ in range(size)]
        voters = ",".join(
            f"{i}@{node.host}:{node.controller_port}" for i, node in enumerate(self.nodes, 1)
        )
        in_sync = str(min(2, size))
        for i, node in enumerate(self.nodes, 1):
            node.overrides = {
                "node.id": str(i),
                "controller.quorum.voters": voters,
                "offsets.topic.replication.factor": str(size),
                "transaction.state.log.replication.factor": str(size),
                "transaction.state.log.min.isr": in_sync,
                "min.insync.replicas": in_sync,
                # a dead node is noticed in seconds, not the default nine (loopback only)
                "broker.session.timeout.ms": "3000",
                "broker.heartbeat.interval.ms": "1000",
            }

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def node(self, node_id: int) -> ApacheKafka:
        return self.nodes[node_id - 1]

    def active_controller(self) -> int:
        """The node id of the KRaft quorum's leader, the active controller, as the running nodes
        last recorded it (``quorum-state`` of the metadata log; the highest epoch wins): Kafka's
        admin protocol names a random broker as the controller of a KRaft cluster."""
        leader, epoch = -1, -1
        for node in self.nodes:
            state = node.data_dir / "data" / "__cluster_metadata-0" / "quorum-state"
            try:
                recorded = json.loads(state.read_text()) if node.pid else {}
            except (OSError, ValueError):
                continue
            if recorded.get("leaderId", -1) > 0 and recorded.get("leaderEpoch", -1) > epoch:
                leader, epoch = recorded["leaderId"], recorded["leaderEpoch"]
        if leader < 0:
            raise RuntimeError("no running node has recorded a quorum leader")
        return leader

    def wait_ready(self, timeout: float = 120.0) -> KafkaCluster:
        """Every node answering and registered with the controller as a live broker (a broker
        answers before it is unfenced); a stopped one is started again."""
        import time

        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        for node in self.nodes:
            if node.pid is None:
                node.launch()
        for node in self.nodes:
            node.wait_ready(timeout)
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                registered = len(admin.list_topics(timeout=5).brokers)
            except KafkaException:
                registered = 0  # not answering yet
            if registered == len(self.nodes):
                return self
            time.sleep(0.5)
        raise TimeoutError(f"not every node of the cluster registered within {timeout}s")

    def start(self, timeout: float = 120.0) -> KafkaCluster:
        fetch()
        for node in self.nodes:
            node.launch()
        return self.wait_ready(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
