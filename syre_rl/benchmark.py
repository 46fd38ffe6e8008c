"""Benchmarks: a grid of runs (agents x scenarios x seeds) on a local process pool or on Ray, and its summary.

Every run goes to ``root/<scenario>/<agent>/seed_<seed>`` (a run folder, see :mod:`syre_rl.experiment`). A run whose
``done`` marker exists is skipped, an interrupted one resumes from its newest checkpoint, and a failing run writes
its traceback to ``error.txt`` without stopping the others, so rerunning the same command finishes a benchmark.

Execution backends (one run per CPU core, one torch thread per run):

* ``"local"``: :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method;
* ``"ray"``: one ``ray.remote(num_cpus=1)`` task per run, scheduled by Ray on a local instance or on a cluster
  (``address``). On a cluster, ``root`` must be a folder every node can write (a shared file system).

The summary reads run folders only: per agent and scenario, each number of :data:`SUMMARY_COLUMNS` as the mean over
seeds with a 95% bootstrap confidence interval (:func:`scipy.stats.bootstrap`, percentile method) and the
interquartile mean (:func:`rliable.metrics.aggregate_iqm`).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from syre_rl.recipes import list_agents, resolve_config
from syre_rl.run_folder import ERROR_FILE, find_runs, is_done
from syre_rl.statistics import mean_and_ci

Backend = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = ("local", "ray")
# Agent used as the full-plasticity reference (reset at every task switch) when it exists.
DEFAULT_REFERENCE = "ppo_reset"
SUMMARY_FILE = "summary.csv"
RUNS_FILE = "runs.csv"
SUMMARY_MARKDOWN = "summary.md"
PLAN_FILE = "benchmark.yaml"

# Summary columns: (key, label).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("final_task_return", "final-task return"),
    ("relative_return", "later tasks / task 1"),
    ("reference_relative_return", "return / reset"),
    ("dormant_ratio", "dormant ratio"),
    ("srank", "srank"),
    ("symmetry_collapse", "symmetry collapse"),
)
# metrics.csv metric read for each summary column: its value at the last measured step, averaged over the networks'
# "all" rows when the metric has them (unit-weighted fractions), else over the hidden layers.
METRIC_NAMES: dict[str, str] = {
    "dormant_ratio": "dormant_0.025",
    "srank": "srank",
    "symmetry_collapse": "collapsed",
}


@dataclass(frozen=True)
class RunSpec:
    """One run of a benchmark.

    :param agent: agent recipe name.
    :param scenario: scenario recipe name.
    :param seed: seed.
    :param overrides: ``--set`` overrides as ``(key, value)`` pairs (same for every run of a benchmark).
    :param total_steps: environment steps; None uses the scenario's.
    :param device: torch device of the run.
    """

    agent: str
    scenario: str
    seed: int
    overrides: tuple[tuple[str, Any], ...] = ()
    total_steps: int | None = None
    device: str = "cpu"

    def run_dir(self, root: str | Path) -> Path:
        return Path(root) / self.scenario / self.agent / f"seed_{self.seed}"

    def config(self) -> dict[str, Any]:
        return resolve_config(
            self.agent,
            self.scenario,
            seed=self.seed,
            overrides=dict(self.overrides),
            total_steps=self.total_steps,
            device=self.device,
        )

    @property
    def label(self) -> str:
        return f"{self.scenario}/{self.agent}/seed_{self.seed}"


@dataclass
class RunResult:
    """Outcome of one run: ``status`` is ``"done"`` (trained now), ``"skipped"`` (finished before) or ``"failed"``."""

    spec: RunSpec
    status: str
    seconds: float = 0.0
    error: str | None = field(default=None, repr=False)


def plan_grid(
    agents: Sequence[str],
    scenarios: Sequence[str],
    seeds: Iterable[int],
    *,
    reference: str | None = "auto",
    overrides: Mapping[str, Any] | None = None,
    total_steps: int | None = None,
    device: str = "cpu",
) -> list[RunSpec]:
    """All runs of a benchmark, checked before anything runs.

    :param agents: agent recipe names.
    :param scenarios: scenario recipe names.
    :param seeds: seeds, e.g. ``range(3)``.
    :param reference: agent added to every scenario and seed as the reset reference of the summary; ``"auto"``
        uses :data:`DEFAULT_REFERENCE` when such a recipe exists, None adds nothing.
    :param overrides: ``--set`` overrides applied to every run.
    :param total_steps: environment steps per run; None uses each scenario's.
    :param device: torch device of the runs.
    :raises ValueError: for an unknown agent, scenario or override key (the message lists what exists).
    """
    seeds = list(seeds)
    if not agents or not scenarios or not seeds:
        raise ValueError(f"a benchmark needs agents, scenarios and seeds; got {agents!r}, {scenarios!r}, {seeds!r}")
    agents = list(dict.fromkeys(agents))
    if reference == "auto":
        reference = DEFAULT_REFERENCE if DEFAULT_REFERENCE in list_agents() else None
    if reference is not None and reference not in agents:
        agents.append(reference)
    items = tuple(sorted((overrides or {}).items()))
    specs = [RunSpec(a, s, int(seed), items, total_steps, device) for s in scenarios for a in agents for seed in seeds]
    for agent in agents:  # fail early, with the recipe's own error message
        for scenario in scenarios:
            RunSpec(agent, scenario, seeds[0], items, total_steps, device).config()
    return specs


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def run_one(spec: RunSpec, root: str | Path) -> RunResult:
    """Train (or resume, or skip) one run; never raises: a failure is returned, with its traceback also written to
    ``error.txt`` in the run folder."""
    from syre_rl.experiment import train

    _init_worker()
    run_dir = spec.run_dir(root)
    if is_done(run_dir):
        return RunResult(spec, "skipped")
    start = time.perf_counter()
    try:
        train(spec.config(), run_dir, resume=True)
    except Exception:  # a broken run must not stop the benchmark
        error = traceback.format_exc()
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ERROR_FILE).write_text(error)
        return RunResult(spec, "failed", time.perf_counter() - start, error)
    return RunResult(spec, "done", time.perf_counter() - start)


def _run_local(
    specs: Sequence[RunSpec], root: Path, workers: int, report: Callable[[RunResult], None]
) -> list[RunResult]:
    if workers == 1:  # in this process: simplest to debug, no start-up cost
        results = []
        for spec in specs:
            results.append(run_one(spec, root))
            report(results[-1])
        return results
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by the workers before they import torch
    results = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        futures = {pool.submit(run_one, spec, root): spec for spec in specs}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception:  # the worker process itself died
                result = RunResult(futures[future], "failed", error=traceback.format_exc())
            results.append(result)
            report(result)
    return results


def _run_ray(
    specs: Sequence[RunSpec],
    root: Path,
    address: str | None,
    gpus_per_run: float,
    report: Callable[[RunResult], None],
) -> list[RunResult]:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote_run = ray.remote(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)(run_one)
    pending = {remote_run.remote(spec, str(root)): spec for spec in specs}
    results = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        spec = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception:  # the task or its worker died
            result = RunResult(spec, "failed", error=traceback.format_exc())
        results.append(result)
        report(result)
    return results


def run_benchmark(
    specs: Sequence[RunSpec],
    root: str | Path,
    *,
    backend: Backend = "local",
    workers: int | None = None,
    address: str | None = None,
    gpus_per_run: float = 0.0,
    report: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every spec that is not finished yet.

    :param specs: runs, e.g. from :func:`plan_grid`.
    :param root: benchmark folder.
    :param backend: ``"local"`` (process pool) or ``"ray"``.
    :param workers: local pool size; default ``os.cpu_count()`` capped at the number of runs. 1 runs in-process.
    :param address: Ray cluster address (``"auto"`` or ``"ray://host:10001"``); None starts a local Ray instance
        unless one is already running in this process.
    :param gpus_per_run: Ray only: GPUs reserved per run (e.g. 0.25 puts four runs on a GPU); default 0.
    :param report: called with each result as it comes in.
    :return: one result per spec, in completion order.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; accepted: {list(BACKENDS)}")
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    _record_plan(specs, root)
    report = report or (lambda result: None)
    todo = [s for s in specs if not is_done(s.run_dir(root))]
    results = [RunResult(s, "skipped") for s in specs if s not in todo]
    for result in results:
        report(result)
    if not todo:
        return results
    if backend == "ray":
        return results + _run_ray(todo, root, address, gpus_per_run, report)
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    return results + _run_local(todo, root, workers, report)


def _record_plan(specs: Sequence[RunSpec], root: Path) -> None:
    path = root / PLAN_FILE
    previous = yaml.safe_load(path.read_text()) if path.is_file() else None
    runs = sorted({s.label for s in specs} | set((previous or {}).get("runs", [])))
    overrides = {k: v for s in specs for k, v in s.overrides}
    path.write_text(yaml.safe_dump({"runs": runs, "overrides": overrides}, sort_keys=False))


# --------------------------------------------------------------------------------------------------------- summary


def last_metric_value(metrics: pd.DataFrame, name: str) -> float:
    """Value of metric ``name`` at its last measured step: the mean of the networks' ``layer == "all"`` rows when
    there are any, else the mean over layers; NaN if the metric is absent."""
    rows = metrics[metrics["metric"] == name]
    if rows.empty:
        return float("nan")
    if (rows["layer"] == "all").any():
        rows = rows[rows["layer"] == "all"]
    return float(rows[rows["timesteps"] == rows["timesteps"].max()]["value"].mean())


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
    from syre_rl.plasticity.summary import task_summary

    run_dir = Path(run_dir)
    out = {key: float("nan") for key, _ in SUMMARY_COLUMNS}
    if (run_dir / "tasks.csv").is_file() or (run_dir / "episodes.csv").is_file():
        tasks = task_summary(run_dir, reference_dir)
        if len(tasks):
            out["final_task_return"] = float(tasks["final_return"].iloc[-1])
        later = tasks["relative_to_first"].iloc[1:].dropna()
        if len(later):
            out["relative_return"] = float(later.mean())
        to_reference = tasks["relative_to_reference"].dropna()
        if len(to_reference):
            out["reference_relative_return"] = float(to_reference.mean())
    metrics_path = run_dir / "metrics.csv"
    if metrics_path.is_file() and metrics_path.stat().st_size > 0:
        metrics = pd.read_csv(metrics_path)
        for key, name in METRIC_NAMES.items():
            out[key] = last_metric_value(metrics, name)
    return out


def seed_statistics(values: Sequence[float], seed: int = 0) -> dict[str, float]:
    """Mean, 95% bootstrap CI (percentile method, 2000 resamples) and IQM over seeds; NaNs are dropped.

    With one value the CI is NaN; with identical values it is that value.
    """
    from rliable.metrics import aggregate_iqm

    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    out = {"n": float(len(x)), "mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "iqm": np.nan}
    if len(x) == 0:
        return out
    out["iqm"] = float(aggregate_iqm(x[:, None]))
    mean, low, high = mean_and_ci(x, n_resamples=2000, seed=seed)
    out["mean"] = float(mean)
    if len(x) > 1:
        out["ci_low"], out["ci_high"] = float(low), float(high)
    return out


def summarize(roots: str | Path | Iterable[str | Path], reference: str | None = "auto") -> pd.DataFrame:
    """Summary table of finished runs: one row per (scenario, agent, metric) with n, mean, ci_low, ci_high, iqm.

    :param roots: benchmark folder(s).
    :param reference: agent whose runs are the reset reference (same scenario and seed); ``"auto"``:
        :data:`DEFAULT_REFERENCE`; None: no reference.
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
        return pd.DataFrame(columns=["scenario", "agent", "metric", "n", "mean", "ci_low", "ci_high", "iqm"])
    for (scenario, agent), group in table.groupby(["scenario", "agent"], sort=True):
        for key, _ in SUMMARY_COLUMNS:
            rows.append({"scenario": scenario, "agent": agent, "metric": key, **seed_statistics(group[key].tolist())})
    summary = pd.DataFrame(rows)
    summary["n"] = summary["n"].astype(int)
    summary.attrs["per_run"] = table
    return summary


