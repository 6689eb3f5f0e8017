"""One real broker for the whole session.

``TRUSTWATCH_BOOTSTRAP_SERVERS`` if set; else a Kafka container where a Docker engine answers;
else the embedded broker. Each test isolates itself with its own namespace of topics and groups.
"""

from __future__ import annotations

import os
import uuid

import pytest

from shared.settings import Settings

pytestmark = pytest.mark.integration


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - any failure means: no engine to use
        return False
    return True


@pytest.fixture(scope="session")
def bootstrap_servers():
    external = os.environ.get("TRUSTWATCH_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if os.environ.get("TRUSTWATCH_TEST_BROKER") == "kafka":  # Apache Kafka, as `make kafka` runs it
        from shared.apache_kafka import ApacheKafka

        kafka = ApacheKafka().start(timeout=120)  # the first start fetches the jars
        try:
            yield kafka.bootstrap_servers
        finally:
            kafka.stop()
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from shared.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(bootstrap_servers, namespace, artifacts_dir, tmp_path) -> Settings:
    return Settings(
        bootstrap_servers=bootstrap_servers,
        namespace=namespace,
        artifacts_dir=artifacts_dir,
        history_path=tmp_path / "history.sqlite",
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        idle_flush_seconds=1.0,
        batch_size=200,
    )
