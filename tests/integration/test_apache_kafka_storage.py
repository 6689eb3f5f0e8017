"""Formatting an Apache Kafka node's storage, with the jars from Maven Central."""

from __future__ import annotations

import os
import shutil

import pytest

from shared.apache_kafka import ApacheKafka, fetch


@pytest.mark.parametrize("cluster", ["-leadingDashIsAValue00", "plainClusterIdValue000"])
def test_storage_is_formatted_for_any_cluster_id(cluster):
    """A cluster id given from outside may begin with ``-`` (a user's, or one drawn before
    ids were drawn again); Kafka's storage tool must still take it as the id."""
    if os.environ.get("TRUSTWATCH_TEST_BROKER") != "kafka":
        pytest.skip("runs with the suites on Apache Kafka (make integration-kafka)")
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("needs java and mvn (Apache Kafka from Maven Central)")
    node = ApacheKafka(cluster=cluster)
    try:
        node.format_storage(f"{fetch()}/*", node.write_config())
        meta = (node.data_dir / "data" / "meta.properties").read_text().splitlines()
        assert f"cluster.id={cluster}" in meta
    finally:
        node.stop()
