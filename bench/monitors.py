"""Benchmark of the monitors: false alarms, detection, change points and cost, in one run.

No-drift windows are drawn without replacement from held-out rows (the test split and the
production pool, which the model and the reference never saw), so a window differs from the
reference by sampling noise only. Shifted windows apply one change to such a window. A plain
scipy implementation (KS for numerics, chi-square for categoricals, p < 0.05 per feature, no
correction; numpy PSI) runs on the same windows in the same process as the baseline.

    python -m bench.monitors [--windows 500] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import track
from rich.table import Table
from scipy import stats

from model.artifact import load_metadata, load_model, load_reference, resolve_version_dir
from model.datasets import load_clean, split
from model.features import FEATURES, LABEL_COLUMN, NUMERIC_FEATURES
from monitors.changepoint import AdwinDetector, BucketStream, ChangeWatch, detect
from monitors.confirm import SeverityConfirmer
from monitors.drift import SEVERITIES, DriftWindow, ReferenceProfile
from monitors.fairness import GroupWindow
from monitors.offline import DriftMonitor
from shared.policy import load_policy
from shared.schemas import DriftSeverity

SIZES = (200, 500, 1000)
console = Console()


def shift_monthly(factor: float):
    def apply(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out = frame.copy()
        out["MonthlyCharges"] = out["MonthlyCharges"] * factor
        return out

    return apply


def shift_tenure(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    out["tenure"] = (out["tenure"] - 12).clip(lower=0)
    return out


def contract_to_month(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Month-to-month for an extra 30 % of the rows (30 percentage points more)."""
    out = frame.copy()
    others = np.flatnonzero(out["Contract"].to_numpy() != "Month-to-month")
    moved = rng.choice(others, size=min(len(others), int(0.3 * len(out))), replace=False)
    out.loc[out.index[moved], "Contract"] = "Month-to-month"
    return out


SHIFTS = {
    "MonthlyCharges x1.15": ("MonthlyCharges", shift_monthly(1.15)),
    "tenure -12 months": ("tenure", shift_tenure),
    "Contract +30% M2M": ("Contract", contract_to_month),
}


def scipy_p_values(reference: pd.DataFrame, window: pd.DataFrame) -> dict[str, float]:
    """Per feature: the KS p-value (numeric) or the chi-square one (categorical) of the window
    against the reference; numpy PSI beside them (computed, as a plain monitor would, not used
    to flag)."""
    p_values = {}
    for name in FEATURES:
        if name in NUMERIC_FEATURES:
            p_value = stats.ks_2samp(reference[name], window[name]).pvalue
            edges = np.quantile(reference[name], np.linspace(0, 1, 11))
            expected, _ = np.histogram(reference[name], edges)
            actual, _ = np.histogram(window[name].clip(edges[0], edges[-1]), edges)
        else:
            categories = sorted(set(reference[name]) | set(window[name]))
            expected = reference[name].value_counts().reindex(categories, fill_value=0).to_numpy()
            actual = window[name].value_counts().reindex(categories, fill_value=0).to_numpy()
            table = np.vstack([expected, actual])
            p_value = stats.chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue
        e = np.maximum(expected / expected.sum(), 1e-4)
        a = np.maximum(actual / actual.sum(), 1e-4)
        _psi = float(np.sum((a - e) * np.log(a / e)))
        p_values[name] = float(p_value)
    return p_values


def scipy_baseline(reference: pd.DataFrame, window: pd.DataFrame) -> set[str]:
    """Per-feature KS / chi-square at p < 0.05, no correction."""
    return {name for name, p in scipy_p_values(reference, window).items() if p < 0.05}


def drift_quality(profile, policy, reference, held_out, windows, rng) -> dict:
    codes = profile.encode(held_out)
    results: dict = {"false_alarm": {}, "false_alarm_scipy": {}, "high": {},
                     "high_confirmed": {}, "small_shift": None}  # fmt: skip
    for size in SIZES:
        ours = theirs = 0
        hits = dict.fromkeys(SHIFTS, 0)
        # the same windows as one stream under a sustained shift, through the k-of-n confirmation
        # the drift signal reports (and alerts, decisions and dashboards use)
        confirmers = {
            label: SeverityConfirmer(policy.drift.confirm_windows, policy.drift.confirm_min)
            for label in SHIFTS
        }
        confirmed = dict.fromkeys(SHIFTS, 0)
        for _ in track(range(windows), description=f"drift windows of {size}", console=console):
            index = rng.choice(len(held_out), size, replace=False)
            check = DriftWindow(profile).update_codes(codes[index]).check(policy.drift)
            ours += bool(check.significant[: len(FEATURES)].any())
            if size == 500 or windows <= 200:
                theirs += bool(scipy_baseline(reference, held_out.iloc[index]))
            frame = held_out.iloc[index]
            for label, (feature, change) in SHIFTS.items():
                shifted_codes = codes[index].copy()
                column = profile.index[feature]
                shifted = change(frame, rng)
                shifted_codes[:, column] = profile.feature(feature).bins_of(shifted[feature])
                check = DriftWindow(profile).update_codes(shifted_codes).check(policy.drift)
                hits[label] += int(check.severity[column]) == 3
                level = confirmers[label].level(feature, SEVERITIES[int(check.severity[column])])
                confirmed[label] += level == DriftSeverity.HIGH
        results["false_alarm"][size] = ours / windows
        # the first confirm_min - 1 windows of a stream cannot be confirmed yet (detection delay)
        rated = windows - (policy.drift.confirm_min - 1)
        results["high_confirmed"][size] = {
            label: min(1.0, count / rated) for label, count in confirmed.items()
        }
        if size == 500 or windows <= 200:
            results["false_alarm_scipy"][size] = theirs / windows
        results["high"][size] = {label: count / windows for label, count in hits.items()}
    flagged = 0
    column = profile.index["MonthlyCharges"]
    for _ in range(windows):
        index = rng.choice(len(held_out), 1000, replace=False)
        shifted_codes = codes[index].copy()
        values = held_out["MonthlyCharges"].to_numpy()[index] * 1.03
        shifted_codes[:, column] = profile.feature("MonthlyCharges").bins_of(values)
        check = DriftWindow(profile).update_codes(shifted_codes).check(policy.drift)
        flagged += bool(check.significant[column])
    results["small_shift"] = flagged / windows
    return results


