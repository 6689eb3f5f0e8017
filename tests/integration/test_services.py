"""The scorer and the alerter, each on a real broker, as their entrypoints wire them."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from alerter.app import build as build_alerter
from producer.scenario import get_scenario
from producer.stream import StreamPlan, generate
from scorer.app import build as build_scorer
from shared.broker import free_port
from shared.kafka import ensure_topics
from shared.schemas import Action, AlertStatus, DriftSeverity, IssueCode
from shared.service import serve_metrics
from shared.topics import (
    ALERTS,
    DECISIONS,
    DRIFT_SIGNALS,
    FAIRNESS_SIGNALS,
    PERFORMANCE_SIGNALS,
    QUARANTINE,
    RAW_ROWS,
    SCORED_ROWS,
)
from tests.conftest import TELCO_CONTRACT
from tests.integration.helpers import publish, publish_raw, read_all
from tests.unit.signals import drift, fairness, performance

pytestmark = pytest.mark.integration


def test_scorer_scores_valid_rows_and_quarantines_the_rest(settings, data_split, metadata):
    ensure_topics(settings)
    plan = StreamPlan(get_scenario("covariate"), 2, 50, 3, datetime(2026, 3, 1, tzinfo=UTC))
    rows = [
        RAW_ROWS.decode(e.payload) for e in generate(plan, data_split.production, TELCO_CONTRACT)
    ]
    publish(settings, RAW_ROWS, rows)
    bad_category = json.loads(rows[0].model_dump_json())
    bad_category["event_id"] = "bad-category"
    bad_category["features"]["Contract"] = "Lifetime"
    wrong_type = json.loads(rows[1].model_dump_json())
    wrong_type["event_id"] = "wrong-type"
    wrong_type["features"]["tenure"] = "twelve"
    publish_raw(
        settings,
        RAW_ROWS,
        [json.dumps(bad_category).encode(), json.dumps(wrong_type).encode(), b"\x00garbage"],
    )
    registry = CollectorRegistry()
    stats = build_scorer(settings, registry).run(max_messages=len(rows) + 3, idle_timeout=20)
    assert stats.consumed == len(rows) + 3
    quarantined = {
        reason: registry.get_sample_value("trustwatch_quarantined_rows_total", {"reason": reason})
        for reason in ("UNSEEN_CATEGORY", "WRONG_TYPE", "MALFORMED_JSON")
    }
    assert quarantined == {"UNSEEN_CATEGORY": 1, "WRONG_TYPE": 1, "MALFORMED_JSON": 1}
    assert (
        registry.get_sample_value("trustwatch_messages_consumed_total", {"topic": "rows.raw"})
        == len(rows) + 3
    )
    assert registry.get_sample_value("trustwatch_scorer_labels_pending") == 0

    scored = read_all(settings, SCORED_ROWS, expected=len(rows))
    quarantined_rows = read_all(settings, QUARANTINE, expected=3)
    assert {s.event_id for s in scored} == {r.event_id for r in rows}
    assert all(s.model_version == metadata.model_version for s in scored)
    assert all(s.prediction == int(s.probability >= metadata.threshold) for s in scored)
    assert [s.label for s in sorted(scored, key=lambda s: s.event_id)] == [
        r.label for r in sorted(rows, key=lambda r: r.event_id)
    ]
    reasons = {q.event_id: q.issues[0].code for q in quarantined_rows}
    assert reasons == {
        "bad-category": IssueCode.UNSEEN_CATEGORY,
        "wrong-type": IssueCode.WRONG_TYPE,
        None: IssueCode.MALFORMED_JSON,
    }
    assert all(q.source_topic == settings.topic_name(RAW_ROWS) for q in quarantined_rows)


def test_alerter_publishes_alerts_decisions_and_metrics(settings):
    ensure_topics(settings)
    high = {"MonthlyCharges": DriftSeverity.HIGH}
    for day in range(3):
        publish(settings, PERFORMANCE_SIGNALS, [performance(day)])
        publish(settings, DRIFT_SIGNALS, [drift(day, high if day >= 1 else None)])
        publish(settings, FAIRNESS_SIGNALS, [fairness(day)])
    registry = CollectorRegistry()
    loop = build_alerter(settings, registry)
    port = free_port()
    serve_metrics(settings.model_copy(update={"metrics_port": port}), registry)
    loop.run(max_messages=9, idle_timeout=20)

    alerts = read_all(settings, ALERTS, expected=1)
    decisions = read_all(settings, DECISIONS, expected=3)
    assert [(a.key, a.status) for a in alerts] == [("DRIFT:MonthlyCharges", AlertStatus.FIRING)]
    assert [d.action for d in decisions] == [Action.NO_ACTION, Action.NO_ACTION, Action.RETRAIN]

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert samples[("trustwatch_drift_severity", (("feature", "MonthlyCharges"),))] == 3
    assert samples[("trustwatch_decisions_total", (("action", "RETRAIN"),))] == 1
    assert samples[("trustwatch_alerts_active", (("severity", "CRITICAL"), ("type", "DRIFT")))] == 1


def test_a_restarted_alerter_neither_fires_twice_nor_loses_the_resolution(settings):
    ensure_topics(settings)
    high = {"MonthlyCharges": DriftSeverity.HIGH}

    def publish_days(days, severities):
        for day in days:
            publish(settings, PERFORMANCE_SIGNALS, [performance(day)])
            publish(settings, DRIFT_SIGNALS, [drift(day, severities)])
            publish(settings, FAIRNESS_SIGNALS, [fairness(day)])

    publish_days(range(0, 3), high)
    build_alerter(settings, CollectorRegistry()).run(max_messages=9, idle_timeout=20)
    publish_days(range(3, 5), high)  # still drifting after the restart
    publish_days(range(5, 7), None)  # then clear for two windows: it must resolve, once
    build_alerter(settings, CollectorRegistry()).run(max_messages=12, idle_timeout=20)

    alerts = read_all(settings, ALERTS)
    drift_alerts = [
        (a.status, a.window_start.day) for a in alerts if a.key == "DRIFT:MonthlyCharges"
    ]
    assert drift_alerts == [(AlertStatus.FIRING, 1), (AlertStatus.RESOLVED, 7)]
    decisions = read_all(settings, DECISIONS)
    assert sorted(d.window_start.day for d in decisions) == list(range(1, 8))
