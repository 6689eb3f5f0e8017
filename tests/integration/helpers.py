"""Reading and writing topics in tests."""

from __future__ import annotations

import threading
import time

from shared.kafka import make_producer
from shared.settings import Settings
from shared.tail import tail
from shared.topics import Topic


def publish_raw(settings: Settings, topic: Topic, payloads: list[bytes], key: str = "k") -> None:
    producer = make_producer(settings)
    for payload in payloads:
        producer.produce(settings.topic_name(topic), payload, key=key)
    assert producer.flush(30) == 0


def publish(settings: Settings, topic: Topic, messages, key: str | None = None) -> None:
    publish_raw(settings, topic, [topic.encode(m) for m in messages], key=key or "k")


def read_all(settings: Settings, topic: Topic, expected: int | None = None, timeout: float = 30.0,
             quiet: float = 1.5) -> list:  # fmt: skip
    """Messages of ``topic``: stops at ``expected`` or after ``quiet`` seconds without new ones."""
    stop = threading.Event()
    found: list = []
    last = time.monotonic()
    deadline = last + timeout

    def watchdog() -> None:
        while not stop.is_set():
            now = time.monotonic()
            if now > deadline or (expected is None and found and now - last > quiet):
                stop.set()
            if expected is None and not found and now - last > max(quiet, 5.0):
                stop.set()
            time.sleep(0.1)

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    for message in tail(settings, [topic], stop):
        found.append(message.value)
        last = time.monotonic()
        if expected is not None and len(found) >= expected:
            stop.set()
    return found