def timings(profile, policy, reference, held_out, attributes) -> dict:
    window = held_out.sample(1000, random_state=5)
    counts = DriftWindow(profile).update_frame(window)

    def per_call(function, repeat):
        function()
        started = time.perf_counter()
        for _ in range(repeat):
            function()
        return (time.perf_counter() - started) / repeat * 1000

    groups = GroupWindow(attributes)
    for record in window.to_dict(orient="records"):
        groups.update(record, record[LABEL_COLUMN], record[LABEL_COLUMN])
    fairness_policy = policy.fairness
    return {
        "check_from_counts_ms": per_call(lambda: counts.check(policy.drift), 500),
        "check_with_messages_ms": per_call(lambda: counts.result(policy.drift), 300),
        "bin_and_check_frame_ms": per_call(
            lambda: DriftWindow(profile).update_codes(profile.encode(window)).check(policy.drift),
            100,
        ),
        # the offline API on a DataFrame (binning included), beside scipy on the same window
        "offline_check_frame_ms": per_call(
            lambda: DriftMonitor(profile, policy).check(window), 100
        ),  # fmt: skip
        "scipy_baseline_ms": per_call(lambda: scipy_baseline(reference, window), 20),
        "fairness_result_ms": per_call(
            lambda: groups.result(
                fairness_policy.min_group_positives,
                fairness_policy.min_group_negatives,
                fairness_policy.gap_confidence,
            ),
            2000,
        ),  # fmt: skip
    }


