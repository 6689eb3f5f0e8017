"""Typed settings read from ``TRUSTWATCH_*`` environment variables.

Connection settings render the librdkafka configuration in one place; secrets are ``SecretStr`` so
they never appear in a repr, a log line or an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.eventtime import EventTimeBounds
from shared.topics import Topic

# A quarantine record's fields beside its excerpt and original (issues, names, times): at most.
QUARANTINE_RECORD_OVERHEAD = 16_384

# librdkafka properties of one kind of client only (CONFIGURATION.md marks them P and C)
PRODUCER_ONLY = frozenset({
    "acks", "request.required.acks", "enable.idempotence", "enable.gapless.guarantee",
    "transactional.id", "transaction.timeout.ms", "linger.ms", "queue.buffering.max.ms",
    "queue.buffering.max.messages", "queue.buffering.max.kbytes", "batch.num.messages",
    "batch.size", "compression.type", "compression.codec", "compression.level",
    "message.send.max.retries", "retries", "message.timeout.ms", "delivery.timeout.ms",
    "request.timeout.ms", "partitioner", "sticky.partitioning.linger.ms",
    "queue.buffering.backpressure.threshold", "delivery.report.only.error",
})  # fmt: skip
CONSUMER_ONLY = frozenset({
    "group.instance.id", "partition.assignment.strategy", "session.timeout.ms",
    "heartbeat.interval.ms", "group.protocol", "group.remote.assignor",
    "coordinator.query.interval.ms", "max.poll.interval.ms", "auto.commit.interval.ms",
    "queued.min.messages", "queued.max.messages.kbytes", "fetch.wait.max.ms",
    "fetch.queue.backoff.ms", "fetch.message.max.bytes", "max.partition.fetch.bytes",
    "fetch.max.bytes", "fetch.min.bytes", "fetch.error.backoff.ms", "isolation.level",
    "enable.partition.eof", "check.crcs", "auto.offset.reset",
})  # fmt: skip
# what the consumer loop's at-least-once delivery rests on: not for TRUSTWATCH_KAFKA_EXTRA_CONFIG
LOOP_OWNED = frozenset({"group.id", "enable.auto.commit", "enable.auto.offset.store"})


class Settings(BaseSettings):
    """Everything a trustwatch process can be told from its environment.

    Examples
    --------
    >>> s = Settings(bootstrap_servers="k:9092", sasl_password="hunter2")
    >>> "hunter2" in repr(s)
    False
    >>> s.kafka_config()["sasl.password"]
    'hunter2'
    """

    model_config = SettingsConfigDict(env_prefix="TRUSTWATCH_", frozen=True, extra="ignore")

    # Connection. Unset bootstrap servers means: start the embedded broker.
    bootstrap_servers: str | None = None
    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    kafka_extra_config: dict[str, str] = Field(
        default_factory=dict,
        description="Further librdkafka properties, as a JSON object.",
    )

    # Prefix of every topic and consumer group, so deployments can share a cluster.
    namespace: str = Field(default="trustwatch", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

    # Group membership. The embedded broker takes about half the session timeout to form a group.
    session_timeout_ms: int = Field(default=6000, ge=1000)
    heartbeat_interval_ms: int = Field(default=1000, ge=100)

    # Files.
    artifacts_dir: Path = Path("artifacts")
    policy_path: Path | None = None

    # Windows on the simulated event-time clock.
    simulation_start: datetime = datetime(2026, 3, 1, tzinfo=UTC)
    window_seconds: int = Field(default=86_400, gt=0)
    allowed_lateness_seconds: int = Field(default=0, ge=0)
    # Input quiet this long means the stream ended: open windows close. Longer than a restart of
    # an upstream service takes, or its pause would cut windows short (the demo, whose stream
    # does end, uses 2 s).
    idle_flush_seconds: float = Field(default=30.0, gt=0)
    # Row ids a monitor remembers per partition to drop rows published twice by a restarted
    # scorer: more than that re-reads (its rate per partition times the 5 s commit interval).
    dedupe_rows: int = Field(default=5_000, gt=0)
    # Partial windows a monitor's combiner replays when it takes over (about four per window):
    # the rolling views and confirmation span a few windows; ADWIN sees the last of them.
    restore_partials: int = Field(default=1_000, gt=0)
    # Plausible event time (shared.eventtime): from simulation_start less the horizon to, for a
    # replay or backfill, simulation_start plus the horizon, or, for a live stream, the wall clock
    # plus the skew. The scorer also refuses a row further than the skew ahead of the newest row
    # of its partition, until this many rows in a row agree that the stream jumped.
    event_time_horizon_days: float = Field(default=3_650, gt=0)
    event_time_max_skew_seconds: int = Field(default=7 * 86_400, gt=0)
    event_time_live: bool = False
    event_time_jump_rows: int = Field(default=20, gt=0)

    # Producers: idempotent (several requests in flight, a broker that dedupes retries) and
    # compressed. None: decided at start by what the broker supports (shared.capabilities):
    # Apache Kafka keeps its log and producer state on disk; the embedded broker does not, and an
    # idempotent producer dies with its restart.
    producer_idempotence: bool | None = None
    producer_compression: str | None = Field(default=None, pattern=r"^(none|gzip|snappy|lz4|zstd)$")

    # Topics as the services create them when missing (existing topics are left as they are).
    # Production Kafka: replication factor 3 and min.insync.replicas 2, with acks=all producers.
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int | None = Field(default=None, ge=1)
    # Partial windows are kept this long (the combiners replay the last of them after a restart;
    # longer than a few windows).
    partials_retention_hours: float = Field(default=168.0, gt=0)

    # Processing.
    # Messages read and handled at once, at most (fewer when fewer are waiting: no latency cost).
    # The scorer's model and the monitors' numpy summaries pay a cost per call: 2,000 rows a batch
    # moved the whole pipeline about a sixth faster than 500 on two cores.
    batch_size: int = Field(default=2_000, gt=0)
    # What a consumer fetches ahead of the loop, at most (librdkafka queued.max.messages.kbytes):
    # a service that lags its input holds this much, whatever the window size. librdkafka's
    # default is 64 MiB; 8 MiB halved a relay's throughput on the embedded broker (fetches wait
    # on the queue to drain), 32 MiB keeps it within about a tenth of the default's.
    consumer_prefetch_kbytes: int = Field(default=32_768, ge=1_024)
    max_payload_bytes: int = Field(default=16_384, gt=0)
    # what the services write for one another (partial windows, signals) is bounded by the
    # monitors' summaries, whatever the window's row count: 256 KiB
    max_internal_payload_bytes: int = Field(default=262_144, gt=0)
    quarantine_payload_chars: int = Field(default=2_048, gt=0)
    # A quarantine record keeps the original message (value, key, headers) up to this many bytes
    # for a replay; a longer one is kept cut, with its full size and hash. With the excerpt above
    # the record stays within max_internal_payload_bytes (checked below).
    quarantine_original_bytes: int = Field(default=65_536, gt=0)
    # Predictions waiting for a late label (and labels waiting for their row), at most.
    label_buffer_rows: int = Field(default=200_000, gt=0)

    # The alerter's history of signals, alerts and decisions (SQLite); retention in event time.
    history_path: Path = Path("trustwatch-history.sqlite")
    history_retention_days: float | None = Field(default=None, gt=0)

    # Alertmanager (its v2 API) that the notifier sends every problem's lifecycle to; unset: no
    # notifier. An open problem is sent again this often (Alertmanager forgets an alert that is
    # not re-sent before its end time: four times this interval), and a failed send is retried
    # with a backoff doubling from 1 s up to this interval.
    alertmanager_url: str | None = Field(default=None, pattern=r"^https?://")
    alertmanager_resend_seconds: float = Field(default=60.0, gt=0)
    # Alertmanager's group_wait (deploy/alertmanager/alertmanager.yml): a problem is sent as
    # firing at least this long before its resolution, or one that resolved fast is never notified
    alertmanager_group_wait_seconds: float = Field(default=30.0, ge=0)
    # Where the runbooks are read: every alert's runbook_url is this and an anchor per alert
    # type (docs/runbooks.md in the repository; point it at your hosted copy).
    runbook_url: str = "docs/runbooks.md"

    # Metrics endpoint of this process; port 0 disables it.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)

    def topic_name(self, topic: Topic) -> str:
        """The topic's name on the broker.

        >>> from shared.topics import ALERTS
        >>> Settings(namespace="staging").topic_name(ALERTS)
        'staging.alerts'
        """
        return f"{self.namespace}.{topic.name}"

    @model_validator(mode="after")
    def _event_time_representable(self) -> Settings:
        try:
            self.event_time_bounds()
        except ValueError as exc:
            raise ValueError(
                f"TRUSTWATCH_EVENT_TIME_HORIZON_DAYS, TRUSTWATCH_SIMULATION_START: {exc}"
            ) from None
        return self

    def event_time_bounds(self) -> EventTimeBounds:
        return EventTimeBounds(
            self.simulation_start,
            timedelta(days=min(self.event_time_horizon_days, 10_000_000)),
            timedelta(seconds=self.event_time_max_skew_seconds),
            self.event_time_live,
        )

    def group_id(self, base: str) -> str:
        return f"{self.namespace}-{base}"

    def kafka_config(self) -> dict[str, Any]:
        """librdkafka properties common to producers, consumers and admin clients."""
        if not self.bootstrap_servers:
            raise RuntimeError(
                "No broker: set TRUSTWATCH_BOOTSTRAP_SERVERS or start one with `trustwatch broker`"
            )
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        optional = {
            "security.protocol": self.security_protocol,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        for key, value in optional.items():
            if value is None:
                continue
            config[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
        config.update(self.extra_config())
        return config

    def extra_config(self, role: str | None = None) -> dict[str, str]:
        """The ``TRUSTWATCH_KAFKA_EXTRA_CONFIG`` properties for one kind of client (``producer``
        or ``consumer``; None: those every client takes). They win over trustwatch's defaults;
        a producer's properties stay out of consumers and admin clients, and the other way
        round."""
        other = {"producer": CONSUMER_ONLY, "consumer": PRODUCER_ONLY}.get(
            role or "", PRODUCER_ONLY | CONSUMER_ONLY
        )
        return {k: v for k, v in self.kafka_extra_config.items() if k not in other}

    @model_validator(mode="after")
    def _quarantine_records_fit_their_topic(self) -> Settings:
        # base64 takes 4 bytes for 3; an excerpt's character takes at most 6 as JSON (\u0000)
        largest = self.quarantine_original_bytes * 4 // 3 + 6 * self.quarantine_payload_chars
        if largest + QUARANTINE_RECORD_OVERHEAD > self.max_internal_payload_bytes:
            raise ValueError(
                f"a quarantine record could take {largest + QUARANTINE_RECORD_OVERHEAD} bytes, "
                f"more than TRUSTWATCH_MAX_INTERNAL_PAYLOAD_BYTES "
                f"({self.max_internal_payload_bytes}): lower TRUSTWATCH_QUARANTINE_ORIGINAL_BYTES "
                "or TRUSTWATCH_QUARANTINE_PAYLOAD_CHARS, or raise the limit"
            )
        return self

    @model_validator(mode="after")
    def _extra_config_leaves_the_loop_its_offsets(self) -> Settings:
        owned = sorted(LOOP_OWNED & self.kafka_extra_config.keys())
        if owned:
            raise ValueError(
                f"TRUSTWATCH_KAFKA_EXTRA_CONFIG sets {', '.join(owned)}: the services store and "
                "commit offsets themselves (after every output is delivered); remove it"
            )
        return self

    def describe(self) -> dict[str, Any]:
        """Connection settings safe to print: secrets masked."""
        shown = self.kafka_config() if self.bootstrap_servers else {}
        secret_keys = {"sasl.password", "ssl.key.password"}
        return {
            k: ("***" if k in secret_keys or "password" in k or "secret" in k else v)
            for k, v in shown.items()
        }
