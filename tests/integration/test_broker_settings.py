"""Client settings chosen by what the broker supports, and keys partitioned as Java's clients
partition them, on the real broker of the suite (embedded or Apache Kafka)."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from shared.capabilities import adapt_to_broker, keeps_a_durable_log
from shared.kafka import consumer_config, ensure_topics, make_producer
from shared.topics import RAW_ROWS

pytestmark = pytest.mark.integration


def test_idempotence_and_compression_follow_the_broker_and_deliver(settings):
    decided = adapt_to_broker(settings)
    durable = keeps_a_durable_log(settings)
    assert decided.producer_idempotence is durable
    assert decided.producer_compression == ("zstd" if durable else "none")
    # what is set explicitly is kept
    kept = adapt_to_broker(settings.model_copy(update={"producer_idempotence": False,
                                                       "producer_compression": "lz4"}))  # fmt: skip
    assert (kept.producer_idempotence, kept.producer_compression) == (False, "lz4")
    ensure_topics(decided, [RAW_ROWS])
    producer = make_producer(decided)
    for index in range(50):
        producer.produce(decided.topic_name(RAW_ROWS), b"x" * 200, key=f"k{index}")
    assert producer.flush(30) == 0


def test_a_broker_that_does_not_answer_is_not_taken_for_one_without_a_log(settings):
    """Only an answer decides what the broker keeps: an address where no broker listens is
    asked again and then refused, never taken for the embedded broker (a cluster node that
    was restarting once made a service on Apache Kafka give up idempotence)."""
    from shared.broker import free_port

    nowhere = settings.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    with pytest.raises(TimeoutError, match="did not describe its configuration in 2 attempts"):
        keeps_a_durable_log(nowhere, timeout=1.0, attempts=2)


def test_keys_land_where_a_java_client_puts_them(settings):
    """Labels written by another Kafka client with Java's default partitioner (murmur2) must meet
    their rows: ours and a producer configured like Java's put every key in one partition."""
    ensure_topics(settings, [RAW_ROWS])
    topic = settings.topic_name(RAW_ROWS)
    java_like = Producer({"bootstrap.servers": settings.bootstrap_servers,
                          "partitioner": "murmur2_random"})  # fmt: skip
    ours = make_producer(settings)
    keys = [f"{n:04d}-CUST" for n in range(60)]
    for key in keys:
        ours.produce(topic, b"ours", key=key)
        java_like.produce(topic, b"java", key=key)
    assert ours.flush(30) == 0 and java_like.flush(30) == 0
    consumer = Consumer(consumer_config(settings, settings.group_id("partitions")))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(RAW_ROWS.partitions)])
    where: dict[tuple[str, bytes], int] = {}
    for _ in range(20):  # at most about 100 s
        if len(where) == 2 * len(keys):
            break
        for message in consumer.consume(500, timeout=5):
            if message.error() is None:
                where[(message.key().decode(), message.value())] = message.partition()
    consumer.close()
    assert all(where[(key, b"ours")] == where[(key, b"java")] for key in keys)
    assert len({where[(key, b"ours")] for key in keys}) == RAW_ROWS.partitions


def test_a_read_back_reads_everything_there_is(settings):
    """On Apache Kafka a read-back stops at each partition's high watermark; on the embedded
    broker after a quiet spell. Either way it returns every message, once."""
    from shared.tail import high_watermarks, read_back
    from shared.topics import ALERTS
    from tests.integration.test_loop import alert

    ensure_topics(settings, [ALERTS])
    producer = make_producer(settings)
    for index in range(300):
        producer.produce(settings.topic_name(ALERTS), ALERTS.encode(alert(index)), key=str(index))
    assert producer.flush(30) == 0
    found = read_back(settings, [ALERTS], quiet=1.0)
    assert sorted(int(m.value.subject) for m in found) == list(range(300))
    if keeps_a_durable_log(settings):
        assert high_watermarks(settings, [ALERTS]) == {(settings.topic_name(ALERTS), 0): 300}
