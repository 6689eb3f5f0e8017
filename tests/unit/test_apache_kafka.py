"""`make kafka` runs the compose file's kafka service: the same version and settings."""

import re

import yaml

from shared.apache_kafka import COMPOSE, ApacheKafka, cluster_id, compose_properties, kafka_version


def test_the_compose_image_and_the_maven_broker_are_one_version():
    image = yaml.safe_load(COMPOSE.read_text())["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{kafka_version()}"


def test_the_loopback_broker_takes_every_compose_setting_but_listeners_and_data():
    compose = compose_properties()
    assert compose["node.id"] == "1" and compose["process.roles"] == "broker,controller"
    kafka = ApacheKafka(port=19092)
    try:
        properties = kafka.properties()
    finally:
        kafka.stop()
    differing = {k for k in compose if properties[k] != compose[k]}
    assert differing == {"listeners", "advertised.listeners", "controller.quorum.voters",
                         "log.dirs"}  # fmt: skip
    assert properties["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"


def test_a_cluster_id_is_sixteen_bytes_of_url_safe_base64():
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id())


def test_no_cluster_id_begins_with_a_dash_as_kafka_draws_them():
    """One id in 64 would; a command line then reads it as an option, as CI once saw."""
    drawn = [cluster_id() for _ in range(2000)]
    assert not [i for i in drawn if i.startswith("-")]
    assert len(set(drawn)) == len(drawn)
