"""Figures of benchmarks, drawn from run folders only (config.yaml, episodes.csv, metrics.csv, tasks.csv).

No training code is imported, so results copied from a cluster can be plotted anywhere matplotlib runs. Every figure
is written as PNG and SVG:

* ``returns``: episode return against environment steps, one panel per scenario, per agent the mean over seeds with a
  95% bootstrap band, task switches as dotted lines;
* ``metrics_<scenario>``: plasticity metrics against environment steps (dormant ratio, srank, weight magnitude,
  symmetry collapse, plasticity probe), averaged over layers and networks;
* ``relative_<scenario>``: per task, the final return relative to the run's first task, bars per agent with 95% CIs.

Each agent keeps one colour in every figure (:func:`agent_color`; within a figure, :func:`figure_colors` keeps hashed
colours distinct); the variants of a sweep are drawn as agents of their own, ``agent [key=value, ...]``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from syre_rl.analysis.metrics import METRIC_LABELS, metric_curve
from syre_rl.analysis.runs import agent_label, load_runs, read_log
from syre_rl.analysis.statistics import mean_and_ci
from syre_rl.run_layout import EPISODES_FILE, METRICS_FILE, TASKS_FILE

# Fixed colours of the agents the package ships (colour-blind-safe Okabe-Ito palette first), others by name hash.
AGENT_COLORS: dict[str, str] = {
    "ppo": "#000000",
    "ppo_l2": "#E69F00",
    "syre_ppo": "#0072B2",
    "ppo_l2_init": "#009E73",
    "ppo_reset": "#999999",
    "ppo_shrink_perturb": "#CC79A7",
    "ppo_redo": "#D55E00",
    "ppo_cbp": "#56B4E9",
    "ppo_layernorm": "#F0E442",
}
_FALLBACK = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20")(np.arange(20))]

FORMATS: tuple[str, ...] = ("png", "svg")


def _fixed_color(agent: str) -> str | None:
    """The fixed colour of a shipped agent; DQN, SAC and TD3 agents take the colour of the PPO agent with the same
    method (``dqn_l2`` that of ``ppo_l2``, ``syre_sac`` that of ``syre_ppo``)."""
    as_ppo = re.sub(r"^(syre_)?(dqn|sac|td3)(?=_|$)", lambda m: f"{m.group(1) or ''}ppo", agent)
    return AGENT_COLORS.get(agent) or AGENT_COLORS.get(as_ppo)


def _hashed_slot(agent: str) -> int:
    return zlib.crc32(agent.encode()) % len(_FALLBACK)


def agent_color(agent: str) -> str:
    """The colour of an agent: fixed for the shipped agents, derived from the name's CRC32 otherwise (stable across
    figures, processes and machines)."""
    return _fixed_color(agent) or _FALLBACK[_hashed_slot(agent)]


def figure_colors(agents: Iterable[str]) -> dict[str, str]:
    """Distinct colours for the agents (or agent variants) drawn in one figure: :func:`agent_color`, except that an
    agent whose hashed colour is already taken in this figure gets the next free one of the palette (up to 20 agents
    without a fixed colour stay distinct)."""
    names = sorted(set(agents))
    out = {name: color for name in names if (color := _fixed_color(name)) is not None}
    used = set(out.values())
    for name in names:
        if name in out:
            continue
        start = _hashed_slot(name)
        slots = [_FALLBACK[(start + k) % len(_FALLBACK)] for k in range(len(_FALLBACK))]
        out[name] = next((c for c in slots if c not in used), slots[0])
        used.add(out[name])
    return out


def binned_curve(times: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of ``values`` per bin of ``times``; empty bins repeat the previous bin (the first uses the next)."""
    index = np.clip(np.digitize(times, edges[1:-1]), 0, len(edges) - 2)
    sums = np.bincount(index, weights=values, minlength=len(edges) - 1)
    counts = np.bincount(index, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = sums / counts
    return pd.Series(curve).ffill().bfill().to_numpy()


def task_switches(run_dir: Path) -> list[int]:
    """Environment steps at which a new task began, from the run's episode (or metric) log.

    A switch is placed at the end of the last episode of the old task, the closest the logs can tell.
    """
    for name in (EPISODES_FILE, METRICS_FILE):
        table = read_log(run_dir, name)
        if table is not None and "task_id" in table:
            table = table.sort_values("timesteps", kind="stable")
            changed = table["task_id"].to_numpy()[1:] != table["task_id"].to_numpy()[:-1]
            return [int(t) for t in table["timesteps"].to_numpy()[:-1][changed]]
    return []


def _save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        path = out_dir / f"{name}.{fmt}"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _mark_switches(ax: plt.Axes, switches: Sequence[int]) -> None:
    for i, step in enumerate(switches):
        ax.axvline(step, color="0.6", linestyle=":", linewidth=0.8, label="task switch" if i == 0 else None)


def _band(ax: plt.Axes, x: np.ndarray, curves: list[np.ndarray], agent: str, n: int, color: str) -> None:
    mean, low, high = mean_and_ci(np.stack(curves))
    marker = "o" if len(x) < 20 else None  # a few points would not show as a line
    ax.plot(x, mean, color=color, label=f"{agent} (n={n})", linewidth=1.4, marker=marker, markersize=3)
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


def plot_returns(runs: pd.DataFrame, out_dir: Path, n_bins: int = 60) -> list[Path]:
    """Episode return against environment steps, one panel per scenario."""
    scenarios = sorted(runs["scenario"].unique())
    ncols = min(3, len(scenarios))
    nrows = -(-len(scenarios) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.5 * ncols, 3.8 * nrows), squeeze=False)
    for ax in axes.flat[len(scenarios) :]:
        ax.set_visible(False)
    for ax, scenario in zip(axes.flat, scenarios):
        group = runs[runs["scenario"] == scenario]
        edges = np.linspace(0, group["total_steps"].max(), n_bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        colors = figure_colors(group["agent"])
        for agent, agent_runs in group.groupby("agent", sort=True):
            curves, ends = [], []
            for run_dir in agent_runs["run_dir"]:
                episodes = read_log(run_dir, EPISODES_FILE)
                if episodes is not None:
                    curves.append(binned_curve(episodes["timesteps"].to_numpy(), episodes["return"].to_numpy(), edges))
                    ends.append(episodes["timesteps"].max())
            if curves:
                shown = edges[:-1] <= min(ends)  # a run still in progress is drawn up to where all its seeds are
                _band(ax, centres[shown], [c[shown] for c in curves], agent, len(curves), colors[agent])
        _mark_switches(ax, task_switches(group["run_dir"].iloc[0]))
        ax.set_title(scenario)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("episode return (mean over seeds, 95% CI)")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, out_dir, "returns")


