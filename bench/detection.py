"""Detection benchmark: every built-in scenario over many seeds and window sizes.

    python -m bench.detection [--seeds 20] [--sizes 200 500 1000] [--workers 2]

Each run is the whole pipeline in one process (``trustwatch.simulation``: the services' own
handlers, no broker), judged against the scenario's ground truth (``trustwatch.evaluation``). Per
window size and step kind it reports the share of steps caught by the right alert type, the
median and worst delay, the problems opened per step, and how soon after a step's end all of them
resolved; false alarms are problems opened outside every step (and its settling windows), per 100
such windows, before the first step, between steps and after the last. Beside it, on the same
windows and rows: a per-feature KS / chi-square test against the reference at p < 0.05, and the
same with Bonferroni's correction (no trustwatch code), each flagged window an alarm.

Results: bench/results/detection.json and detection.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.monitors import scipy_p_values
from model.artifact import load_metadata, load_reference, resolve_version_dir
from model.datasets import load_clean, split
from model.features import FEATURES
from producer.scenario import builtin_names_for, get_scenario
from producer.stream import StreamPlan
from shared.policy import load_policy
from shared.schemas import Alert, AlertStatus, AlertType, RawRow
from shared.settings import Settings
from shared.topics import RAW_ROWS
from trustwatch.evaluation import PHASES, judge_run
from trustwatch.simulation import Simulation

console = Console(width=130)
SIZES = (200, 500, 1000)
SETTLE_WINDOWS = 3  # a step's problems must resolve within this many windows of its end
ALPHA = 0.05
CAUGHT_GOAL = {200: 0.80, 500: 0.95, 1000: 0.95}
FALSE_ALARMS_GOAL = 1.0  # per 100 windows without a step
ONE_ALERT_GOAL = 0.95
GOALS = {"caught": CAUGHT_GOAL, "false_alarms_per_100": FALSE_ALARMS_GOAL,
         "one_alert": ONE_ALERT_GOAL, "resolved": 1.0}  # fmt: skip


class _Worker:
    """What every run of one process shares: the settings, the production pool, the reference."""

    settings: Settings
    pool: pd.DataFrame
    reference: pd.DataFrame


def _start_worker(artifacts: str) -> None:
    settings = Settings(artifacts_dir=artifacts)
    version_dir = resolve_version_dir(settings.artifacts_dir)
    _Worker.settings = settings
    _Worker.pool = split(load_clean(), seed=42).production
    _Worker.reference = load_reference(version_dir, load_metadata(version_dir))


def _naive_alarms(
    rows: Iterable[object], origin: datetime, window: timedelta, alpha: float
) -> tuple[list[Alert], list[Alert]]:
    """The plain tests' alarms: one per flagged feature and window (for what they catch), and
    one per window with any feature flagged (for false alarms)."""
    by_window: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        if isinstance(row, RawRow):
            by_window[(row.event_time - origin) // window].append(dict(row.features))
    per_feature: list[Alert] = []
    per_window: list[Alert] = []
    for index, records in sorted(by_window.items()):
        start = origin + window * index
        p_values = scipy_p_values(_Worker.reference, pd.DataFrame(records))
        flagged = sorted(name for name, p in p_values.items() if p < alpha)
        per_feature += [_alarm(name, start, window) for name in flagged]
        if flagged:
            per_window.append(_alarm(flagged[0], start, window))
    return per_feature, per_window


def _alarm(feature: str, start: datetime, window: timedelta) -> Alert:
    return Alert(event_time=start + window, key=f"DRIFT:{feature}@{start:%Y-%m-%d}",
                 status=AlertStatus.FIRING, type=AlertType.DRIFT, severity="WARNING",
                 subject=feature, explanation="", window_start=start, window_end=start + window,
                 fired_window=start)  # fmt: skip


def run_one(task: tuple[str, int, int]) -> dict:
    name, size, seed = task
    scenario = get_scenario(name)
    plan = StreamPlan(scenario, scenario.days, size, seed, _Worker.settings.simulation_start)
    settings = _Worker.settings.model_copy(
        update={"window_seconds": int(plan.day_length.total_seconds())}
    )
    simulation = Simulation(settings, _Worker.pool)
    result = simulation.run(plan)
    window, origin = plan.day_length, plan.origin

    def judge(alerts: Sequence[Alert]) -> dict:
        judged = judge_run(result.steps, alerts, origin, window, plan.days, SETTLE_WINDOWS)
        return judged.model_dump(mode="json")

    naive = {}
    raw = simulation.messages(RAW_ROWS)
    for label, alpha in (("scipy", ALPHA), ("scipy_bonferroni", ALPHA / len(FEATURES))):
        per_feature, per_window = _naive_alarms(raw, origin, window, alpha)
        naive[label] = {"caught": judge(per_feature)["steps"],
                        "false_alarms": judge(per_window)}  # fmt: skip
    return {
        "scenario": name, "window_rows": size, "seed": seed, "windows": plan.days,
        "rows": result.rows, "scored": result.scored, "quarantined": result.quarantined,
        "ours": judge(result.alerts), "naive": naive,
    }  # fmt: skip


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _per_100(runs: list[dict], phase: str | None = None) -> float | None:
    phases = PHASES if phase is None else (phase,)
    alarms = sum(run["false_alarms"][p] for run in runs for p in phases)
    windows = sum(run["clean_windows"][p] for run in runs for p in phases)
    return 100 * alarms / windows if windows else None


def summarise(runs: Sequence[dict]) -> dict:
    """Per window size: per step kind the catch, delay, problems and resolution figures; false
    alarms per phase; and the plain tests' figures on the same windows."""
    summary: dict = {}
    for size in sorted({run["window_rows"] for run in runs}):
        sized = [run for run in runs if run["window_rows"] == size]
        steps = defaultdict(list)
        for run in sized:
            for step in run["ours"]["steps"]:
                steps[step["kind"]].append(step)
        kinds = {}
        for kind, judged in sorted(steps.items()):
            delays = [s["delay_windows"] for s in judged if s["delay_windows"] is not None]
            ended = [s for s in judged if s["unresolved"] or s["resolved_windows"] is not None]
            resolution = [s["resolved_windows"] for s in ended if s["resolved_windows"] is not None]
            caught = [s for s in judged if s["caught_by"] is not None]
            kinds[kind] = {
                "steps": len(judged),
                "caught": _share([s["caught_by"] is not None for s in judged]),
                "median_delay": statistics.median(delays) if delays else None,
                "worst_delay": max(delays) if delays else None,
                "one_alert": _share([s["problems"] == 1 for s in caught]),
                "mean_alerts": statistics.fmean([s["problems"] for s in caught] or [0]),
                "ended": len(ended),
                "resolved_in_time": _share(
                    [
                        s["resolved_windows"] is not None
                        and s["resolved_windows"] <= SETTLE_WINDOWS
                        for s in ended
                    ]
                ),  # fmt: skip
                "median_resolution": statistics.median(resolution) if resolution else None,
                "worst_resolution": max(resolution) if resolution else None,
                "unresolved": sum(s["unresolved"] for s in ended),
            }
        ours = [run["ours"] for run in sized]
        entry = {
            "runs": len(sized),
            "kinds": kinds,
            "false_alarms_per_100": _per_100(ours),
            "false_alarms_by_phase": {p: _per_100(ours, p) for p in PHASES},
            "clean_windows": sum(r["clean_windows"][p] for r in ours for p in PHASES),
        }
        for label in ("scipy", "scipy_bonferroni"):
            naive = [run["naive"][label] for run in sized]
            flagged: dict[str, list[bool]] = defaultdict(list)
            for run in naive:
                for step in run["caught"]:
                    flagged[step["kind"]].append(step["caught_by"] is not None)
            entry[label] = {
                "false_alarms_per_100": _per_100([run["false_alarms"] for run in naive]),
                "caught": {kind: _share(values) for kind, values in sorted(flagged.items())},
            }
        summary[str(size)] = entry
    return summary