def change_points(model, metadata, pool, seeds: int, buckets: int, cap: int) -> dict:
    """ADWIN on the error of the `concept` and `baseline` scenarios at the demo's rates, fed
    from each window's event-time buckets as the performance monitor feeds it."""
    from datetime import UTC, datetime, timedelta

    from producer.scenario import get_scenario
    from producer.stream import StreamPlan, generate
    from shared.topics import RAW_ROWS

    outcome: dict = {"concept_delay_rows": [], "concept_missed": 0, "baseline_detections": 0}
    for seed in range(seeds):
        for name in ("concept", "baseline"):
            scenario = get_scenario(name)
            plan = StreamPlan(scenario, 14, 500, seed, datetime(2026, 3, 1, tzinfo=UTC))
            emitted = generate(plan, pool, metadata.contract)
            rows = [RAW_ROWS.decode(e.payload) for e in emitted]
            frame = pd.DataFrame([r.features for r in rows])
            predicted = (model.predict_proba(frame)[:, 1] >= metadata.threshold).astype(int)
            errors = predicted != np.array([r.label for r in rows])
            # as the monitor sees them: each day's window summarised in event-time buckets
            watch = ChangeWatch("error_rate", AdwinDetector(0.002))
            times = np.array([r.event_time.timestamp() for r in rows])
            width = timedelta(days=1) / buckets
            onset = 7 * 500
            detections = []
            for day in range(14):
                stream = BucketStream(("error_rate",), plan.origin, width)
                for error, row in zip(errors[day * 500 : (day + 1) * 500],
                                      rows[day * 500 : (day + 1) * 500], strict=True):  # fmt: skip
                    stream.update(row.event_time, {"error_rate": float(error)})
                for change in detect([watch], stream, cap):
                    end = (change.event_time + width).timestamp()
                    detections.append(int(np.searchsorted(times, end, side="left")))
            if name == "baseline":
                outcome["baseline_detections"] += len(detections)
                continue
            after = [i - onset for i in detections if i >= onset]
            if after:
                outcome["concept_delay_rows"].append(after[0])
            else:
                outcome["concept_missed"] += 1
            outcome["concept_false_before_onset"] = outcome.get(
                "concept_false_before_onset", 0
            ) + sum(1 for i in detections if i < onset)
    return outcome


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    sizes = [str(s) for s in SIZES]
    left.bar(sizes, [100 * results["drift"]["false_alarm"][s] for s in SIZES], color="#4c72b0")
    left.axhline(1.0, color="crimson", linestyle="--", label="target: 1 %")
    left.set_title("False alarms on windows without drift")
    left.set_xlabel("window rows")
    left.set_ylabel("% of windows with any feature flagged")
    left.legend()
    width = 0.25
    for k, label in enumerate(SHIFTS):
        values = [100 * results["drift"]["high_confirmed"][s][label] for s in SIZES]
        alone = [100 * results["drift"]["high"][s][label] for s in SIZES]
        bars = right.bar(np.arange(len(SIZES)) + (k - 1) * width, values, width, label=label)
        right.scatter(
            np.arange(len(SIZES)) + (k - 1) * width,
            alone,
            marker="_",
            s=200,
            color="black",
            zorder=3,
            label="each window alone" if k == 0 else None,
        )
        del bars
    right.axhline(99.0, color="crimson", linestyle="--", label="target: 99 %")
    right.set_xticks(range(len(SIZES)), sizes)
    right.set_ylim(80, 101)
    right.set_title("Shifted feature rated HIGH, as reported (2 of 3 windows)")
    right.set_xlabel("window rows")
    right.set_ylabel("% of windows")
    right.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    policy = load_policy()

    from scorer.training import train

    artifacts = Path(tempfile.mkdtemp(prefix="trustwatch-bench-"))
    with console.status("training the model for the benchmark"):
        train(artifacts, policy, seed=42)
    version_dir = resolve_version_dir(artifacts)
    metadata = load_metadata(version_dir)
    model = load_model(version_dir, metadata)
    reference = load_reference(version_dir, metadata)
    parts = split(load_clean(), seed=42)
    held_out = pd.concat([parts.test, parts.production], ignore_index=True)
    profile = ReferenceProfile.fit(reference, policy.drift.bins, FEATURES, policy.drift.test_bins,
                                   "probability", numeric=metadata.contract.numeric)  # fmt: skip
    rng = np.random.default_rng(2026)

    results = {
        "windows_per_size": args.windows,
        "drift": drift_quality(profile, policy, reference, held_out, args.windows, rng),
        "timing": timings(profile, policy, reference, held_out, metadata.contract.sensitive),
        "change_points": change_points(
            model,
            metadata,
            parts.production,
            args.seeds,
            policy.summaries.stream_buckets,
            policy.summaries.adwin_values_per_bucket,
        ),  # fmt: skip
    }
    timing = results["timing"]
    timing["speedup_vs_scipy"] = timing["scipy_baseline_ms"] / timing["check_from_counts_ms"]
    # the offline API on a DataFrame, binning included, against the same scipy run
    timing["offline_speedup_vs_scipy"] = (
        timing["scipy_baseline_ms"] / timing["offline_check_frame_ms"]
    )
    report(results)
    (args.out / "monitors.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "monitors.png")
    console.print(f"results written to {args.out / 'monitors.json'} and monitors.png")


def report(results: dict) -> None:
    drift = results["drift"]
    table = Table(title=f"drift, {results['windows_per_size']} windows per size")
    table.add_column("measure")
    for size in SIZES:
        table.add_column(f"{size} rows", justify="right")
    table.add_column("target")
    table.add_row("false alarms (ours)", *[f"{100 * drift['false_alarm'][s]:.1f} %" for s in SIZES],
                  "<= 1 %")  # fmt: skip
    table.add_row(
        "false alarms (scipy p<0.05 per feature)",
        *[f"{100 * drift['false_alarm_scipy'][s]:.1f} %" if s in drift["false_alarm_scipy"]
          else "" for s in SIZES],
        "",
    )  # fmt: skip
    for label in SHIFTS:
        table.add_row(f"HIGH on {label}, each window alone",
                      *[f"{100 * drift['high'][s][label]:.1f} %" for s in SIZES], "")  # fmt: skip
        table.add_row(f"HIGH on {label}, as reported (k of n)",
                      *[f"{100 * drift['high_confirmed'][s][label]:.1f} %" for s in SIZES],
                      ">= 99 %")  # fmt: skip
    table.add_row("MonthlyCharges x1.03 flagged", "", "", f"{100 * drift['small_shift']:.1f} %",
                  ">= 90 %")  # fmt: skip
    console.print(table)
    timing = results["timing"]
    costs = Table(title="cost per 1000-row window (19 features + prediction)")
    costs.add_column("step")
    costs.add_column("ms", justify="right")
    for key, value in timing.items():
        costs.add_row(key, f"{value:.0f}x" if "speedup" in key else f"{value:.3f}")
    console.print(costs)
    changes = results["change_points"]
    delays = changes["concept_delay_rows"]
    console.print(
        f"ADWIN on the error rate: concept step found after {delays} rows "
        f"(median {np.median(delays) if delays else float('nan'):.0f}, target <= 300), "
        f"missed {changes['concept_missed']}, detections on baseline "
        f"{changes['baseline_detections']} (target 0)"
    )


if __name__ == "__main__":
    main()
