"""The summary of a benchmark folder: per run a few numbers (returns relative to the first task and to the reset
reference, plasticity metrics at the end), and per scenario and agent their statistics over seeds.

Runs of a sweep are grouped by agent and sweep values (a ``variant`` column, present when a run of the folder is
part of a sweep). How often each run's interventions acted (from its ``done`` marker) is summarised as the metric
``intervention_acted`` (for agents with interventions), and the column ``idle_runs`` counts the runs of a group in
which an intervention never acted (present when a run of the folder records interventions).

Reads run folders only. Each number of :data:`SUMMARY_COLUMNS` is reported as the mean over seeds with a 95%
bootstrap confidence interval (:func:`scipy.stats.bootstrap`, percentile method) and the interquartile mean
(:func:`rliable.metrics.aggregate_iqm`), see :func:`syre_rl.analysis.statistics.seed_statistics`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from syre_rl.analysis.metrics import DORMANT_RATIO, SRANK, SYMMETRY_COLLAPSE, last_metric_value
from syre_rl.analysis.runs import find_runs, read_done
from syre_rl.analysis.statistics import seed_statistics
from syre_rl.analysis.tasks import task_summary
from syre_rl.run_layout import DEFAULT_REFERENCE, EPISODES_FILE, METRICS_FILE, TASKS_FILE

# Summary columns: (key, label).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("final_task_return", "final-task return"),
    ("relative_return", "later tasks / task 1"),
    ("reference_relative_return", "return / reset"),
    ("dormant_ratio", "dormant ratio"),
    ("srank", "srank"),
    ("symmetry_collapse", "symmetry collapse"),
)
# metrics.csv metric read for each metric column of the summary, at its last measured step
# (see syre_rl.analysis.metrics.last_metric_value).
METRIC_NAMES: dict[str, str] = {
    "dormant_ratio": DORMANT_RATIO,
    "srank": SRANK,
    "symmetry_collapse": SYMMETRY_COLLAPSE,
}
STATISTICS_COLUMNS = ["scenario", "agent", "metric", "n", "mean", "ci_low", "ci_high", "iqm"]
# Summary metric of the interventions' activity: per run, the sum over its interventions of how often each acted.
INTERVENTION_ACTED = "intervention_acted"
# Summary column: runs of a group in which an intervention never acted.
IDLE_RUNS = "idle_runs"
# Per-run column: the interventions of a run that never acted (their types, comma-separated).
IDLE_INTERVENTIONS = "idle_interventions"


def intervention_activity(run_dir: str | Path) -> tuple[float, str] | None:
    """How often a finished run's interventions acted, from its ``done`` marker: ``(total count, types that never
    acted, comma-separated)``; None for a run that records no intervention."""
    counts = read_done(run_dir).get("interventions")
    if not counts:
        return None
    total = float(sum(int(c.get("acted", 0)) for c in counts))
    idle = ",".join(str(c.get("type")) for c in counts if int(c.get("acted", 0)) == 0)
    return total, idle


def run_metrics(run_dir: str | Path, reference_dir: str | Path | None = None) -> dict[str, float]:
    """The summary numbers of one finished run (NaN where a file or metric is missing).

    * ``final_task_return``: ``final_return`` (mean over the last 10% of the task) of the last task;
    * ``relative_return``: mean over the tasks after the first of ``final_return / final_return of task 1``;
    * ``reference_relative_return``: mean over tasks of ``final_return / the reference run's final_return`` on the
      same task (the reference is the reset agent with the same scenario and seed, so the same task sequence);
    * ``dormant_ratio``, ``srank``, ``symmetry_collapse``: see :data:`METRIC_NAMES`.

    :param run_dir: run folder.
    :param reference_dir: run folder of the reset reference with the same scenario and seed, or None.
    """
    run_dir = Path(run_dir)
    out = {key: float("nan") for key, _ in SUMMARY_COLUMNS}
    if (run_dir / TASKS_FILE).is_file() or (run_dir / EPISODES_FILE).is_file():
        tasks = task_summary(run_dir, reference_dir)
        if len(tasks):
            out["final_task_return"] = float(tasks["final_return"].iloc[-1])
        later = tasks["relative_to_first"].iloc[1:].dropna()
        if len(later):
            out["relative_return"] = float(later.mean())
        to_reference = tasks["relative_to_reference"].dropna()
        if len(to_reference):
            out["reference_relative_return"] = float(to_reference.mean())
    metrics_path = run_dir / METRICS_FILE
    if metrics_path.is_file() and metrics_path.stat().st_size > 0:
        metrics = pd.read_csv(metrics_path)
        for key, name in METRIC_NAMES.items():
            out[key] = last_metric_value(metrics, name)
    return out


def summarize(roots: str | Path | Iterable[str | Path], reference: str | None = "auto") -> pd.DataFrame:
    """Summary table of finished runs: one row per (scenario, agent, metric) with n, mean, ci_low, ci_high, iqm.

    The per-run numbers are kept in ``summary.attrs["per_run"]`` (one row per run).

    :param roots: benchmark folder(s).
    :param reference: agent whose runs are the reset reference (same scenario and seed); ``"auto"``:
        :data:`~syre_rl.run_layout.DEFAULT_REFERENCE`; None: no reference.
    """
    runs = find_runs(roots)
    runs = runs[runs["done"]]
    if reference == "auto":
        reference = DEFAULT_REFERENCE
    refs = {(r.scenario, r.seed): r.run_dir for r in runs.itertuples() if r.agent == reference}
    rows = []
    per_run = []
    swept = bool((runs["variant"] != "").any())
    activity = {run.run_dir: intervention_activity(run.run_dir) for run in runs.itertuples()}
    acting = any(a is not None for a in activity.values())
    for run in runs.itertuples():
        values = run_metrics(run.run_dir, refs.get((run.scenario, run.seed)) if run.agent != reference else None)
        keys: dict[str, object] = {"scenario": run.scenario, "agent": run.agent}
        if swept:
            keys["variant"] = run.variant
        row = {**keys, "seed": run.seed, **values}
        if acting:
            acted = activity[run.run_dir]
            row[INTERVENTION_ACTED] = float("nan") if acted is None else acted[0]
            row[IDLE_INTERVENTIONS] = "" if acted is None else acted[1]
        per_run.append(row)
    table = pd.DataFrame(per_run)
    if table.empty:
        return pd.DataFrame(columns=STATISTICS_COLUMNS)
    group_keys = ["scenario", "agent", "variant"] if swept else ["scenario", "agent"]
    metrics = [key for key, _ in SUMMARY_COLUMNS]
    for names, group in table.groupby(group_keys, sort=True):
        keys = dict(zip(group_keys, names))
        extra: dict[str, object] = {}
        group_metrics = list(metrics)
        if acting:
            recorded = group[INTERVENTION_ACTED].notna()
            extra[IDLE_RUNS] = int((group.loc[recorded, IDLE_INTERVENTIONS] != "").sum()) if recorded.any() else ""
            if recorded.any():
                group_metrics.append(INTERVENTION_ACTED)
        for key in group_metrics:
            rows.append({**keys, "metric": key, **seed_statistics(group[key].tolist()), **extra})
    summary = pd.DataFrame(rows)
    summary["n"] = summary["n"].astype(int)
    summary.attrs["per_run"] = table
    return summary
