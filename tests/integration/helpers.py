"""Reading and writing topics in tests."""

from __future__ import annotations

import threading
import time

from shared.kafka import make_producer
from shared.settings import Settings
from shared.tail import read_back, tail
from shared.topics import Topic


def publish_raw(settings: Settings, topic: Topic, payloads: list[bytes | None],
                key: str = "k") -> None:  # fmt: skip
    """Payloads as they are (None: a tombstone), without headers."""
    producer = make_producer(settings)
    for payload in payloads:
        producer.produce(settings.topic_name(topic), payload, key=key)
    assert producer.flush(30) == 0


def publish(settings: Settings, topic: Topic, messages, key: str | None = None) -> None:
    publish_raw(settings, topic, [topic.encode(m) for m in messages], key=key or "k")


def read_all(settings: Settings, topic: Topic, expected: int | None = None, timeout: float = 30.0,
             quiet: float = 1.5) -> list:  # fmt: skip
    """Messages of ``topic``: the first ``expected`` (waiting for them at most ``timeout``
    seconds), else all there are now, as the services read back: to each partition's high
    watermark on Apache Kafka, and on the embedded broker, whose end offsets are wrong, until
    ``quiet`` seconds without a new one."""
    if expected is None:
        found = read_back(settings, [topic], quiet=quiet, first_wait=max(quiet, 5.0))
        return [message.value for message in found]
    stop = threading.Event()
    found: list = []
    last = time.monotonic()
    deadline = last + timeout

    def watchdog() -> None:
        while not stop.is_set():
            now = time.monotonic()
            if now > deadline:
                stop.set()
            time.sleep(0.1)

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    for message in tail(settings, [topic], stop):
        found.append(message.value)
        last = time.monotonic()
        if len(found) >= expected:
            stop.set()
    return found


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment of a service process that talks to the test's broker and namespace."""
    import os

    return os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers or "",
        "TRUSTWATCH_NAMESPACE": settings.namespace,
        "TRUSTWATCH_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "TRUSTWATCH_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "TRUSTWATCH_HEARTBEAT_INTERVAL_MS": str(settings.heartbeat_interval_ms),
        "TRUSTWATCH_IDLE_FLUSH_SECONDS": str(settings.idle_flush_seconds),
        **extra,
    }


def start_service(settings: Settings, *arguments: str, log_path=None, **extra: str):
    """``trustwatch <arguments>`` as its own process, as a user would start it."""
    import subprocess
    import sys

    from shared.process import stop_with_parent

    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "trustwatch", *arguments],
        env=service_env(settings, **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=stop_with_parent,  # a failed test leaves no service running
    )


class Collector:
    """Follows topics in the background and keeps what arrives."""

    def __init__(self, settings: Settings, topics: list[Topic]):
        self.stop = threading.Event()
        self.values: list = []
        self._thread = threading.Thread(
            target=self._run, args=(settings, topics), daemon=True, name="collector"
        )
        self._thread.start()

    def _run(self, settings: Settings, topics: list[Topic]) -> None:
        for message in tail(settings, topics, self.stop):
            self.values.append(message.value)

    def wait_for(self, predicate, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.values)):
                return True
            time.sleep(0.1)
        return False

    def wait_quiet(self, seconds: float = 3.0, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        count, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if len(self.values) != count:
                count, since = len(self.values), time.monotonic()
            elif time.monotonic() - since >= seconds:
                return
            time.sleep(0.1)

    def close(self) -> list:
        self.stop.set()
        self._thread.join(timeout=10)
        return list(self.values)
