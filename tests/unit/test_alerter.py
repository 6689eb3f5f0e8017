import pytest
from prometheus_client import CollectorRegistry

from alerter.decisions import DriftStreaks, decide
from alerter.lifecycle import AlertBook
from alerter.metrics import AlerterMetrics
from alerter.rules import conditions
from shared.schemas import Action, AlertSeverity, AlertStatus, AlertType, DriftSeverity
from tests.unit.signals import change_point, drift, fairness, performance, window

HIGH, MEDIUM, LOW = DriftSeverity.HIGH, DriftSeverity.MEDIUM, DriftSeverity.LOW


@pytest.mark.parametrize(
    "signals,expected",
    [
        (window(0), set()),
        (window(0, drift_signal=drift(0, {"MonthlyCharges": HIGH})),
         {("DRIFT:MonthlyCharges", AlertSeverity.CRITICAL)}),
        (window(0, drift_signal=drift(0, {"tenure": MEDIUM})),
         {("DRIFT:tenure", AlertSeverity.WARNING)}),
        (window(0, drift_signal=drift(0, {"tenure": LOW})), set()),
        # recall 0.60 with CI up to 0.66: the whole interval is >= 17.5 % below 0.80 -> WARNING
        (window(0, perf=performance(0, recall=0.6, recall_ci=(0.54, 0.66))),
         {("PERFORMANCE:recall", AlertSeverity.WARNING)}),
        (window(0, perf=performance(0, recall=0.5, recall_ci=(0.44, 0.56))),
         {("PERFORMANCE:recall", AlertSeverity.CRITICAL)}),
        # a low point estimate whose interval still reaches the tolerated level is noise
        (window(0, perf=performance(0, recall=0.68, recall_ci=(0.60, 0.76))), set()),
        (window(0, perf=performance(0, recall=0.4, recall_ci=(0.1, 0.7), labelled=50)), set()),
        (window(0, perf=performance(0, auc=0.7, auc_ci=(0.66, 0.74))),
         {("PERFORMANCE:roc_auc", AlertSeverity.CRITICAL)}),
        (window(0, fair=fairness(0, gap=(0.25, 0.45))), {("BIAS:gender", AlertSeverity.WARNING)}),
        (window(0, fair=fairness(0, gap=(0.35, 0.55))), {("BIAS:gender", AlertSeverity.CRITICAL)}),
        (window(0, fair=fairness(0, gap=(0.15, 0.35))), set()),
        (window(0, perf=performance(0, change_points=[change_point(0)])),
         {("CHANGE_POINT:error_rate", AlertSeverity.WARNING)}),
        (window(0, perf=performance(0, change_points=[change_point(0, 0.4, 0.2)])), set()),
        # 10 of 510 rows quarantined: 2 % -> WARNING; 40 of 540: 7 % -> CRITICAL; 2 of 502: none
        (window(0, drift_signal=drift(0, quarantined={"NULL": 4, "WRONG_TYPE": 6})),
         {("DATA_QUALITY:quarantine", AlertSeverity.WARNING)}),
        (window(0, drift_signal=drift(0, quarantined={"OVERSIZED": 40})),
         {("DATA_QUALITY:quarantine", AlertSeverity.CRITICAL)}),
        (window(0, drift_signal=drift(0, quarantined={"NULL": 2})), set()),
        # churn rate 0.40 (CI 0.36..0.44) vs 0.265: interval 0.095 away -> WARNING (tol. 0.05)
        (window(0, perf=performance(0, churn=(0.40, 0.36, 0.44))),
         {("DRIFT:Churn", AlertSeverity.WARNING)}),
        (window(0, perf=performance(0, churn=(0.55, 0.51, 0.59))),
         {("DRIFT:Churn", AlertSeverity.CRITICAL)}),
        (window(0, perf=performance(0, churn=(0.30, 0.26, 0.34))), set()),
        (window(0, perf=performance(0, predicted=(0.52, 0.48, 0.56))),
         {("DRIFT:predicted_churn_rate", AlertSeverity.WARNING)}),
    ],
)  # fmt: skip
def test_conditions_table(policy, signals, expected):
    assert {(c.key, c.severity) for c in conditions(signals, policy)} == expected


