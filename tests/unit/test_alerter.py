import itertools

import pytest
from prometheus_client import CollectorRegistry

from alerter.decisions import DriftStreaks, decide
from alerter.lifecycle import AlertBook
from alerter.metrics import AlerterMetrics
from alerter.rules import Condition, conditions, conditions_of
from shared.schemas import Action, AlertSeverity, AlertStatus, AlertType, DriftSeverity
from tests.unit.signals import (
    GROUP_BASELINE,
    bounds,
    change_point,
    drift,
    fairness,
    performance,
    window,
)

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
         {("DRIFT:label", AlertSeverity.WARNING)}),
        (window(0, perf=performance(0, churn=(0.55, 0.51, 0.59))),
         {("DRIFT:label", AlertSeverity.CRITICAL)}),
        (window(0, perf=performance(0, churn=(0.30, 0.26, 0.34))), set()),
        (window(0, perf=performance(0, predicted=(0.52, 0.48, 0.56))),
         {("DRIFT:predicted_positive_rate", AlertSeverity.WARNING)}),
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
    assert [(a.key, a.severity, a.status) for a in escalated] == [
        ("DRIFT:tenure", AlertSeverity.CRITICAL, AlertStatus.UPDATED)
    ]
    assert book.apply(window(3), []) == []  # clear for one window: not yet resolved
    resolved = book.apply(window(4), [])
    assert [(a.key, a.status) for a in resolved] == [("DRIFT:tenure", AlertStatus.RESOLVED)]
    assert book.active == {}
    # every message keeps what the problem fired with (Alertmanager's labels)
    for alert in (*first, *escalated, *resolved):
        assert alert.opening_severity == first[0].severity == AlertSeverity.WARNING
        assert alert.fired_window == medium.start


