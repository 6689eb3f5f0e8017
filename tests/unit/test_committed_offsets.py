"""Asking a group's committed offsets while its coordinator is not ready: asked again, as Kafka's
protocol says, instead of killing the service at start (seen on a fresh Apache Kafka broker, where
the first group to ask creates the offsets topic)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from shared.kafka import committed_offsets, watermark_offsets


class ComingUp:
    """A consumer whose ``committed`` and ``get_watermark_offsets`` fail with ``errors`` first,
    then answer."""

    def __init__(self, *errors: int):
        self.errors = list(errors)
        self.asked = 0

    def _ask(self):
        self.asked += 1
        if self.errors:
            raise KafkaException(KafkaError(self.errors.pop(0)))

    def committed(self, partitions, timeout):
        self._ask()
        return [TopicPartition(p.topic, p.partition, 42) for p in partitions]

    def get_watermark_offsets(self, partition, timeout):
        self._ask()
        return (3, 17)


def test_a_coordinator_not_ready_is_asked_again_until_it_answers():
    consumer = ComingUp(KafkaError.NOT_COORDINATOR,
                                   KafkaError.COORDINATOR_LOAD_IN_PROGRESS)  # fmt: skip
    (found,) = committed_offsets(consumer, [TopicPartition("t", 0)], timeout=10)
    assert (found.offset, consumer.asked) == (42, 3)


def test_other_errors_and_a_coordinator_that_never_comes_are_raised():
    refused = ComingUp(KafkaError.GROUP_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        committed_offsets(refused, [TopicPartition("t", 0)], timeout=10)
    assert refused.asked == 1
    never = ComingUp(*[KafkaError.NOT_COORDINATOR] * 100)
    with pytest.raises(KafkaException):
        committed_offsets(never, [TopicPartition("t", 0)], timeout=1.0)
    assert 2 <= never.asked < 10


def test_watermarks_are_asked_again_while_a_partition_has_no_leader():
    """On a fresh three-node cluster the alerter died asking the watermarks of a topic just
    created (the request timed out while its leader was elected)."""
    consumer = ComingUp(KafkaError._TIMED_OUT, KafkaError.LEADER_NOT_AVAILABLE,
                        KafkaError._DESTROY_BROKER)  # fmt: skip
    assert watermark_offsets(consumer, TopicPartition("t", 0), timeout=10) == (3, 17)
    assert consumer.asked == 4
    refused = ComingUp(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        watermark_offsets(refused, TopicPartition("t", 0), timeout=10)
    assert refused.asked == 1