def test_alert_fires_once_escalates_and_resolves(policy):
    book = AlertBook(resolve_after_clear_windows=2)
    medium = window(0, drift_signal=drift(0, {"tenure": MEDIUM}))
    first = book.apply(medium, conditions(medium, policy))
    assert [(a.key, a.status) for a in first] == [("DRIFT:tenure", AlertStatus.FIRING)]
    again = window(1, drift_signal=drift(1, {"tenure": MEDIUM}))
    assert book.apply(again, conditions(again, policy)) == []
    high = window(2, drift_signal=drift(2, {"tenure": HIGH}))
    escalated = book.apply(high, conditions(high, policy))
    assert [(a.severity, a.status) for a in escalated] == [
        (AlertSeverity.CRITICAL, AlertStatus.FIRING)
    ]
    assert book.apply(window(3), []) == []  # clear for one window: not yet resolved
    resolved = book.apply(window(4), [])
    assert [(a.key, a.status) for a in resolved] == [("DRIFT:tenure", AlertStatus.RESOLVED)]
    assert book.active == {}


def run_decisions(policy, windows):
    book, streaks, decisions = AlertBook(1), DriftStreaks(), []
    for signals in windows:
        book.apply(signals, conditions(signals, policy))
        streaks.update(signals)
        decisions.append(
            decide(signals, list(book.active.values()), streaks.streaks,
                   {"MonthlyCharges": 0.05, "gender": 0.01}, policy)
        )  # fmt: skip
    return decisions


def test_sustained_high_impact_drift_asks_for_retrain(policy):
    windows = [window(d, drift_signal=drift(d, {"MonthlyCharges": HIGH})) for d in range(3)]
    decisions = run_decisions(policy, windows)
    assert [d.action for d in decisions] == [Action.NO_ACTION, Action.RETRAIN, Action.RETRAIN]
    assert decisions[0].reasons == ("WATCHING:DRIFT:MonthlyCharges",)
    assert decisions[1].reasons == ("SUSTAINED_HIGH_DRIFT:MonthlyCharges",)
    assert "2 consecutive windows" in decisions[1].explanation


def test_drift_on_an_unimportant_feature_never_retrains(policy):
    windows = [window(d, drift_signal=drift(d, {"gender": HIGH})) for d in range(4)]
    assert {d.action for d in run_decisions(policy, windows)} == {Action.NO_ACTION}


def test_interrupted_drift_restarts_the_streak(policy):
    windows = [
        window(0, drift_signal=drift(0, {"MonthlyCharges": HIGH})),
        window(1),
        window(2, drift_signal=drift(2, {"MonthlyCharges": HIGH})),
    ]
    assert {d.action for d in run_decisions(policy, windows)} == {Action.NO_ACTION}


def test_degraded_performance_retrains_with_matured_labels(policy):
    decisions = run_decisions(
        policy, [window(0, perf=performance(0, recall=0.5, recall_ci=(0.44, 0.56)))]
    )
    assert decisions[0].action == Action.RETRAIN
    assert decisions[0].reasons == ("PERFORMANCE_DEGRADED:recall",)


def test_fairness_takes_precedence_and_the_rest_is_listed(policy):
    decisions = run_decisions(
        policy,
        [
            window(
                0,
                perf=performance(0, recall=0.5, recall_ci=(0.44, 0.56)),
                fair=fairness(0, gap=(0.35, 0.55)),
            )
        ],
    )
    assert decisions[0].action == Action.ESCALATE_FAIRNESS
    assert decisions[0].also == (Action.RETRAIN,)
    assert set(decisions[0].reasons) == {"RECALL_GAP:gender", "PERFORMANCE_DEGRADED:recall"}


