from pathlib import Path

import pytest

from shared.policy import PolicyError, default_policy_path, load_policy
from shared.settings import Settings
from shared.topics import ALERTS, ALL_TOPICS


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("TRUSTWATCH_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("TRUSTWATCH_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TRUSTWATCH_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TRUSTWATCH_SASL_USERNAME", "svc")
    monkeypatch.setenv("TRUSTWATCH_SASL_PASSWORD", "s3cret-value")
    monkeypatch.setenv("TRUSTWATCH_KAFKA_EXTRA_CONFIG", '{"client.id": "tw", "x.secret": "zz"}')
    settings = Settings()
    config = settings.kafka_config()
    assert config["bootstrap.servers"] == "kafka:9092"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "s3cret-value"
    assert config["client.id"] == "tw"
    # secrets never show in a repr or in what is printed
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings)
    shown = settings.describe()
    assert shown["sasl.password"] == "***" and shown["x.secret"] == "***"
    assert "s3cret-value" not in str(shown)


def test_settings_without_a_broker_say_how_to_get_one(monkeypatch):
    monkeypatch.delenv("TRUSTWATCH_BOOTSTRAP_SERVERS", raising=False)
    with pytest.raises(RuntimeError, match="trustwatch broker"):
        Settings().kafka_config()


def test_namespace_prefixes_topics_and_groups():
    settings = Settings(namespace="staging")
    assert settings.topic_name(ALERTS) == "staging.alerts"
    assert settings.group_id("scorer") == "staging-scorer"
    with pytest.raises(ValueError):
        Settings(namespace="bad name")


def test_topics_are_named_once_with_partitions():
    names = [t.name for t in ALL_TOPICS]
    assert len(names) == len(set(names))
    assert all(t.partitions >= 1 for t in ALL_TOPICS)


def test_packaged_policy_loads():
    policy = load_policy()
    assert policy.drift.psi_medium < policy.drift.psi_high
    assert policy.fairness.gap_interval == "newcombe"


def test_bad_policy_key_is_named(tmp_path: Path):
    text = default_policy_path().read_text().replace("psi_high:", "psi_hihg:")
    bad = tmp_path / "policy.yaml"
    bad.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(bad)
    assert "drift.psi_hihg" in str(caught.value) and "drift.psi_high" in str(caught.value)


def test_inconsistent_policy_is_refused(tmp_path: Path):
    text = default_policy_path().read_text().replace("psi_high: 0.25", "psi_high: 0.05")
    bad = tmp_path / "policy.yaml"
    bad.write_text(text)
    with pytest.raises(PolicyError, match="psi_high must be above"):
        load_policy(bad)


def test_unreadable_policy(tmp_path: Path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_extra_config_wins_and_goes_only_to_the_clients_that_take_it():
    """With {"enable.idempotence": "true", "linger.ms": "50"} the producer gets true and 50 (not
    our false and 5); consumer and admin configs get no producer keys, and the other way round."""
    from confluent_kafka import Consumer, Producer

    from shared.kafka import consumer_config, producer_config

    extra = {"enable.idempotence": "true", "linger.ms": "50", "fetch.wait.max.ms": "10",
             "auto.offset.reset": "latest", "client.id": "tw"}  # fmt: skip
    settings = Settings(bootstrap_servers="127.0.0.1:1", kafka_extra_config=extra)
    producer = producer_config(settings)
    consumer = consumer_config(settings, "g")
    admin = settings.kafka_config()
    assert (producer["enable.idempotence"], producer["linger.ms"]) == ("true", "50")
    assert "fetch.wait.max.ms" not in producer and "auto.offset.reset" not in producer
    assert (consumer["fetch.wait.max.ms"], consumer["auto.offset.reset"]) == ("10", "latest")
    assert "linger.ms" not in consumer and "enable.idempotence" not in consumer
    assert not ({"linger.ms", "fetch.wait.max.ms", "enable.idempotence"} & admin.keys())
    assert producer["client.id"] == consumer["client.id"] == admin["client.id"] == "tw"
    # librdkafka takes each as it is (a key of the wrong kind would only be warned about)
    Producer(producer)
    Consumer(consumer).close()


@pytest.mark.parametrize("key", ["enable.auto.offset.store", "enable.auto.commit", "group.id"])
def test_extra_config_cannot_take_the_offsets_from_the_loop(key):
    with pytest.raises(ValueError, match=f"sets {key}"):
        Settings(kafka_extra_config={key: "true"})


def test_topics_are_created_with_the_configured_replicas_and_partial_retention():
    from shared.kafka import topic_config
    from shared.topics import DRIFT_WINDOWS, RAW_ROWS

    settings = Settings(topic_min_insync_replicas=2, partials_retention_hours=24)
    assert topic_config(settings, RAW_ROWS) == {"min.insync.replicas": "2"}
    assert topic_config(settings, DRIFT_WINDOWS) == {
        "min.insync.replicas": "2", "retention.ms": str(24 * 3_600_000)
    }  # fmt: skip
    assert topic_config(Settings(), RAW_ROWS) == {}
    from shared.topics import ALERTS

    assert topic_config(Settings(), ALERTS) == {"cleanup.policy": "compact"}
