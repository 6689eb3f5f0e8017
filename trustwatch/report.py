"""`trustwatch report`: the alerter's history as pictures and one HTML page."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np

from alerter.history import History
from shared.policy import Policy
from shared.schemas import (
    AlertSeverity,
    AlertStatus,
    DriftSeverity,
    DriftSignal,
    FairnessSignal,
    PerformanceSignal,
)

SEVERITY_CODE = {DriftSeverity.NONE: 0, DriftSeverity.LOW: 1, DriftSeverity.MEDIUM: 2,
                 DriftSeverity.HIGH: 3}  # fmt: skip
ALERT_COLOURS = {AlertSeverity.INFO: "#4c72b0", AlertSeverity.WARNING: "#dd8452",
                 AlertSeverity.CRITICAL: "#c44e52"}  # fmt: skip
# actions apart from severities: ESCALATE_FAIRNESS must not read as one more CRITICAL bar
ACTION_COLOURS = {"NO_ACTION": "#55a868", "RETRAIN": "#8172b3", "ESCALATE_FAIRNESS": "#2f2f2f"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _day(moment: datetime) -> str:
    return moment.strftime("%m-%d")


def _save(plt, figure, path: Path, dates: bool) -> None:
    """Lay the figure out, write it as a PNG and free it (plots of time series tilt their dates)."""
    if dates:
        figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_performance(history: History, policy: Policy, path: Path) -> bool:
    plt = _pyplot()
    matured = history.signals(PerformanceSignal)
    estimated = history.signals(PerformanceSignal, provisional=True)
    if not matured and not estimated:
        return False
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    for axis, metric, label in ((top, "recall", "Recall"), (bottom, "roc_auc", "ROC-AUC")):
        if matured:
            baseline = getattr(matured[0], f"baseline_{metric}")
            drop = (policy.performance.recall_drop_warning if metric == "recall"
                    else policy.performance.roc_auc_drop_warning)  # fmt: skip
            floor = baseline * (1 - drop) if metric == "recall" else baseline - drop
            axis.axhspan(floor, baseline, color="#55a868", alpha=0.15,
                         label=f"baseline {baseline:.2f} and tolerated drop")  # fmt: skip
            axis.axhline(baseline, color="#55a868")
            times = [s.window_start for s in matured]
            values = [getattr(s, metric) for s in matured]
            axis.plot(times, values, marker="o", color="#4c72b0", label=f"{label} (labelled)")
            low = [getattr(s, f"{metric}_low") for s in matured]
            high = [getattr(s, f"{metric}_high") for s in matured]
            if all(v is not None for v in low + high):
                axis.fill_between(times, low, high, color="#4c72b0", alpha=0.15,
                                  label="95 % interval")  # fmt: skip
        if estimated:
            axis.plot(
                [s.window_start for s in estimated],
                [getattr(s, metric) for s in estimated],
                linestyle="--",
                color="#937860",
                label=f"{label} (estimated, no labels yet)",
            )
        axis.set_ylabel(label)
        axis.legend(fontsize=8, loc="lower left")
    for alert in history.alerts():
        if alert.status == AlertStatus.FIRING and alert.type.value in (
            "PERFORMANCE",
            "CHANGE_POINT",
        ):
            for axis in (top, bottom):
                axis.axvline(alert.window_start, color=ALERT_COLOURS[alert.severity],
                             linestyle=":", alpha=0.8)  # fmt: skip
    top.set_title("Model performance per window against the held-out baseline "
                  "(dotted lines: performance and change-point alerts)")  # fmt: skip
    _save(plt, figure, path, dates=True)
    return True


def plot_drift(history: History, _policy: Policy, path: Path) -> bool:
    plt = _pyplot()
    signals = history.signals(DriftSignal)
    if not signals:
        return False
    names = [f.feature for f in signals[0].features]
    if signals[0].prediction is not None:
        names.append("prediction")
    grid = np.zeros((len(names), len(signals)))
    psi = np.zeros_like(grid)
    for column, signal in enumerate(signals):
        drifts = {f.feature: f for f in signal.features}
        if signal.prediction is not None:
            drifts["prediction"] = signal.prediction
        for row, name in enumerate(names):
            drift = drifts.get(name)
            if drift is not None:
                grid[row, column] = SEVERITY_CODE[drift.confirmed or drift.severity]
                psi[row, column] = drift.psi
    from matplotlib.colors import ListedColormap

    figure, axis = plt.subplots(figsize=(max(8, 0.45 * len(signals) + 3), 7))
    colours = ListedColormap(["#f7f7f7", "#fde68a", "#f59e0b", "#c44e52"])
    image = axis.imshow(grid, aspect="auto", cmap=colours, vmin=-0.5, vmax=3.5)
    axis.set_yticks(range(len(names)), names)
    step = max(1, len(signals) // 15)
    ticks = list(range(0, len(signals), step))
    axis.set_xticks(ticks, [_day(signals[i].window_start) for i in ticks])
    for row in range(len(names)):
        for column in range(len(signals)):
            if grid[row, column] >= 2:
                axis.text(column, row, f"{psi[row, column]:.2f}", ha="center", va="center",
                          fontsize=6)  # fmt: skip
    bar = figure.colorbar(image, ticks=[0, 1, 2, 3])
    bar.ax.set_yticklabels(["NONE", "LOW", "MEDIUM", "HIGH"])
    axis.set_title("Drift severity per feature and window (numbers: PSI of MEDIUM and HIGH)")
    _save(plt, figure, path, dates=False)
    return True


def plot_fairness(
    history: History, policy: Policy, path: Path, known: Mapping[str, float] | None = None
) -> bool:
    """Recall per group and the gap per attribute, with the gap the model had at deployment
    (``known``: attribute -> held-out gap) and the tolerance counted from it."""
    plt = _pyplot()
    signals = history.signals(FairnessSignal)
    if not signals:
        return False
    # the attributes the monitor reported: the model contract's sensitive ones
    attributes = sorted({group.attribute for s in signals for group in s.groups}
                        | {gap.attribute for s in signals for gap in s.gaps})  # fmt: skip
    figure, axes = plt.subplots(len(attributes), 1, figsize=(11, 2.6 * len(attributes)),
                                sharex=True, squeeze=False)  # fmt: skip
    times = [s.window_start for s in signals]
    for axis, attribute in zip(axes[:, 0], attributes, strict=True):
        groups = sorted({g.group for s in signals for g in s.groups if g.attribute == attribute})
        for group in groups:
            values = []
            for signal in signals:
                match = [g for g in signal.groups if g.attribute == attribute and g.group == group]
                values.append(match[0].recall if match and match[0].eligible else np.nan)
            axis.plot(times, values, marker="o", markersize=3, label=f"{attribute}={group}")
        gaps = [next((g.gap for g in s.gaps if g.attribute == attribute), None) for s in signals]
        axis.bar(times, [g if g is not None else 0 for g in gaps], width=0.6, color="#c44e52",
                 alpha=0.25, label="recall gap")  # fmt: skip
        own = (known or {}).get(attribute, 0.0)
        if not policy.fairness.gaps_relative_to_deployment:
            own = 0.0
        if own > 0:
            axis.axhline(own, color="#7f7f7f", linestyle=":", linewidth=1,
                         label=f"gap at deployment {own:.2f} (known)")  # fmt: skip
        axis.axhline(own + policy.fairness.recall_gap_warning, color="#c44e52", linestyle="--",
                     linewidth=1, label="gap tolerance")  # fmt: skip
        axis.set_ylim(0, 1.05)
        axis.set_ylabel("recall")
        axis.legend(fontsize=7, loc="lower left", ncol=4)
    axes[0, 0].set_title("Recall per group (eligible groups only) and the gap between them")
    _save(plt, figure, path, dates=True)
    return True


def plot_timeline(history: History, _policy: Policy, path: Path) -> bool:
    plt = _pyplot()
    alerts, decisions = history.alerts(), history.decisions()
    if not decisions:
        return False
    end = max(d.window_end for d in decisions)
    spans: dict[str, list] = {}
    for alert in alerts:
        spans.setdefault(alert.key, []).append(alert)
    keys = sorted(spans, key=lambda k: min(a.window_start for a in spans[k]))
    figure, axis = plt.subplots(figsize=(11, 0.35 * len(keys) + 2.2))
    for row, key in enumerate(keys):
        open_since, severity = None, AlertSeverity.INFO
        for alert in sorted(spans[key], key=lambda a: a.window_start):
            if alert.status != AlertStatus.RESOLVED:
                if open_since is None:
                    open_since = alert.window_start
                severity = max(severity, alert.severity, key=list(AlertSeverity).index)
            elif open_since is not None:
                axis.barh(row, alert.window_start - open_since, left=open_since,
                          color=ALERT_COLOURS[severity])  # fmt: skip
                open_since = None
        if open_since is not None:
            axis.barh(row, end - open_since, left=open_since, color=ALERT_COLOURS[severity])
    for decision in decisions:
        axis.barh(-1.2, decision.window_end - decision.window_start, left=decision.window_start,
                  color=ACTION_COLOURS[decision.action.value], height=0.8)  # fmt: skip
    labels = []
    for key in keys:
        last = max(spans[key], key=lambda a: a.event_time)
        symptoms = len(last.members) - 1
        more = f" +{symptoms} seen with it" if symptoms > 0 else ""
        labels.append(f"{last.type.value} {last.subject}{more}")
    axis.set_yticks([*range(len(keys)), -1.2], [*labels, "decision"])
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=s.value) for s, c in ALERT_COLOURS.items()]
    handles += [Patch(color=c, label=a) for a, c in ACTION_COLOURS.items()]
    axis.legend(handles=handles, fontsize=7, loc="upper left", ncol=6)
    axis.set_title("Alerts from firing to resolution, and the decision of each window")
    _save(plt, figure, path, dates=True)
    return True


PLOTS = (
    ("performance.png", "Performance", plot_performance),
    ("drift.png", "Drift", plot_drift),
    ("fairness.png", "Fairness", plot_fairness),
    ("timeline.png", "Alerts and decisions", plot_timeline),
)


def write_report(
    history_path: Path, out: Path, policy: Policy, known_gaps: Mapping[str, float] | None = None
) -> Path:
    """Render every plot and an ``index.html`` into ``out``; return the page's path.
    ``known_gaps``: the model's own recall gap per attribute at deployment, shown as known."""
    if not Path(history_path).exists():
        raise FileNotFoundError(f"no history at {history_path}: run the alerter (or the demo)")
    out.mkdir(parents=True, exist_ok=True)
    history = History(history_path)
    sections = []
    for filename, title, plot in PLOTS:
        if plot is plot_fairness:
            plot = partial(plot_fairness, known=known_gaps)
        if plot(history, policy, out / filename):
            sections.append(f"<h2>{title}</h2><img src='{filename}' alt='{title}'>")
    rows = "".join(
        f"<tr><td>{a.window_start:%Y-%m-%d}</td><td>{a.status.value}</td><td>{a.severity.value}"
        f"</td><td>{a.type.value}</td><td>{html.escape(a.subject)}</td>"
        f"<td>{html.escape(a.explanation)}</td></tr>"
        for a in history.alerts()
    )
    decisions = "".join(
        f"<tr><td>{d.window_start:%Y-%m-%d}</td><td>{d.action.value}</td>"
        f"<td>{html.escape(', '.join(d.reasons))}</td><td>{html.escape(d.explanation)}</td></tr>"
        for d in history.decisions()
    )
    history.close()
    known = "".join(
        f"<tr><td>{html.escape(attribute)}</td><td>{gap:.3f}</td></tr>"
        for attribute, gap in sorted((known_gaps or {}).items())
    )
    if known:
        sections.append(
            "<h2>Recall gaps known at deployment</h2><p>The model's own gap per attribute on "
            "its held-out set; a BIAS alert needs a gap wider than this by the tolerance"
            + ("" if policy.fairness.gaps_relative_to_deployment
               else " (not applied: fairness.gaps_relative_to_deployment is off)")
            + ".</p><table><tr><th>attribute</th><th>gap</th></tr>" + known + "</table>"
        )  # fmt: skip
    page = out / "index.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>trustwatch report</title>"
        "<style>body{font-family:sans-serif;max-width:1150px;margin:auto}img{max-width:100%}"
        "td,th{border-bottom:1px solid #ddd;padding:4px;font-size:13px;text-align:left}"
        "table{border-collapse:collapse}</style></head><body><h1>trustwatch report</h1>"
        + "".join(sections)
        + "<h2>Alerts</h2><table><tr><th>window</th><th>status</th><th>severity</th>"
        "<th>type</th><th>subject</th><th>explanation</th></tr>" + rows + "</table>"
        "<h2>Decisions</h2><table><tr><th>window</th><th>action</th><th>reasons</th>"
        "<th>explanation</th></tr>" + decisions + "</table></body></html>"
    )
    return page
