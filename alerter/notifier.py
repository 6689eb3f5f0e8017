"""The notifier: every problem's lifecycle on the alert topic, sent to Alertmanager.

A service of its own, so that an Alertmanager that is down never holds up the alerter; the alert
topic stays the record. It reads the alert and decision topics, keeps what Alertmanager must know
(``alerter.notifications``) and posts it to Alertmanager's v2 API: changes at once, open problems
again every resend interval, failed posts again with a backoff. At start it reads both topics
back to rebuild the open problems and sends them again: Alertmanager's notification log keeps a
problem it has notified from being notified twice.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from alerter.notifications import Notice, Notifications
from model.artifact import load_metadata, resolve_version_dir
from shared.errors import ConfigurationError
from shared.handler import Handler, Inbound, Outbound
from shared.loop import ConsumerLoop, LoopStats
from shared.metrics import LoopMetrics
from shared.schemas import Alert, Decision
from shared.service import run_service
from shared.settings import Settings
from shared.tail import read_back
from shared.topics import ALERTS, DECISIONS

log = logging.getLogger(__name__)

GROUP_ID = "notifier"
POST_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_SECONDS = 1.0
# what is due is looked at this often while the topics are quiet
CHECK_SECONDS = 1.0


class AlertmanagerError(Exception):
    """A post that did not go through; ``retry`` says whether sending it again can help."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