def test_data_quality_never_asks_for_retrain(policy):
    windows = [window(d, drift_signal=drift(d, quarantined={"OVERSIZED": 60})) for d in range(4)]
    decisions = run_decisions(policy, windows)
    assert {d.action for d in decisions} == {Action.NO_ACTION}
    assert decisions[-1].reasons == ("WATCHING:DATA_QUALITY:quarantine",)


def test_quiet_window_is_no_action(policy):
    decision = run_decisions(policy, [window(0)])[0]
    assert (decision.action, decision.reasons) == (Action.NO_ACTION, ("WITHIN_TOLERANCE",))


def test_metrics_reflect_windows_alerts_and_decisions(policy):
    registry = CollectorRegistry()
    metrics = AlerterMetrics(registry)
    book, streaks = AlertBook(1), DriftStreaks()
    signals = window(0, drift_signal=drift(0, {"MonthlyCharges": HIGH}))
    published = book.apply(signals, conditions(signals, policy))
    metrics.observe_window(signals)
    metrics.observe_alerts(published, book.active)
    metrics.observe_decision(decide(signals, list(book.active.values()), streaks.streaks, {},
                                    policy))  # fmt: skip
    value = registry.get_sample_value
    assert value("trustwatch_drift_severity", {"feature": "MonthlyCharges"}) == 3
    assert value("trustwatch_drift_psi", {"feature": "MonthlyCharges"}) == 0.5
    assert value("trustwatch_alerts_fired_total", {"type": "DRIFT", "severity": "CRITICAL"}) == 1
    assert value("trustwatch_alerts_active", {"type": "DRIFT", "severity": "CRITICAL"}) == 1
    assert value("trustwatch_decisions_total", {"action": "NO_ACTION"}) == 1
    assert value("trustwatch_model_performance_ratio", {"metric": "recall"}) == 0.8
    assert value("trustwatch_group_recall_ratio", {"attribute": "gender", "group": "Male"}) == 0.8
    assert value("trustwatch_last_window_end_timestamp_seconds") == signals.end.timestamp()
    assert AlertType.DRIFT.value == "DRIFT"


def test_estimated_performance_warns_but_never_retrains(policy):
    estimate = performance(0, recall=0.5, recall_ci=(None, None)).model_copy(
        update={"provisional": True, "labelled": 0, "recall_low": None, "recall_high": None}
    )
    signals = window(0)
    signals = type(signals)(signals.start, signals.end, signals.performance, signals.drift,
                            signals.fairness, estimate)  # fmt: skip
    found = conditions(signals, policy)
    assert {(c.key, c.severity, c.source) for c in found} == {
        ("PERFORMANCE:estimated_recall", AlertSeverity.WARNING, "estimate")
    }
    decision = decide(signals, found, {}, {}, policy)
    assert decision.action == Action.NO_ACTION
    assert decision.reasons == ("WATCHING:PERFORMANCE:estimated_recall",)


def test_likely_cause_names_the_open_drift_or_points_at_concept(policy):
    from alerter.rules import with_likely_cause

    book = AlertBook(1)
    drifting = window(0, drift_signal=drift(0, {"MonthlyCharges": HIGH, "tenure": MEDIUM}))
    book.apply(drifting, conditions(drifting, policy))
    degraded = window(1, perf=performance(1, recall=0.5, recall_ci=(0.44, 0.56)))
    (recall,) = [c for c in conditions(degraded, policy) if c.subject == "recall"]
    explained = with_likely_cause(recall, book.active)
    assert "Likely cause: MonthlyCharges drifted HIGH (PSI 0.50)" in explained.explanation
    assert explained.evidence["likely_cause"] == "DRIFT:MonthlyCharges"
    alone = with_likely_cause(recall, {})
    assert "concept drift" in alone.explanation and alone.evidence["likely_cause"] == "concept"
    quiet = [c for c in conditions(drifting, policy) if c.type == AlertType.DRIFT][0]
    assert with_likely_cause(quiet, book.active) == quiet  # drift is a cause, not an effect