def run_decisions(policy, windows):
    book, streaks, decisions = AlertBook(1), DriftStreaks(), []
    for signals in windows:
        holding = conditions(signals, policy, GROUP_BASELINE)
        book.apply(signals, holding)
        streaks.update(signals)
        decisions.append(
            decide(signals, book.with_roles(holding, signals.start), streaks.streaks,
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
                # Male (200 churners) served as in training: the gap is the problem
                fair=fairness(0, gap=(0.35, 0.55), best_positives=200),
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
    features = signals.drift.features
    assert value("trustwatch_drift_p_value", {"feature": "MonthlyCharges"}) == next(
        f.p_value for f in features if f.feature == "MonthlyCharges"
    )
    assert value("trustwatch_last_window_end_timestamp_seconds") == signals.end.timestamp()
    assert AlertType.DRIFT.value == "DRIFT"


def test_metrics_carry_the_model_version_and_every_threshold_of_the_policy_file():
    from pathlib import Path

    import yaml

    from shared.policy import load_policy

    registry = CollectorRegistry()
    AlerterMetrics(registry).observe_configuration(load_policy(), "lr-0123", {"gender": 0.04})
    value = registry.get_sample_value
    assert value("trustwatch_model_info", {"model_version": "lr-0123"}) == 1
    assert value("trustwatch_group_recall_gap_deployment_ratio", {"attribute": "gender"}) == 0.04
    # against the file itself, not the loaded policy
    raw = yaml.safe_load((Path(__file__).parents[2] / "shared" / "policy.yaml").read_text())
    exported = 0
    for section in ("drift", "performance", "data_quality", "fairness", "decision"):
        for key, number in raw[section].items():
            if isinstance(number, int | float) and not isinstance(number, bool):
                assert value("trustwatch_policy_threshold", {"setting": f"{section}.{key}"}) == (
                    number
                ), (section, key)
                exported += 1
    assert (
        exported >= 30
        and value("trustwatch_policy_threshold", {"setting": "fairness.recall_gap_warning"}) == 0.20
    )


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
    explained = with_likely_cause(recall, book.open_conditions())
    assert "Likely cause: MonthlyCharges drifted HIGH (PSI 0.50)" in explained.explanation
    assert explained.evidence["likely_cause"] == "DRIFT:MonthlyCharges"
    alone = with_likely_cause(recall, {})
    assert "concept drift" in alone.explanation and alone.evidence["likely_cause"] == "concept"
    quiet = [c for c in conditions(drifting, policy) if c.type == AlertType.DRIFT][0]
    # drift is a cause, not an effect
    assert with_likely_cause(quiet, book.open_conditions()) == quiet


def test_a_gap_that_is_a_symptom_of_a_worse_model_retrains_without_escalating(policy):
    # Male's 70 churners cannot show that Male is served as in training (Wilson lower bound
    # 0.69 < 0.9 x 0.8): the gap is one symptom of the recall drop, not a problem of its own
    decisions = run_decisions(
        policy,
        [
            window(
                0,
                perf=performance(0, recall=0.5, recall_ci=(0.44, 0.56)),
                fair=fairness(0, gap=(0.35, 0.55), best_positives=70),
            )
        ],
    )
    assert decisions[0].action == Action.RETRAIN and decisions[0].also == ()
    assert decisions[0].reasons == ("PERFORMANCE_DEGRADED:recall",)


def concept_shift(day, **fair):
    """What a concept shift looks like to every monitor at once."""
    return window(
        day,
        perf=performance(day, recall=0.5, recall_ci=(0.44, 0.56), auc=0.7, auc_ci=(0.66, 0.74),
                         change_points=[change_point(day)], churn=(0.45, 0.41, 0.49)),
        fair=fairness(day, gap=(0.35, 0.55), **fair),
    )  # fmt: skip


def test_conditions_that_begin_together_are_one_alert_named_after_the_best_explanation(policy):
    book = AlertBook(resolve_after_clear_windows=2, group_within_windows=1)
    signals = concept_shift(0)
    published = book.apply(signals, conditions(signals, policy, GROUP_BASELINE))
    (alert,) = published
    assert (alert.status, alert.type, alert.subject) == (
        AlertStatus.FIRING, AlertType.PERFORMANCE, "recall")  # fmt: skip
    assert alert.key == "PERFORMANCE:recall" and alert.severity == AlertSeverity.CRITICAL
    assert {m.key for m in alert.members} == {
        "PERFORMANCE:recall", "PERFORMANCE:roc_auc", "CHANGE_POINT:error_rate", "DRIFT:label",
        "BIAS:gender"}  # fmt: skip
    assert "Seen with it, as part of the same problem: BIAS:gender" in alert.explanation
    # the same conditions next window: nothing new to say
    follow = concept_shift(1)
    assert book.apply(follow, conditions(follow, policy, GROUP_BASELINE)) == []
    # then the gap shows to be confined to Female: the same alert, better explained
    confined = concept_shift(2, best_positives=200)
    (update,) = book.apply(confined, conditions(confined, policy, GROUP_BASELINE))
    assert (update.key, update.status, update.type, update.subject) == (
        "PERFORMANCE:recall", AlertStatus.UPDATED, AlertType.BIAS, "gender")  # fmt: skip
    assert "Only gender=Female is served worse than in training" in update.explanation
    # everything clear for two windows: one resolution
    assert book.apply(window(3), []) == []
    (resolved,) = book.apply(window(4), [])
    assert (resolved.key, resolved.status) == ("PERFORMANCE:recall", AlertStatus.RESOLVED)
    assert book.active == {}


def test_a_problem_that_begins_later_or_broken_data_is_an_alert_of_its_own(policy):
    book = AlertBook(resolve_after_clear_windows=2, group_within_windows=1)
    drifting = window(0, drift_signal=drift(0, {"MonthlyCharges": HIGH}))
    assert [a.key for a in book.apply(drifting, conditions(drifting, policy))] == [
        "DRIFT:MonthlyCharges"]  # fmt: skip
    # one window later, with the drift still open: recall falls (likely the same problem)
    worse = window(1, drift_signal=drift(1, {"MonthlyCharges": HIGH}),
                   perf=performance(1, recall=0.5, recall_ci=(0.44, 0.56)))  # fmt: skip
    (update,) = book.apply(worse, conditions(worse, policy))
    assert (update.key, update.status, update.type) == (
        "DRIFT:MonthlyCharges", AlertStatus.UPDATED, AlertType.DRIFT)  # fmt: skip
    # broken data in the same window is not grouped with drift; a gap confined to one group two
    # windows on is a cause of its own (the best group served as in training, on 400 churners)
    later = window(2, drift_signal=drift(2, {"MonthlyCharges": HIGH}, quarantined={"NULL": 40}),
                   perf=performance(2, recall=0.5, recall_ci=(0.44, 0.56)),
                   fair=fairness(2, gap=(0.35, 0.55), best_positives=400))  # fmt: skip
    holding = conditions(later, policy, GROUP_BASELINE)
    assert next(c for c in holding if c.type == AlertType.BIAS).evidence["confined"]
    fired = [a for a in book.apply(later, holding) if a.status == "FIRING"]
    assert sorted(a.key for a in fired) == ["BIAS:gender", "DATA_QUALITY:quarantine"]


def test_a_symptom_that_shows_later_joins_the_problem_whose_cause_still_holds(policy):
    """A recall gap not confined to one group, two windows after an input drift that still
    holds, is one more symptom of it (a rolling gap lags its cause); once the drift has cleared,
    the same gap would be a problem of its own."""
    book = AlertBook(resolve_after_clear_windows=2, group_within_windows=1)
    for day in range(2):
        drifting = window(day, drift_signal=drift(day, {"MonthlyCharges": HIGH}))
        book.apply(drifting, conditions(drifting, policy))
    later = window(2, drift_signal=drift(2, {"MonthlyCharges": HIGH}),
                   fair=fairness(2, gap=(0.35, 0.55)))  # fmt: skip
    holding = conditions(later, policy, GROUP_BASELINE)
    assert not next(c for c in holding if c.type == AlertType.BIAS).evidence["confined"]
    (update,) = book.apply(later, holding)
    assert (update.key, update.status) == ("DRIFT:MonthlyCharges", AlertStatus.UPDATED)
    assert {m.key for m in update.members} == {"DRIFT:MonthlyCharges", "BIAS:gender"}
    assert book.apply(window(3), []) == []
    (resolved,) = book.apply(window(4), [])
    assert resolved.status == AlertStatus.RESOLVED
    gap = window(5, fair=fairness(5, gap=(0.35, 0.55)))
    (fired,) = book.apply(gap, conditions(gap, policy, GROUP_BASELINE))
    assert (fired.key, fired.status) == ("BIAS:gender", AlertStatus.FIRING)


def test_a_restarted_book_neither_fires_again_nor_loses_the_resolution(policy):
    first = AlertBook(resolve_after_clear_windows=2)
    published = []
    for day in range(2):
        signals = concept_shift(day)
        published += first.apply(signals, conditions(signals, policy, GROUP_BASELINE))
    restarted = AlertBook(resolve_after_clear_windows=2)
    restarted.restore(published)
    assert restarted.active.keys() == first.active.keys()
    again = concept_shift(2)
    assert restarted.apply(again, conditions(again, policy, GROUP_BASELINE)) == []
    restarted.apply(window(3), [])
    (resolved,) = restarted.apply(window(4), [])
    assert (resolved.key, resolved.status) == ("PERFORMANCE:recall", AlertStatus.RESOLVED)


def test_confinement_follows_one_sided_wilson_bounds_of_both_groups(policy):
    from alerter.rules import confined_to_worst_group
    from shared.stats import wilson_interval

    for best_positives in (40, 70, 120, 200, 400):
        signal = fairness(0, gap=(0.35, 0.55), best_positives=best_positives)
        best = round(0.8 * best_positives)
        # a one-sided 95 % bound: the two-sided 90 % interval's
        low, _ = wilson_interval(best, best_positives, 2 * policy.fairness.gap_confidence - 1)
        expected = low >= (1 - policy.performance.recall_drop_warning) * 0.8
        assert confined_to_worst_group(signal.gaps[0], GROUP_BASELINE, policy) == expected
    assert not confined_to_worst_group(signal.gaps[0], {}, policy)


def test_grouping_and_resolution_go_by_window_time_not_by_arrival(policy):
    """A monitor that is behind (late labels, a consumer catching up) still adds to the problem
    of its window, and nothing resolves before every monitor has judged the window."""
    book = AlertBook(resolve_after_clear_windows=2, group_within_windows=1)
    shifted = concept_shift(0)
    judged = {"performance": [], "drift": [], "fairness": []}
    for day in range(5):  # the performance monitor reports five windows first
        signal = (shifted if day == 0 else window(day)).performance
        found = conditions_of(signal, policy, GROUP_BASELINE)
        judged["performance"] += book.apply_source("performance", *bounds(day), found)
    assert [(a.status, a.key) for a in judged["performance"]] == [
        (AlertStatus.FIRING, "PERFORMANCE:recall")]  # fmt: skip
    late = conditions_of(shifted.fairness, policy, GROUP_BASELINE)
    (update,) = book.apply_source("fairness", *bounds(0), late)
    assert (update.status, update.key) == (AlertStatus.UPDATED, "PERFORMANCE:recall")
    assert "BIAS:gender" in {m.key for m in update.members}
    for day in range(1, 5):
        judged["fairness"] += book.apply_source("fairness", *bounds(day), [])
    assert judged["fairness"] == []  # the drift monitor has not judged a window yet
    for day in range(5):
        judged["drift"] += book.apply_source("drift", *bounds(day), [])
    (resolved,) = judged["drift"]
    # resolved as of the window the last member (the gap) cleared in: its second clear window
    assert (resolved.status, resolved.window_start) == (AlertStatus.RESOLVED, bounds(2)[0])


@pytest.mark.parametrize("order", [("performance", "fairness", "drift"),
                                   ("fairness", "drift", "performance"),
                                   ("drift", "fairness", "performance")])  # fmt: skip
def test_alerts_and_decisions_do_not_depend_on_which_monitor_reports_first(policy, order):
    """Each monitor's whole stream arrives before the next one's (a consumer catching up): the
    same problems, headlines and decisions as when the monitors take turns."""
    windows = [concept_shift(0), concept_shift(1), window(2), window(3), window(4)]
    book, fired, holding = AlertBook(2, 1), [], {d: [] for d in range(len(windows))}
    for source in order:
        for day, signals in enumerate(windows):
            found = conditions_of(getattr(signals, source), policy, GROUP_BASELINE)
            holding[day] += found
            fired += book.apply_source(source, signals.start, signals.end, found)
    decisions = [
        decide(signals, book.with_roles(holding[day], signals.start), {}, {}, policy).action
        for day, signals in enumerate(windows)
    ]
    assert decisions == [Action.RETRAIN, Action.RETRAIN] + [Action.NO_ACTION] * 3
    # one alert, keyed by whichever condition opened it, named after the recall drop
    assert [a.status for a in fired if a.status != AlertStatus.UPDATED] == [
        AlertStatus.FIRING, AlertStatus.RESOLVED]  # fmt: skip
    assert {a.key for a in fired} == {fired[0].key} and fired[-1].status == AlertStatus.RESOLVED
    assert (fired[-1].type, fired[-1].subject) == (AlertType.PERFORMANCE, "recall")


def test_a_drift_streak_continues_the_window_before_it_whatever_came_between():
    """A signal for a window four years on, judged between two real windows, does not break
    their streak; a window without a drift signal does."""
    streaks = DriftStreaks()
    for day in (0, 1, 4 * 365, 2, 3):
        high = {} if day > 365 else {"MonthlyCharges": HIGH}
        streaks.update(window(day, drift_signal=drift(day, high)))
    assert streaks.streaks == {"MonthlyCharges": 4}
    assert streaks.update(window(5, drift_signal=drift(5, {"MonthlyCharges": HIGH}))).streaks == {
        "MonthlyCharges": 1}  # fmt: skip


def test_a_restarted_alerter_resumes_the_drift_streaks_of_the_windows_it_decided(policy, metadata):
    from alerter.service import AlerterHandler
    from tests.unit.signals import bounds

    handler = AlerterHandler(policy, metadata, AlerterMetrics(CollectorRegistry()))
    published = [drift(day, {"MonthlyCharges": HIGH}) for day in range(4)]
    handler.restore([], [bounds(day)[0] for day in range(3)], published)  # 3 will be re-read
    assert handler.streaks.streaks == {"MonthlyCharges": 3}
    fresh = AlerterHandler(policy, metadata, AlerterMetrics(CollectorRegistry()))
    fresh.restore([], [], published)  # nothing decided yet: everything will be re-read
    assert fresh.streaks.streaks == {}


def test_a_signal_for_a_far_window_does_not_stop_the_real_windows_being_decided(policy, metadata):
    """A drift signal stamped four years ahead (forged, or mis-stamped) arrives first and is
    decided once the input is idle; every real window after it is still judged and decided."""
    from alerter.service import AlerterHandler
    from shared.handler import Inbound
    from shared.topics import DRIFT_SIGNALS, FAIRNESS_SIGNALS, PERFORMANCE_SIGNALS

    handler = AlerterHandler(policy, metadata, AlerterMetrics(CollectorRegistry()))
    offsets = iter(range(1000))

    def inbound(topic, signal):
        return Inbound(topic, signal, None, 0, next(offsets), f"t.{topic.name}")

    decisions = handler.handle([inbound(DRIFT_SIGNALS, drift(4 * 365))])
    decisions += handler.on_idle()
    for day in range(3):
        decisions += handler.handle([
            inbound(DRIFT_SIGNALS, drift(day)),
            inbound(PERFORMANCE_SIGNALS, performance(day)),
            inbound(FAIRNESS_SIGNALS, fairness(day)),
        ])  # fmt: skip
    decided = [output.value.window_start for output in decisions]
    assert decided == [bounds(4 * 365)[0], bounds(0)[0], bounds(1)[0], bounds(2)[0]]
    # a signal of a window already decided is a replay: judged and decided once
    assert handler.handle([inbound(DRIFT_SIGNALS, drift(1))]) == []


def test_a_gap_the_model_had_at_deployment_is_known_and_only_a_wider_one_is_bias(policy):
    from alerter.rules import fairness_conditions

    # held out: Male 0.80, Female 0.65: the model's own gap is 0.15
    deployed = {"gender": {"Female": 0.65, "Male": 0.80}}
    as_deployed = fairness(0, gap=(0.22, 0.38))  # the gap's interval starts above 0.20
    assert fairness_conditions(as_deployed, policy, deployed) == []
    assert fairness_conditions(as_deployed, policy, GROUP_BASELINE)  # no known gap: flagged
    absolute = policy.model_copy(update={"fairness": policy.fairness.model_copy(
        update={"gaps_relative_to_deployment": False})})  # fmt: skip
    assert [c.severity for c in fairness_conditions(as_deployed, absolute, deployed)] == [
        AlertSeverity.WARNING]  # fmt: skip
    # 0.20 beyond the known 0.15, from below: a change
    wider = fairness(0, gap=(0.36, 0.52))
    [condition] = fairness_conditions(wider, policy, deployed)
    assert condition.severity is AlertSeverity.WARNING
    assert condition.evidence["deployment_gap"] == pytest.approx(0.15)
    assert "own gap of 0.15 at deployment" in condition.explanation
    # the order reversed since deployment: nothing of it was known
    reversed_ = {"gender": {"Female": 0.90, "Male": 0.70}}
    assert fairness_conditions(as_deployed, policy, reversed_)


def test_an_open_gap_holds_while_its_estimate_stays_beyond_the_tolerance(policy):
    """A gap fires on its interval and clears on its estimate: with the interval's lower bound
    under the tolerance (0.15 < 0.20), a new gap does not fire, but an open one still holds while
    its estimate (0.30) is beyond it, and clears once that falls under (0.15)."""
    from alerter.rules import fairness_conditions

    wide = fairness(0, gap=(0.15, 0.45))
    assert fairness_conditions(wide, policy) == []
    (held,) = fairness_conditions(wide, policy, sustained={"gender"})
    assert (held.subject, held.severity) == ("gender", AlertSeverity.WARNING)
    assert "open already" in held.explanation
    assert fairness_conditions(fairness(1, gap=(0.05, 0.25)), policy, sustained={"gender"}) == []


def test_a_gap_that_went_clear_is_judged_over_the_windows_since_it_held(policy, metadata):
    """Days 0-3 a gap fires; day 4 it is clear (0.10). Day 5 shows 0.22 in the window alone
    (interval 0.09 to 0.35: no firing), while the gap over the last six windows, the step's among
    them, still lies beyond the tolerance. A gap that held in its latest window is held by that.
    One that went clear is judged over the windows since it held: days 4 and 5 together show
    0.16, so neither brings it back and it resolves after its second clear window; a day 5 of
    0.33 makes 0.21 over the two, and holds it."""
    from alerter.service import AlerterHandler
    from shared.handler import Inbound
    from shared.schemas import RecallGap
    from shared.topics import DRIFT_SIGNALS, FAIRNESS_SIGNALS, PERFORMANCE_SIGNALS

    old = RecallGap(attribute="gender", gap=0.31, gap_low=0.26, gap_high=0.36, best_group="Male",
                    worst_group="Female", best_recall=0.85, worst_recall=0.54,
                    best_positives=400, worst_positives=636, windows=6)  # fmt: skip

    def run(days):
        handler = AlerterHandler(policy, metadata, AlerterMetrics(CollectorRegistry()))
        offsets = iter(range(1000))
        alerts = []
        for day, gap in enumerate(days):
            signal = fairness(day, gap=gap)
            if day >= 4:
                signal = signal.model_copy(update={"strongest_gaps": (old,)})
            signals = ((PERFORMANCE_SIGNALS, performance(day)), (DRIFT_SIGNALS, drift(day)),
                       (FAIRNESS_SIGNALS, signal))  # fmt: skip
            for topic, value in signals:
                inbound = Inbound(topic, value, None, 0, next(offsets), f"t.{topic.name}")
                alerts += [(output.value.status, day) for output in handler.handle([inbound])
                           if output.topic.name == "alerts"]  # fmt: skip
        return alerts

    firing, after = [(0.25, 0.45)] * 4, [(-0.03, 0.22), (-0.09, 0.11)]
    lapsed = run([*firing, (-0.02, 0.22), (0.09, 0.35), *after])
    assert lapsed == [(AlertStatus.FIRING, 0), (AlertStatus.RESOLVED, 5)]
    held = run([*firing, (0.09, 0.35), (0.09, 0.35), *after])
    assert held == [(AlertStatus.FIRING, 0), (AlertStatus.RESOLVED, 7)]
    back = run([*firing, (-0.02, 0.22), (0.16, 0.50), *after])
    assert back == [(AlertStatus.FIRING, 0), (AlertStatus.RESOLVED, 7)]
    fresh = run([*firing, (-0.02, 0.22), (0.21, 0.45), *after])
    assert fresh == [(AlertStatus.FIRING, 0), (AlertStatus.RESOLVED, 7)]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_alerts_and_decisions_do_not_depend_on_which_signal_of_a_window_comes_first(
    policy, metadata, order
):
    """The three monitors' signals of each window reach the alerter one at a time, in every
    order: the alerts and the decisions are those of the canonical order (performance, drift,
    fairness). Days 2-4 hold a recall drop, a drifted feature and a recall gap at once."""
    from alerter.service import AlerterHandler
    from shared.handler import Inbound
    from shared.topics import DRIFT_SIGNALS, FAIRNESS_SIGNALS, PERFORMANCE_SIGNALS

    def signals(day):
        trouble = 2 <= day <= 4
        return [
            (PERFORMANCE_SIGNALS, performance(day, recall=0.5, recall_ci=(0.44, 0.56))
             if trouble else performance(day)),
            (DRIFT_SIGNALS, drift(day, {"MonthlyCharges": HIGH} if trouble else None)),
            (FAIRNESS_SIGNALS, fairness(day, gap=(0.35, 0.55) if day >= 3 else None)),
        ]  # fmt: skip

    def run(permutation):
        handler = AlerterHandler(policy, metadata, AlerterMetrics(CollectorRegistry()))
        offsets = itertools.count()
        outputs = []
        for day in range(9):
            window = signals(day)
            for index in permutation:
                topic, signal = window[index]
                item = Inbound(topic, signal, None, 0, next(offsets), f"t.{topic.name}")
                outputs += handler.handle([item])
        outputs += handler.on_idle()
        alerts = [(o.value.key, o.value.status, o.value.type, o.value.subject, o.value.severity,
                   o.value.window_start) for o in outputs if o.topic.name == "alerts"]  # fmt: skip
        decisions = [(o.value.window_start, o.value.action, o.value.reasons)
                     for o in outputs if o.topic.name == "decisions"]  # fmt: skip
        return alerts, decisions

    canonical = run((0, 1, 2))
    assert canonical[0] and {action for _, action, _ in canonical[1]} != {Action.NO_ACTION}
    assert run(order) == canonical


def _gap_condition(attribute, gap, windows=1, confined=True):
    evidence = {"gap": gap, "deployment_gap": 0.05, "confined": confined, "windows": windows,
                "likely_cause": "concept"}  # fmt: skip
    return Condition(AlertType.BIAS, attribute, AlertSeverity.WARNING, "", evidence, "fairness")


def _recall_condition(source="performance"):
    return Condition(AlertType.PERFORMANCE, "recall", AlertSeverity.CRITICAL, "",
                     {"likely_cause": "concept"}, source=source)  # fmt: skip


def test_one_group_failed_shows_in_several_attributes_as_one_problem_headed_by_the_widest_gap():
    """A group the model fails (women on long contracts) widens the gaps of every attribute
    whose groups hold it unevenly: the widest gap heads the one problem, a narrower gap that
    shows first or later joins it, and does not take the headline back for one wide window."""
    book = AlertBook(resolve_after_clear_windows=2, group_within_windows=1)
    (fired,) = book.apply_source("fairness", *bounds(0), [_gap_condition("SeniorCitizen", 0.30)])
    assert (fired.status, fired.subject) == (AlertStatus.FIRING, "SeniorCitizen")
    # the injured group's own attribute, wider, shows a window later: it heads the problem
    gaps = [_gap_condition("gender", 0.40), _gap_condition("SeniorCitizen", 0.20)]
    (update,) = book.apply_source("fairness", *bounds(1), gaps)
    assert (update.key, update.status, update.subject) == (
        "BIAS:SeniorCitizen", AlertStatus.UPDATED, "gender")  # fmt: skip
    # one window where the diluted gap looks a little wider: the headline holds (mean excess)
    gaps = [_gap_condition("gender", 0.35), _gap_condition("SeniorCitizen", 0.38)]
    assert book.apply_source("fairness", *bounds(2), gaps) == []
    # a third attribute's gap three windows on, while gender's is open: the same problem
    gaps = [_gap_condition("gender", 0.40), _gap_condition("Partner", 0.25)]
    (joined,) = book.apply_source("fairness", *bounds(3), gaps)
    assert (joined.key, joined.status, joined.subject) == (
        "BIAS:SeniorCitizen", AlertStatus.UPDATED, "gender")  # fmt: skip
    assert {m.subject for m in joined.members} == {"gender", "SeniorCitizen", "Partner"}
    assert len(book.problems) == 1


def test_a_flickering_fall_and_a_gap_pooled_over_its_windows_stay_one_problem():
    """In small windows a fall in recall shows only now and then: it rejoins its problem while
    the problem still shows (its ROC-AUC here), and a gap confined to one group found over the
    windows since the fall began joins it as its explanation, although the fall did not show in
    the window just before."""
    book = AlertBook(resolve_after_clear_windows=2, group_within_windows=1)
    auc = Condition(AlertType.PERFORMANCE, "roc_auc", AlertSeverity.CRITICAL, "",
                    {"likely_cause": "concept"}, source="performance")  # fmt: skip
    (fired,) = book.apply_source("performance", *bounds(0), [_recall_condition(), auc])
    assert fired.key == "PERFORMANCE:recall"
    for day in (1, 2):  # recall clear for two windows (cleared), ROC-AUC holding
        book.apply_source("performance", *bounds(day), [auc])
    assert book.problems["PERFORMANCE:recall"].members["PERFORMANCE:recall"].cleared is not None
    # back: nothing new to say, and no second alert
    assert book.apply_source("performance", *bounds(3), [_recall_condition(), auc]) == []
    assert list(book.problems) == ["PERFORMANCE:recall"]
    for day in (4, 5):
        book.apply_source("performance", *bounds(day), [auc])
    # the gap over the last 4 windows (days 3 to 6) covers the windows the fall showed in
    (update,) = book.apply_source("fairness", *bounds(6), [_gap_condition("gender", 0.4, 4)])
    assert (update.key, update.subject) == ("PERFORMANCE:recall", "gender")
    # the same gap over one window would be a problem of its own: the fall last showed on day 3
    alone = AlertBook(resolve_after_clear_windows=2, group_within_windows=1)
    alone.apply_source("performance", *bounds(0), [_recall_condition()])
    for day in (1, 2, 3):
        alone.apply_source("performance", *bounds(day), [])
    alone.apply_source("fairness", *bounds(2), [])
    (own,) = [a for a in alone.apply_source("fairness", *bounds(3), [_gap_condition("gender", 0.4)])
              if a.status == AlertStatus.FIRING]  # fmt: skip
    assert own.key == "BIAS:gender"


def test_a_gap_pooled_over_windows_is_counted_from_their_groups(policy):
    """Two windows' groups taken together: recalls from the summed counts, a group too small in
    both windows together left out, and the interval statsmodels gives for the summed counts."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    from alerter.rules import pooled_estimate
    from shared.schemas import GroupRecall

    def group(name, positives, hits, negatives=100):
        return GroupRecall(attribute="gender", group=name, positives=positives,
                           negatives=negatives, true_positives=hits, recall=hits / positives,
                           eligible=True)  # fmt: skip

    first = (group("Female", 70, 56), group("Male", 69, 62), group("Other", 5, 1))
    second = (group("Female", 68, 48), group("Male", 56, 52), group("Other", 6, 1))
    gap = pooled_estimate("gender", [first, second], policy)
    assert (gap.best_group, gap.worst_group, gap.windows) == ("Male", "Female", 2)
    assert gap.gap == pytest.approx(114 / 125 - 104 / 138)
    low, high = confint_proportions_2indep(114, 125, 104, 138, method="newcomb",
                                           alpha=1 - policy.fairness.gap_confidence)  # fmt: skip
    assert (gap.gap_low, gap.gap_high) == (pytest.approx(low), pytest.approx(high))
    assert pooled_estimate("gender", [first[:1], second[:1]], policy) is None
    assert pooled_estimate("SeniorCitizen", [first, second], policy) is None
