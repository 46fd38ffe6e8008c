"""The report of a study, generated from its run folders only: ``report.md`` with the verdicts on the paper's
claims (:mod:`syre_rl.analysis.verdicts`), the symmetry-trap counts when the study folder holds them, and per
scenario the summary table (mean [95% bootstrap CI] (IQM) over seeds), the probability of improvement of the focus
agents over every other agent, and how often each intervention acted; the summary CSVs; and the figures.

Probability of improvement (:func:`~syre_rl.analysis.statistics.probability_of_improvement`) is computed per
scenario over the seeds of the two agents (variants) on

* ``late_relative_return``: mean over the last third of the tasks (at least one, never the first) of the final
  return relative to task 1 (:func:`late_relative_return`);
* ``reference_relative_return``: mean over tasks of the final return relative to the reset reference;
* ``mean_task_return``: mean over tasks of the final return;
* the unit-level metrics at the last measurement: ``srank`` and ``srank_retained`` (last over first measurement),
  higher is better; ``dormant_ratio`` and ``symmetry_collapse``, lower is better (compared as
  P(X < Y) + 0.5 P(X = Y)).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from syre_rl.analysis.metrics import SRANK, metric_curve
from syre_rl.analysis.report import idle_warnings, markdown_table
from syre_rl.analysis.runs import agent_label, find_runs, read_done
from syre_rl.analysis.statistics import probability_of_improvement
from syre_rl.analysis.summary import summarize
from syre_rl.analysis.tasks import task_summary
from syre_rl.analysis.trap import trap_markdown, trap_summary
from syre_rl.analysis.verdicts import claim_verdicts, verdicts_markdown
from syre_rl.run_layout import (
    DEFAULT_REFERENCE,
    METRICS_FILE,
    REPORT_FILE,
    RUNS_FILE,
    SUMMARY_FILE,
    SUMMARY_MARKDOWN,
    TRAP_DIR,
    TRAP_TRIALS_FILE,
    load_config,
)

# Per-run numbers compared by probability of improvement: (column, label, higher is better).
IMPROVEMENT_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("late_relative_return", "late tasks / task 1", True),
    ("reference_relative_return", "return / reset", True),
    ("mean_task_return", "mean task return", True),
    ("srank", "srank", True),
    ("srank_retained", "srank last / first", True),
    ("dormant_ratio", "dormant ratio (lower is better)", False),
    ("symmetry_collapse", "symmetry collapse (lower is better)", False),
)
IMPROVEMENT_FILE = "improvement.csv"
TRAP_REPORT_FILE = "symmetry_trap.csv"
VERDICT_RULE = (
    "Rule (see `syre_rl.analysis.verdicts`): X is better than Y when the 95% interval of P(X > Y) lies above 0.5; "
    "the plain agent (PPO, DQN, SAC, ...) loses a quantity when the 95% interval of its last-over-first ratio lies "
    "below 1; a claim is supported where the plain agent loses it and syre is better, contradicted where the other "
    "side is better, not shown otherwise. Runs swept over other settings (e.g. the replay ratio) are compared only "
    "at equal settings."
)
INTERVENTIONS_FILE = "interventions.csv"
FIGURES_DIR = "figures"


def late_relative_return(run_dir: str | Path) -> float:
    """Mean over the last third of a run's tasks (at least one task, never the first) of ``final_return / final
    return of task 1``; NaN for a run with a single task or no positive first-task return."""
    tasks = task_summary(run_dir)
    later = tasks["relative_to_first"].iloc[1:]
    if later.empty:
        return float("nan")
    values = later.iloc[-max(1, len(tasks) // 3) :].dropna()
    return float(values.mean()) if len(values) else float("nan")


#: Per-run numbers the report adds to the summary's (see :func:`_run_extras`).
EXTRA_COLUMNS: tuple[str, ...] = ("late_relative_return", "mean_task_return", "srank_retained", "weight_decay")


def _run_extras(run_dir: str | Path) -> dict[str, float]:
    """``late_relative_return`` (:func:`late_relative_return`); ``mean_task_return``, the mean over tasks of the
    final return; ``srank_retained``, the srank at the last measurement over the first; ``weight_decay``, the run's
    anchored-decay gamma (NaN without one)."""
    run_dir = Path(run_dir)
    tasks = task_summary(run_dir)
    out = {
        "late_relative_return": late_relative_return(run_dir),
        "mean_task_return": float(tasks["final_return"].mean()) if len(tasks) else float("nan"),
        "srank_retained": float("nan"),
        "weight_decay": float("nan"),
    }
    metrics_path = run_dir / METRICS_FILE
    if metrics_path.is_file() and metrics_path.stat().st_size > 0:
        curve = metric_curve(pd.read_csv(metrics_path), SRANK)
        if curve is not None and len(curve) > 1 and curve.iloc[0] > 0:
            out["srank_retained"] = float(curve.iloc[-1] / curve.iloc[0])
    gamma = (load_config(run_dir).get("hyperparameters") or {}).get("weight_decay")
    if isinstance(gamma, (int, float)):
        out["weight_decay"] = float(gamma)
    return out


def _per_run(root: Path, reference: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    summary = summarize(root, reference)
    per_run = summary.attrs.get("per_run")
    runs = find_runs(root)
    runs = runs[runs["done"]]
    if per_run is None or runs.empty:
        return summary, pd.DataFrame()
    per_run = per_run.copy()
    if "variant" not in per_run:
        per_run["variant"] = ""
    extra = {(r.scenario, r.agent, r.variant, r.seed): _run_extras(r.run_dir) for r in runs.itertuples()}
    keys = list(zip(per_run["scenario"], per_run["agent"], per_run["variant"], per_run["seed"]))
    for column in EXTRA_COLUMNS:
        per_run[column] = [extra.get(k, {}).get(column, float("nan")) for k in keys]
    per_run["label"] = [agent_label(a, v) for a, v in zip(per_run["agent"], per_run["variant"])]
    return summary, per_run


def improvement_table(per_run: pd.DataFrame, focus: Sequence[str]) -> pd.DataFrame:
    """Probability of improvement of each focus agent (each of its variants) over every other agent (variant), per
    scenario and metric of :data:`IMPROVEMENT_METRICS`.

    :param per_run: one row per run with ``scenario``, ``agent``, ``label`` (agent and variant), ``seed`` and the
        metric columns.
    :param focus: agent names (every variant of them is a focus).
    :return: columns scenario, x, y, metric, n_x, n_y, poi, ci_low, ci_high.
    """
    rows = []
    for scenario, group in per_run.groupby("scenario", sort=True):
        labels = sorted(group["label"].unique())
        xs = [label for label in labels if group.loc[group["label"] == label, "agent"].iloc[0] in focus]
        for x in xs:
            for y in labels:
                if y == x:
                    continue
                for column, _, higher in IMPROVEMENT_METRICS:
                    if column not in group:
                        continue
                    a = group.loc[group["label"] == x, column].to_numpy(dtype=float)
                    b = group.loc[group["label"] == y, column].to_numpy(dtype=float)
                    if not higher:
                        a, b = -a, -b
                    stats = probability_of_improvement(a, b)
                    if np.isfinite(stats["poi"]):
                        rows.append({"scenario": scenario, "x": x, "y": y, "metric": column, **stats})
    columns = ["scenario", "x", "y", "metric", "n_x", "n_y", "poi", "ci_low", "ci_high"]
    table = pd.DataFrame(rows, columns=columns)
    table[["n_x", "n_y"]] = table[["n_x", "n_y"]].astype(int)
    return table


def interventions_table(root: str | Path) -> pd.DataFrame:
    """How often each intervention acted, per finished run, from the ``done`` markers: columns scenario, agent,
    variant, seed, intervention, acted, unit (no rows for runs without interventions)."""
    rows = []
    runs = find_runs(root)
    for run in runs[runs["done"]].itertuples():
        for count in read_done(run.run_dir).get("interventions") or []:
            rows.append(
                {
                    "scenario": run.scenario,
                    "agent": run.agent,
                    "variant": run.variant,
                    "seed": run.seed,
                    "intervention": count.get("type"),
                    "acted": int(count.get("acted", 0)),
                    "unit": count.get("unit", ""),
                }
            )
    columns = ["scenario", "agent", "variant", "seed", "intervention", "acted", "unit"]
    return pd.DataFrame(rows, columns=columns)


def _cell(poi: float, low: float, high: float) -> str:
    ci = f" [{low:.2f}, {high:.2f}]" if np.isfinite(low) else ""
    return f"{poi:.2f}{ci}"


def _improvement_markdown(table: pd.DataFrame) -> str:
    labels = {column: label for column, label, _ in IMPROVEMENT_METRICS}
    metrics = [m for m, _, _ in IMPROVEMENT_METRICS if m in set(table["metric"])]
    header = ["X", "Y", *[labels[m] for m in metrics]]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for (x, y), rows in table.groupby(["x", "y"], sort=True):
        by_metric = rows.set_index("metric")
        cells = [
            _cell(*by_metric.loc[m, ["poi", "ci_low", "ci_high"]].astype(float)) if m in by_metric.index else "-"
            for m in metrics
        ]
        lines.append("| " + " | ".join([x, y, *cells]) + " |")
    return "\n".join(lines)


def _interventions_markdown(table: pd.DataFrame) -> str:
    header = ["agent", "intervention", "runs", "acted per run (mean)", "min", "max", "runs where it never acted"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    keys = ["agent", "variant", "intervention"]
    for (agent, variant, kind), rows in table.groupby(keys, sort=True):
        acted = rows["acted"]
        unit = rows["unit"].iloc[0]
        never = int((acted == 0).sum())
        cells = [
            agent_label(agent, variant),
            str(kind),
            str(len(rows)),
            f"{acted.mean():.1f} {unit}",
            str(int(acted.min())),
            str(int(acted.max())),
            f"**{never}**" if never else "0",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    root: str | Path,
    out_dir: str | Path,
    *,
    reference: str | None = "auto",
    focus: Sequence[str] | None = None,
    title: str = "Study report",
    description: str = "",
    figures: bool = True,
) -> Path:
    """Write a study's report folder from the run folders under ``root``: ``report.md``, ``summary.csv``,
    ``runs.csv`` (with ``late_relative_return``), ``summary.md``, ``improvement.csv``, ``interventions.csv`` and,
    with ``figures``, ``figures/`` (:func:`syre_rl.analysis.plots.plot_benchmark`).

    :param root: benchmark folder of the study.
    :param out_dir: report folder (created).
    :param reference: the reset-reference agent; ``"auto"``: :data:`~syre_rl.run_layout.DEFAULT_REFERENCE`.
    :param focus: agents whose probability of improvement over the others is reported; default: agents whose name
        starts with ``syre``.
    :param title: the report's title.
    :param description: a paragraph under the title (e.g. the plan's description).
    :param figures: draw the figures (needs matplotlib).
    :return: the path of ``report.md``.
    :raises ValueError: no run folder under ``root``.
    """
    root, out_dir = Path(root), Path(out_dir)
    if reference == "auto":
        reference = DEFAULT_REFERENCE
    runs = find_runs(root)
    if runs.empty:
        raise ValueError(f"no run folders under {str(root)!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, per_run = _per_run(root, reference)
    summary.to_csv(out_dir / SUMMARY_FILE, index=False)
    if not per_run.empty:
        per_run.drop(columns=["label"]).to_csv(out_dir / RUNS_FILE, index=False)
    (out_dir / SUMMARY_MARKDOWN).write_text(markdown_table(summary))
    if focus is None:
        focus = sorted({a for a in runs["agent"] if a.startswith("syre")})
    improvement = improvement_table(per_run, focus) if not per_run.empty else pd.DataFrame()
    improvement.to_csv(out_dir / IMPROVEMENT_FILE, index=False)
    acted = interventions_table(root)
    acted.to_csv(out_dir / INTERVENTIONS_FILE, index=False)
    paths: list[Path] = []
    if figures and bool(runs["done"].any()):
        from syre_rl.analysis.plots import plot_benchmark

        paths = plot_benchmark(root, out_dir / FIGURES_DIR, finished_only=True)

    trap = None
    trials = root / TRAP_DIR / TRAP_TRIALS_FILE
    if trials.is_file():
        trap = trap_summary(trials)
        trap.to_csv(out_dir / TRAP_REPORT_FILE, index=False)
    verdicts = claim_verdicts(per_run, trap) if not per_run.empty or trap is not None else []

    done = int(runs["done"].sum())
    lines = [f"# {title}", ""]
    if description:
        lines += [description.strip(), ""]
    lines += [
        f"Generated from the run folders under `{root.name}`: {done} finished runs"
        + (f", {len(runs) - done} unfinished (left out)." if len(runs) > done else "."),
        "",
    ]
    if verdicts:
        lines += ["## Verdicts on the paper's claims", "", VERDICT_RULE, "", verdicts_markdown(verdicts)]
    if trap is not None:
        lines += [
            "## Symmetry trap",
            "",
            "Trials that left a collapsed state (units that are copies of each other, or dead), per decay "
            f"[95% Wilson interval]; from `{TRAP_DIR}/{TRAP_TRIALS_FILE}`.",
            "",
            trap_markdown(trap),
        ]
    for scenario in sorted(runs["scenario"].unique()):
        lines += [f"## {scenario}", ""]
        rows = summary[summary["scenario"] == scenario]
        lines += [markdown_table(rows).strip() if not rows.empty else "No finished runs.", ""]
        poi = improvement[improvement["scenario"] == scenario] if not improvement.empty else improvement
        if not poi.empty:
            lines += [
                "Probability of improvement of X over Y, P(X > Y) + 0.5 P(X = Y) over pairs of seeds "
                "[95% bootstrap CI]; late tasks: the last third of the tasks.",
                "",
                _improvement_markdown(poi),
                "",
            ]
        counts = acted[acted["scenario"] == scenario]
        if not counts.empty:
            lines += ["How often each intervention acted, per run:", "", _interventions_markdown(counts), ""]
    warnings = idle_warnings(summary)
    if warnings:
        lines += ["## Warnings", "", "Interventions that never acted (these runs are the base agent):", ""]
        lines += [f"- {line}" for line in warnings] + [""]
    pngs = [p for p in paths if p.suffix == ".png"]
    if pngs:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}]({FIGURES_DIR}/{p.name})" for p in pngs] + [""]
    report = out_dir / REPORT_FILE
    report.write_text("\n".join(lines))
    return report