def write_summary(root: str | Path, reference: str | None = "auto") -> pd.DataFrame:
    """:func:`summarize` the benchmark in ``root`` and write ``summary.csv``, ``runs.csv`` (one row per run) and
    ``summary.md`` (the printed table as Markdown)."""
    summary = summarize(root, reference)
    summary.to_csv(Path(root) / SUMMARY_FILE, index=False)
    per_run = summary.attrs.get("per_run")
    if per_run is not None:
        per_run.to_csv(Path(root) / RUNS_FILE, index=False)
    (Path(root) / SUMMARY_MARKDOWN).write_text(markdown_table(summary))
    return summary


def format_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide, printable form of a summary: one row per scenario and agent, one column per metric (plus ``n``, the
    number of seeds), each cell ``mean [ci_low, ci_high] (iqm)``; metrics with no value anywhere are left out."""
    labels = dict(SUMMARY_COLUMNS)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in summary.itertuples():
        cell = cells.setdefault((row.scenario, row.agent), {"n": ""})
        if not np.isfinite(row.mean):
            continue
        cell["n"] = str(max(int(row.n), int(cell["n"] or 0)))
        ci = f" [{row.ci_low:.3g}, {row.ci_high:.3g}]" if np.isfinite(row.ci_low) else ""
        cell[labels.get(row.metric, row.metric)] = f"{row.mean:.3g}{ci} ({row.iqm:.3g})"
    cells = {key: cell for key, cell in cells.items() if len(cell) > 1}
    columns = ["n"] + [label for _, label in SUMMARY_COLUMNS if any(label in c for c in cells.values())]
    index = pd.MultiIndex.from_tuples(list(cells), names=["scenario", "agent"])
    return pd.DataFrame([[c.get(col, "") for col in columns] for c in cells.values()], index=index, columns=columns)


TABLE_NOTE = "mean over seeds [95% bootstrap CI] (interquartile mean)"


def markdown_table(summary: pd.DataFrame) -> str:
    """:func:`format_table` as Markdown, one table per scenario."""
    table = format_table(summary)
    if table.empty:
        return "No finished runs.\n"
    parts = []
    for scenario, rows in table.groupby(level="scenario", sort=True):
        header = ["agent", *rows.columns]
        lines = [f"**{scenario}**: {TABLE_NOTE}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(["---"] * len(header)) + "|")
        for (_, agent), row in rows.iterrows():
            lines.append("| " + " | ".join([agent, *row.tolist()]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def print_table(summary: pd.DataFrame) -> None:
    """Print :func:`format_table`, one table per scenario, with rich when it is installed, as plain text otherwise."""
    table = format_table(summary)
    if table.empty:
        print("no finished runs to summarise")
        return
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(TABLE_NOTE)
        print(table.to_string())
        return
    for scenario, rows in table.groupby(level="scenario", sort=True):
        out = Table(title=f"{scenario}: {TABLE_NOTE}")
        for name in ["agent", *rows.columns]:
            out.add_column(name, no_wrap=True)
        for (_, agent), row in rows.iterrows():
            out.add_row(agent, *row.tolist())
        cells = [["agent", *rows.columns], *[[agent, *row] for (_, agent), row in rows.iterrows()]]
        widths = [max(len(str(line[i])) for line in cells) for i in range(len(cells[0]))]
        # As wide as the table needs (a narrow terminal folds the lines instead of rich squeezing the cells).
        Console(width=max(sum(widths) + 3 * len(widths) + 1, len(out.title) + 2)).print(out)
