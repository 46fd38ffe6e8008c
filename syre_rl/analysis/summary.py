"""The summary of a benchmark folder: per run a few numbers (returns relative to the first task and to the reset
reference, plasticity metrics at the end), and per scenario and agent their statistics over seeds.

Reads run folders only. Each number of :data:`SUMMARY_COLUMNS` is reported as the mean over seeds with a 95%
bootstrap confidence interval (:func:`scipy.stats.bootstrap`, percentile method) and the interquartile mean
(:func:`rliable.metrics.aggregate_iqm`), see :func:`syre_rl.analysis.statistics.seed_statistics`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from syre_rl.analysis.metrics import DORMANT_RATIO, SRANK, SYMMETRY_COLLAPSE, last_metric_value
from syre_rl.analysis.runs import find_runs
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
    for run in runs.itertuples():
        values = run_metrics(run.run_dir, refs.get((run.scenario, run.seed)) if run.agent != reference else None)
        per_run.append({"scenario": run.scenario, "agent": run.agent, "seed": run.seed, **values})
    table = pd.DataFrame(per_run)
    if table.empty:
        return pd.DataFrame(columns=STATISTICS_COLUMNS)
    for (scenario, agent), group in table.groupby(["scenario", "agent"], sort=True):
        for key, _ in SUMMARY_COLUMNS:
            rows.append({"scenario": scenario, "agent": agent, "metric": key, **seed_statistics(group[key].tolist())})
    summary = pd.DataFrame(rows)
    summary["n"] = summary["n"].astype(int)
    summary.attrs["per_run"] = table
    return summary