def report(summary: dict) -> None:
    for size, entry in summary.items():
        table = Table(title=f"detection at {size} rows a window, {entry['runs']} runs "
                            f"({entry['clean_windows']} windows without a step)")  # fmt: skip
        for column in ("step kind", "caught", "delay median / worst", "one alert",
                       "resolved <= 3", "resolution median / worst", "KS/chi2 caught",
                       "Bonferroni caught"):  # fmt: skip
            table.add_column(column, justify="left" if column == "step kind" else "right")
        for kind, k in entry["kinds"].items():
            table.add_row(
                f"{kind} ({k['steps']})", _pct(k["caught"]),
                f"{_num(k['median_delay'])} / {_num(k['worst_delay'])}", _pct(k["one_alert"]),
                f"{_pct(k['resolved_in_time'])} of {k['ended']}" if k["ended"] else "-",
                f"{_num(k['median_resolution'])} / {_num(k['worst_resolution'])}",
                _pct(entry["scipy"]["caught"].get(kind)),
                _pct(entry["scipy_bonferroni"]["caught"].get(kind)),
            )  # fmt: skip
        console.print(table)
        phases = ", ".join(f"{p} {_num(v, 2)}" for p, v in entry["false_alarms_by_phase"].items())
        console.print(
            f"false alarms per 100 windows: ours {_num(entry['false_alarms_per_100'], 2)} "
            f"({phases}); KS/chi2 p<0.05 {_num(entry['scipy']['false_alarms_per_100'], 1)}; "
            f"Bonferroni {_num(entry['scipy_bonferroni']['false_alarms_per_100'], 1)}"
        )


