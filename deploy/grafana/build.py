"""The Grafana dashboards, built with Grafana's foundation SDK (grafana-foundation-sdk, for the
Grafana of docker-compose.yml): `python deploy/grafana/build.py` writes dashboards/*.json;
`--check` fails when a written file differs from what this builds (tests/unit/test_deploy.py runs
it). Edit the dashboards here, never in their JSON.

Every query reads the data source chosen in the ``$datasource`` variable (the provisioned
Prometheus by default). The model-health dashboard shows trustwatch's problems as annotations:
each fired and each resolved, by type and severity.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import (
    AnnotationQuery,
    Dashboard,
    DatasourceVariable,
    QueryVariable,
    ThresholdsConfig,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    BigValueColorMode,
    BigValueGraphMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

HERE = Path(__file__).resolve().parent
PROVISIONED_UID = "trustwatch-prometheus"  # provisioning/datasources/prometheus.yml
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str
    instant: bool = False


@dataclass(frozen=True)
class PanelSpec:
    kind: str  # stat, timeseries, bargauge
    title: str
    grid: tuple[int, int, int, int]  # x, y, w, h
    queries: tuple[Query, ...]
    description: str = ""
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    steps: tuple[tuple[str, float | None], ...] = (("green", None),)
    options: dict = field(default_factory=dict)


def _panel(spec: PanelSpec, panel_id: int):
    builder = {"stat": stat.Panel, "timeseries": timeseries.Panel,
               "bargauge": bargauge.Panel}[spec.kind]()  # fmt: skip
    x, y, w, h = spec.grid
    builder.id(panel_id).title(spec.title).description(spec.description)
    builder.datasource(DATASOURCE).grid_pos(GridPos(h=h, w=w, x=x, y=y))
    builder.thresholds(
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(color=color, value=value) for color, value in spec.steps])
    )
    if spec.unit is not None:
        builder.unit(spec.unit)
    if spec.low is not None:
        builder.min(spec.low)
    if spec.high is not None:
        builder.max(spec.high)
    for name, value in spec.options.items():
        getattr(builder, name)(value)
    for ref, query in zip("ABCDEFGH", spec.queries, strict=False):
        target = prometheus.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref)
        target.datasource(DATASOURCE)
        builder.with_target(target.instant() if query.instant else target.range())
    return builder


# a stat or bar shows each series' last value
LAST = {"reduce_options": ReduceDataOptions().calcs(["lastNotNull"]).values(False)}
STAT_ALERT = LAST | {"color_mode": BigValueColorMode.BACKGROUND,
                     "graph_mode": BigValueGraphMode.NONE}  # fmt: skip
STAT_VALUE = LAST | {"color_mode": BigValueColorMode.VALUE, "graph_mode": BigValueGraphMode.NONE}
STAT_PLAIN = LAST | {"color_mode": BigValueColorMode.NONE, "graph_mode": BigValueGraphMode.NONE}
BARS = LAST | {"display_mode": BarGaugeDisplayMode.BASIC}

MODEL_HEALTH = (
    PanelSpec("stat", "Open alerts by type", (0, 0, 8, 5),
              (Query("sum by (type) (trustwatch_alerts_active)", "{{type}}", True),),
              "Problems open on the alerts topic (one alert per problem).",
              steps=(("green", None), ("red", 1)), options=STAT_ALERT),
    PanelSpec("stat", "Decisions since the alerter started", (8, 0, 8, 5),
              (Query("sum by (action) (trustwatch_decisions_total)", "{{action}}", True),),
              "One decision per window: NO_ACTION, RETRAIN or ESCALATE_FAIRNESS.",
              options=STAT_VALUE),
    PanelSpec("stat", "Event time of the last decided window", (16, 0, 8, 5),
              (Query("max(trustwatch_last_window_end_timestamp_seconds) * 1000", "window end",
                     True),),
              "Simulated event time: how far the monitored stream has got.",
              unit="dateTimeAsIso", options=STAT_PLAIN),
    PanelSpec("timeseries", "Performance against the held-out baseline", (0, 5, 12, 8),
              (Query('trustwatch_model_performance_ratio{metric=~"recall|precision|f1|roc_auc"}',
                     "{{metric}}"),
               Query("trustwatch_model_baseline_ratio", "baseline {{metric}}")),
              "Metrics of the last labelled window, beside the held-out baseline of each.",
              unit="percentunit", low=0, high=1),
    PanelSpec("timeseries", "Recall relative to its baseline", (12, 5, 12, 8),
              (Query('trustwatch_model_performance_ratio{metric="recall"} '
                     '/ trustwatch_model_baseline_ratio{metric="recall"}', "recall / baseline"),
               Query('1 - trustwatch_policy_threshold{setting="performance.recall_drop_warning"}',
                     "warning below")),
              "Below the policy's recall_drop_warning (red) the recall has dropped.",
              unit="percentunit", steps=(("green", None), ("red", 0), ("green", 0.9))),
    PanelSpec("bargauge", "Drift severity per feature (0 none, 1 low, 2 medium, 3 high)",
              (0, 13, 12, 10),
              (Query('max by (feature) (trustwatch_drift_severity{feature=~"$feature"})',
                     "{{feature}}", True),),
              "Confirmed severity of the last drift window (k of n windows).",
              low=0, high=3,
              steps=(("green", None), ("yellow", 1), ("orange", 2), ("red", 3)),
              options=BARS | {"orientation": VizOrientation.HORIZONTAL}),
    PanelSpec("timeseries", "Drift PSI per feature", (12, 13, 12, 10),
              (Query('trustwatch_drift_psi{feature=~"$feature"}', "{{feature}}"),
               Query('trustwatch_policy_threshold{setting=~"drift.psi_medium|drift.psi_high"}',
                     "{{setting}}")),
              "Population stability index of each feature in the last window, with the "
              "policy's MEDIUM and HIGH bands.",
              steps=(("green", None), ("yellow", 0.1), ("red", 0.25))),
    PanelSpec("timeseries", "Drift p-value per feature", (0, 23, 12, 8),
              (Query('trustwatch_drift_p_value{feature=~"$feature"}', "{{feature}}"),
               Query('trustwatch_policy_threshold{setting="drift.family_alpha"}',
                     "family alpha")),
              "p-value of each feature's chi-square test in the last window; a feature is "
              "significant below the family alpha shared among the features (Bonferroni).",
              unit="none"),
    PanelSpec("stat", "Model version", (12, 23, 12, 8),
              (Query("max by (model_version) (trustwatch_model_info)", "{{model_version}}",
                     True),),
              "The model whose windows the alerter judges.", options=STAT_PLAIN),
    PanelSpec("timeseries", "Recall per group", (0, 31, 12, 8),
              (Query('trustwatch_group_recall_ratio{attribute=~"$attribute"}',
                     "{{attribute}}={{group}}"),),
              "Recall of each group of each sensitive attribute in the last window.",
              unit="percentunit", low=0, high=1),
    PanelSpec("timeseries", "Recall gap per attribute", (12, 31, 12, 8),
              (Query('trustwatch_group_recall_gap_ratio{attribute=~"$attribute"}', "{{attribute}}"),
               Query('trustwatch_group_recall_gap_deployment_ratio{attribute=~"$attribute"}',
                     "{{attribute}} at deployment (known)"),
               Query('trustwatch_policy_threshold{setting=~"fairness.recall_gap_.*"}',
                     "{{setting}}")),
              "Best minus worst eligible group recall, beside the model's own gap on its "
              "held-out set (known at deployment), with the policy's tolerances; the alerter "
              "flags a gap only when its whole confidence interval lies beyond one, counted "
              "from the known gap (fairness.gaps_relative_to_deployment).",
              steps=(("green", None), ("orange", 0.2), ("red", 0.3))),
    PanelSpec("bargauge", "Alerts fired and resolved since the alerter started", (0, 39, 24, 6),
              (Query("sum by (type) (trustwatch_alerts_fired_total)", "fired {{type}}", True),
               Query("sum by (type) (trustwatch_alerts_resolved_total)", "resolved {{type}}",
                     True)),
              options=BARS | {"orientation": VizOrientation.VERTICAL}),
)  # fmt: skip

PIPELINE = (
    PanelSpec("stat", "Services answering /metrics", (0, 0, 24, 4),
              (Query("up", "{{job}}", True),),
              steps=(("green", None), ("red", 0), ("green", 1)), options=STAT_ALERT),
    PanelSpec("timeseries", "Messages per second in and out, by service", (0, 4, 12, 8),
              (Query("sum by (job) (rate(trustwatch_messages_consumed_total[$__rate_interval]))",
                     "{{job}} in"),
               Query("sum by (job) (rate(trustwatch_messages_published_total[$__rate_interval]))",
                     "{{job}} out")),
              unit="ops"),
    PanelSpec("timeseries", "Consumer lag", (12, 4, 12, 8),
              (Query("sum by (job, topic) (trustwatch_consumer_lag_messages)",
                     "{{job}} on {{topic}}"),),
              "Messages not yet read, from the consumer's own fetch watermarks.", unit="short"),
    PanelSpec("bargauge", "Quarantined rows by reason", (0, 12, 12, 8),
              (Query('sum by (reason) (trustwatch_quarantined_rows_total{job="scorer"})',
                     "{{reason}}", True),),
              "Rows the scorer refused since it started, by reason code.",
              options=BARS | {"orientation": VizOrientation.HORIZONTAL}),
    PanelSpec("timeseries", "Share of incoming rows quarantined", (12, 12, 12, 8),
              (Query('sum(rate(trustwatch_quarantined_rows_total{job="scorer"}'
                     "[$__rate_interval])) / sum(rate(trustwatch_messages_consumed_total"
                     '{job="scorer", topic="rows.raw"}[$__rate_interval]))',
                     "quarantined share"),),
              unit="percentunit", steps=(("green", None), ("orange", 0.01), ("red", 0.05))),
    PanelSpec("timeseries", "End-to-end lag: newest row of a window to the alerter judging it",
              (0, 20, 12, 8), (Query("trustwatch_end_to_end_lag_seconds", "{{source}}"),),
              unit="s"),
    PanelSpec("timeseries", "Window close to alert published (p50, p99)", (12, 20, 12, 8),
              (Query("histogram_quantile(0.5, sum by (le) (rate("
                     "trustwatch_window_close_to_alert_seconds_bucket[$__rate_interval])))", "p50"),
               Query("histogram_quantile(0.99, sum by (le) (rate("
                     "trustwatch_window_close_to_alert_seconds_bucket[$__rate_interval])))",
                     "p99")),
              unit="s"),
    PanelSpec("timeseries", "Batch processing time, p99 by service", (0, 28, 12, 8),
              (Query("histogram_quantile(0.99, sum by (job, le) (rate("
                     "trustwatch_batch_processing_seconds_bucket[$__rate_interval])))",
                     "{{job}}"),),
              unit="s"),
    PanelSpec("timeseries", "Predictions waiting for a late label", (12, 28, 12, 8),
              (Query("sum(trustwatch_scorer_labels_pending)", "waiting"),
               Query("sum(trustwatch_scorer_label_buffer_evictions_total)",
                     "evicted since start")),
              unit="short"),
    PanelSpec("timeseries", "Notifications sent to Alertmanager", (0, 36, 24, 6),
              (Query("sum by (state) (trustwatch_notifications_sent_total)", "sent {{state}}"),
               Query("sum by (outcome) (trustwatch_notification_failures_total)",
                     "failed, {{outcome}}")),
              "What the notifier sent, and posts that failed (retried while Alertmanager is "
              "unreachable).", unit="short"),
)  # fmt: skip

# trustwatch's problems on the time axis (the SDK's annotation model has no Prometheus title and
# tag fields: they are added to its JSON below)
PROBLEM_ANNOTATIONS = (
    ("Problems fired", "red",
     "sum by (type, severity) (increase(trustwatch_alerts_fired_total[$__interval])) > 0",
     "{{type}} fired ({{severity}})"),
    ("Problems resolved", "green",
     "sum by (type) (increase(trustwatch_alerts_resolved_total[$__interval])) > 0",
     "{{type}} resolved"),
)  # fmt: skip


# The model contract's features and sensitive attributes, as the monitors report them: the
# dashboard names none itself (any model's), and each can be narrowed to some of them.
LABEL_VARIABLES = (
    ("feature", "Feature", "label_values(trustwatch_drift_psi, feature)"),
    ("attribute", "Sensitive attribute", "label_values(trustwatch_group_recall_ratio, attribute)"),
)


def _label_variable(name: str, label: str, query: str) -> QueryVariable:
    return (
        QueryVariable(name).label(label).datasource(DATASOURCE).query(query).multi(True)
        .include_all(True).all_value(".*").refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )  # fmt: skip


def _dashboard(uid: str, title: str, description: str, panels: tuple[PanelSpec, ...],
               annotations: tuple = (), variables: tuple = ()) -> dict:  # fmt: skip
    board = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["trustwatch"])
        .timezone("browser")
        .editable()
        .refresh("10s")
        .time("now-30m", "now")
        .with_variable(
            DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .current(VariableOption(selected=True, text="Prometheus", value=PROVISIONED_UID))
        )
    )
    for variable in variables:
        board.with_variable(_label_variable(*variable))
    for name, colour, expr, _ in annotations:
        board.annotation(
            AnnotationQuery().name(name).datasource(DATASOURCE).enable(True).icon_color(colour)
            .expr(expr)
        )  # fmt: skip
    for panel_id, spec in enumerate(panels, start=1):
        board.with_panel(_panel(spec, panel_id))
    built = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    built["editable"] = False  # provisioned: changed here, not in Grafana
    listed = built.get("annotations", {}).get("list", [])
    for query, (_, _, _, title_format) in zip(listed, annotations, strict=True):
        query.update(titleFormat=title_format, tagKeys="type,severity", step="$__interval")
    return built


def dashboards() -> dict[str, dict]:
    return {
        "model-health.json": _dashboard(
            "trustwatch-model-health", "trustwatch: model health",
            "Performance against the held-out baseline, drift per feature, recall per group, "
            "alerts and decisions, with the policy's thresholds. Every value is of the last "
            "window the alerter judged; problems fired and resolved show as annotations.",
            MODEL_HEALTH, PROBLEM_ANNOTATIONS, LABEL_VARIABLES,
        ),
        "pipeline.json": _dashboard(
            "trustwatch-pipeline", "trustwatch: pipeline",
            "Throughput per stage, consumer lag, quarantine reasons, end-to-end lag of every "
            "service, and the notifications sent to Alertmanager.",
            PIPELINE,
        ),
    }  # fmt: skip


def render(board: dict) -> str:
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a file differs")
    check = parser.parse_args(argv).check
    stale = []
    for name, board in dashboards().items():
        path = HERE / "dashboards" / name
        text = render(board)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python deploy/grafana/build.py",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