def plot_metrics(runs: pd.DataFrame, out_dir: Path, scenario: str) -> list[Path]:
    """Plasticity metric panels for one scenario; panels without data are left out (no file if none has data)."""
    group = runs[runs["scenario"] == scenario]
    data: dict[str, dict[str, list[pd.Series]]] = {}
    for run in group.itertuples():
        metrics = read_log(run.run_dir, METRICS_FILE)
        if metrics is None:
            continue
        for name, label in METRIC_LABELS.items():
            curve = metric_curve(metrics, name)
            if curve is not None:
                data.setdefault(label, {}).setdefault(run.agent, []).append(curve)
    panels = [label for label in METRIC_LABELS.values() if label in data]
    if not panels:
        return []
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    switches = task_switches(group["run_dir"].iloc[0])
    colors = figure_colors(group["agent"])
    for ax, label in zip(axes.flat, panels):
        for agent in sorted(data[label]):
            curves = data[label][agent]
            steps = sorted(set.intersection(*(set(c.index) for c in curves)))
            if steps:
                _band(
                    ax, np.asarray(steps), [c.loc[steps].to_numpy() for c in curves], agent, len(curves), colors[agent]
                )
        _mark_switches(ax, switches)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(label)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"{scenario}: plasticity metrics (mean over layers; mean over seeds, 95% CI)")
    fig.tight_layout()
    return _save(fig, out_dir, f"metrics_{scenario}")


def plot_relative(runs: pd.DataFrame, out_dir: Path, scenario: str) -> list[Path]:
    """Per-task final return relative to the first task, bars per agent with 95% CIs over seeds."""
    group = runs[runs["scenario"] == scenario]
    per_agent: dict[str, pd.DataFrame] = {}
    for agent, agent_runs in group.groupby("agent", sort=True):
        columns = []
        for run_dir in agent_runs["run_dir"]:
            tasks = read_log(run_dir, TASKS_FILE)
            if tasks is None or "final_return" not in tasks:
                continue
            returns = tasks.sort_values("task_id").set_index("task_id")["final_return"].astype(float)
            if returns.iloc[0] > 0:  # as in the summary: a ratio to a non-positive return means nothing
                columns.append(returns / returns.iloc[0])
        if columns:
            per_agent[agent] = pd.concat(columns, axis=1)
    if not per_agent:
        return []
    n_tasks = max(len(t) for t in per_agent.values())
    width = 0.8 / len(per_agent)
    colors = figure_colors(per_agent)
    fig, ax = plt.subplots(figsize=(min(11.0, max(5.0, 0.3 * n_tasks * len(per_agent) + 2)), 3.6))
    for i, (agent, table) in enumerate(sorted(per_agent.items())):
        table = table.dropna()
        if table.empty:
            continue
        mean, low, high = mean_and_ci(table.to_numpy().T)
        x = table.index.to_numpy() + 1 + (i - (len(per_agent) - 1) / 2) * width
        ax.bar(x, mean, width, color=colors[agent], label=f"{agent} (n={table.shape[1]})")
        ax.errorbar(x, mean, yerr=[mean - low, high - mean], fmt="none", ecolor="0.3", linewidth=0.8)
    ax.axhline(1.0, color="0.5", linewidth=0.8)
    ax.set_xticks(range(1, n_tasks + 1))
    ax.set_xlabel("task (in order of appearance)")
    ax.set_ylabel("final return / final return of task 1")
    ax.set_title(f"{scenario}: per-task performance relative to task 1")
    ax.legend(fontsize="small", ncol=min(len(per_agent), 4), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.tight_layout()
    return _save(fig, out_dir, f"relative_{scenario}")


def plot_benchmark(
    roots: str | Path | Iterable[str | Path], out_dir: str | Path, finished_only: bool = False
) -> list[Path]:
    """All figures for the runs under ``roots``, written to ``out_dir``; returns the files written.

    :param finished_only: leave out the runs without a ``done`` marker (default False: runs in progress are drawn
        as far as they got).
    """
    runs = load_runs(roots)
    if finished_only:
        runs = runs[runs["done"]].reset_index(drop=True)
        if runs.empty:
            return []
    runs["agent"] = [agent_label(a, v) for a, v in zip(runs["agent"], runs["variant"])]  # a sweep's variants apart
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = plot_returns(runs, out_dir)
    for scenario in sorted(runs["scenario"].unique()):
        paths += plot_metrics(runs, out_dir, scenario)
        paths += plot_relative(runs, out_dir, scenario)
    return paths