def _dump(results: dict) -> str:
    head = {key: value for key, value in results.items() if key != "runs"}
    lines = ",\n".join(json.dumps(run, separators=(",", ":")) for run in results["runs"])
    return json.dumps(head, indent=1)[:-2] + ',\n "runs": [\n' + lines + "\n ]\n}\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sizes = list(summary)
    kinds = sorted({kind for entry in summary.values() for kind in entry["kinds"]})
    figure, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (caught, single), (resolved, alarms) = axes
    width = 0.8 / max(1, len(kinds))
    for k, kind in enumerate(kinds):
        x = np.arange(len(sizes)) + (k - (len(kinds) - 1) / 2) * width
        values = [100 * (summary[s]["kinds"].get(kind, {}).get("caught") or 0) for s in sizes]
        caught.bar(x, values, width, label=kind)
        naive = [100 * (summary[s]["scipy"]["caught"].get(kind) or 0) for s in sizes]
        caught.scatter(x, naive, marker="_", s=120, color="black", zorder=3,
                       label="KS/chi2 p<0.05" if k == 0 else None)  # fmt: skip
        done = [100 * (summary[s]["kinds"].get(kind, {}).get("resolved_in_time") or 0)
                if summary[s]["kinds"].get(kind, {}).get("ended") else np.nan
                for s in sizes]  # fmt: skip
        resolved.bar(x, done, width, label=kind)
        ones = [100 * (summary[s]["kinds"].get(kind, {}).get("one_alert") or 0) for s in sizes]
        single.bar(x, ones, width, label=kind)
    single.axhline(100 * ONE_ALERT_GOAL, color="crimson", linestyle="--", label="goal")
    single.legend(fontsize=7, loc="lower right")
    for axis, title, ylabel in (
        (caught, "Steps caught by the right alert type", "% of steps"),
        (single, "One alert for the step (of the steps caught)", "% of steps caught"),
        (resolved, f"Problems resolved within {SETTLE_WINDOWS} windows of the step's end",
         "% of steps that end"),
    ):  # fmt: skip
        axis.set_xticks(range(len(sizes)), sizes)
        axis.set_xlabel("rows per window")
        axis.set_ylabel(ylabel)
        axis.set_title(title, fontsize=10)
        axis.set_ylim(0, 105)
    caught.plot([-0.4, 0.4], [80, 80], color="crimson", linestyle="--", label="goal")
    caught.plot([0.6, len(sizes) - 0.6], [95, 95], color="crimson", linestyle="--")
    caught.legend(fontsize=7, loc="lower right")
    resolved.legend(fontsize=7, loc="lower right")
    positions = np.arange(len(sizes))
    for offset, (label, values) in zip((-0.27, 0, 0.27), (
        ("trustwatch", [summary[s]["false_alarms_per_100"] or 0 for s in sizes]),
        ("KS/chi2 p<0.05", [summary[s]["scipy"]["false_alarms_per_100"] or 0 for s in sizes]),
        ("Bonferroni", [summary[s]["scipy_bonferroni"]["false_alarms_per_100"] or 0
                        for s in sizes]),
    ), strict=True):  # fmt: skip
        alarms.bar(positions + offset, values, 0.27, label=label)
    alarms.axhline(FALSE_ALARMS_GOAL, color="crimson", linestyle="--", label="goal")
    alarms.set_yscale("symlog", linthresh=1)
    alarms.set_xticks(positions, sizes)
    alarms.set_xlabel("rows per window")
    alarms.set_ylabel("alarms per 100 windows without a step")
    alarms.set_title("False alarms", fontsize=10)
    alarms.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--scenarios", nargs="+",
                        help="default: every built-in scenario of the Telco contract")  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from scorer.training import train

    artifacts = tempfile.mkdtemp(prefix="trustwatch-detection-")
    with console.status("training the model for the benchmark"):
        trained = train(Path(artifacts), load_policy(), seed=42)
    args.scenarios = args.scenarios or builtin_names_for(trained.metadata.contract)
    tasks = [(name, size, seed) for size in args.sizes for seed in range(args.seeds)
             for name in args.scenarios]  # fmt: skip
    runs = []
    with (
        ProcessPoolExecutor(args.workers, initializer=_start_worker, initargs=(artifacts,)) as pool,
        Progress(console=console) as progress,
    ):
        bar = progress.add_task("scenario runs", total=len(tasks))
        for run in pool.map(run_one, tasks):
            runs.append(run)
            progress.advance(bar)
    summary = summarise(runs)
    report(summary)
    results = {"seeds": args.seeds, "settle_windows": SETTLE_WINDOWS, "goals": GOALS,
               "summary": summary, "runs": runs}  # fmt: skip
    # one line per run: the runs are many, the summary is what people read
    (args.out / "detection.json").write_text(_dump(results))
    plot(summary, args.out / "detection.png")
    console.print(f"results written to {args.out / 'detection.json'} and detection.png")


if __name__ == "__main__":
    main()