def post_alerts(url: str, alerts: Sequence[dict], timeout: float = POST_TIMEOUT_SECONDS) -> None:
    """``POST /api/v2/alerts``: Alertmanager takes a list of alerts and answers 200."""
    request = urllib.request.Request(  # noqa: S310 - the configured Alertmanager, http(s) only
        f"{url.rstrip('/')}/api/v2/alerts",
        data=json.dumps(list(alerts)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")[:500]
        # a refused alert stays refused; a server in trouble may take it later
        raise AlertmanagerError(f"HTTP {exc.code}: {body}", retry=exc.code >= 500) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertmanagerError(f"unreachable ({reason})", retry=True) from None


class NotifierMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.sent = Counter(
            "trustwatch_notifications_sent", "Alerts Alertmanager accepted, by state sent.",
            ["state"], registry=registry,
        )  # fmt: skip
        self.failures = Counter(
            "trustwatch_notification_failures",
            "Posts to Alertmanager that failed, by whether they are tried again.",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.open = Gauge(
            "trustwatch_notifications_open_problems", "Open problems the notifier keeps sending.",
            registry=registry,
        )  # fmt: skip
        self.reachable = Gauge(
            "trustwatch_alertmanager_reachable",
            "1 when the last post to Alertmanager went through.", registry=registry,
        )  # fmt: skip
        # every series from the start, at 0: increase() sees the first one
        for state in ("firing", "resolved"):
            self.sent.labels(state)
        for outcome in ("retried", "dropped"):
            self.failures.labels(outcome)


class NotifierHandler(Handler):
    """Applies the topics' messages and posts what is due, with a backoff after failures."""

    def __init__(
        self,
        notifications: Notifications,
        url: str,
        metrics: NotifierMetrics | None = None,
        post=post_alerts,
        clock=time.monotonic,
    ):
        self.notifications = notifications
        self.url = url
        self.metrics = metrics
        self.post = post
        self.clock = clock
        self.failures = 0
        self.next_attempt = 0.0

    def apply(self, value: object, published: datetime) -> None:
        if isinstance(value, Alert):
            self.notifications.apply_alert(value, published)
        elif isinstance(value, Decision):
            self.notifications.apply_decision(value)

    def handle(self, batch: Sequence[Inbound]) -> Sequence[Outbound]:
        for inbound in batch:
            if not self.notifications.seen(inbound.partition_key, inbound.offset):
                self.apply(inbound.value, _published(inbound.timestamp_ms))
        self.send_due()
        return ()

    def on_idle(self) -> Sequence[Outbound]:
        self.send_due()
        return ()

    def send_due(self) -> int:
        """Post what is due unless backing off; return how many Alertmanager accepted."""
        now = self.clock()
        if now < self.next_attempt:
            return 0
        due = self.notifications.due(now)
        if self.metrics is not None:
            self.metrics.open.set(len(self.notifications.open))
        if not due:
            return 0
        wall = datetime.now(tz=UTC)
        resend = self.notifications.resend_seconds
        resolutions = [self.notifications.resolution(notice, now) for notice in due]
        alerts = [notice.postable(wall, resend, resolution)
                  for notice, resolution in zip(due, resolutions, strict=True)]  # fmt: skip
        try:
            self.post(self.url, alerts)
        except AlertmanagerError as exc:
            return self._failed(due, exc, now)
        if self.failures:
            log.info("Alertmanager at %s takes alerts again", self.url)
        self.failures = 0
        self.notifications.sent(due, now)
        if self.metrics is not None:
            self.metrics.reachable.set(1)
            for resolution in resolutions:
                self.metrics.sent.labels("resolved" if resolution else "firing").inc()
        return len(due)

    def _failed(self, due: list[Notice], exc: AlertmanagerError, now: float) -> int:
        if self.metrics is not None:
            self.metrics.reachable.set(0)
            self.metrics.failures.labels("retried" if exc.retry else "dropped").inc()
        if not exc.retry:
            # sending the same alerts again would be refused again: log them and go on
            log.error("Alertmanager at %s refused %d alert(s): %s; they are on the alert topic",
                      self.url, len(due), exc)  # fmt: skip
            self.notifications.refused(due, now)
            return 0
        self.failures += 1
        delay = min(FIRST_RETRY_SECONDS * 2 ** (self.failures - 1),
                    self.notifications.resend_seconds)  # fmt: skip
        self.next_attempt = now + delay
        log.warning("could not send %d alert(s) to Alertmanager at %s: %s; trying again in %.0fs",
                    len(due), self.url, exc, delay)  # fmt: skip
        return 0


def _published(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)


def restore(settings: Settings, handler: NotifierHandler) -> None:
    """The problems as the topics have them now: open ones are sent again, resolutions too
    (Alertmanager notifies neither twice)."""
    history = read_back(settings, [ALERTS, DECISIONS])
    for message in sorted(history, key=lambda m: m.timestamp_ms):
        key = (settings.topic_name(message.topic), message.partition)
        if not handler.notifications.seen(key, message.offset):
            handler.apply(message.value, _published(message.timestamp_ms))
    handler.notifications.assume_sent()
    log.info("restored %d open problem(s) from %d message(s)",
             len(handler.notifications.open), len(history))  # fmt: skip


def build(settings: Settings, registry: CollectorRegistry) -> ConsumerLoop:
    if not settings.alertmanager_url:
        raise ConfigurationError(
            "TRUSTWATCH_ALERTMANAGER_URL is not set: the notifier has no Alertmanager to send "
            "alerts to (for example http://alertmanager:9093)"
        )
    metadata = load_metadata(resolve_version_dir(settings.artifacts_dir))
    notifications = Notifications(
        model_version=metadata.model_version,
        runbook_url=settings.runbook_url,
        resend_seconds=settings.alertmanager_resend_seconds,
        group_wait=settings.alertmanager_group_wait_seconds,
    )
    handler = NotifierHandler(notifications, settings.alertmanager_url, NotifierMetrics(registry))
    restore(settings, handler)
    handler.send_due()
    log.info("sending alerts to Alertmanager at %s", settings.alertmanager_url)
    # what is due is looked at every second while the topics are quiet
    quiet = settings.model_copy(update={"idle_flush_seconds": CHECK_SECONDS})
    return ConsumerLoop(
        quiet, GROUP_ID, [ALERTS, DECISIONS], handler, metrics=LoopMetrics(registry)
    )


def run(
    settings: Settings, max_messages: int | None = None, idle_timeout: float | None = None
) -> LoopStats:
    return run_service(settings, build, max_messages, idle_timeout)
