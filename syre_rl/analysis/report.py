"""The benchmark summary as a report: its files in the benchmark folder (``summary.csv``, ``runs.csv``,
``summary.md``) and its table, in wide form, as Markdown, or printed to the terminal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from syre_rl.analysis.runs import agent_label
from syre_rl.analysis.summary import (
    IDLE_INTERVENTIONS,
    INTERVENTION_ACTED,
    SUMMARY_COLUMNS,
    summarize,
)
from syre_rl.run_layout import RUNS_FILE, SUMMARY_FILE, SUMMARY_MARKDOWN

TABLE_NOTE = "mean over seeds [95% bootstrap CI] (interquartile mean)"
# Columns of the printed table besides SUMMARY_COLUMNS, shown only where some row has a value.
EXTRA_COLUMNS: tuple[tuple[str, str], ...] = ((INTERVENTION_ACTED, "intervention acted"),)


def idle_warnings(summary: pd.DataFrame) -> list[str]:
    """One line per scenario and agent (variant) with runs in which an intervention never acted, naming the
    interventions; empty when every intervention acted in every run (or none is recorded).

    :param summary: a table from :func:`syre_rl.analysis.summary.summarize` (its per-run table in ``attrs``).
    """
    per_run = summary.attrs.get("per_run")
    if per_run is None or IDLE_INTERVENTIONS not in per_run:
        return []
    keys = ["scenario", "agent", "variant"] if "variant" in per_run else ["scenario", "agent"]
    out = []
    for names, group in per_run.groupby(keys, sort=True):
        values = dict(zip(keys, names))
        idle = group[IDLE_INTERVENTIONS].fillna("")
        if (idle != "").any():
            kinds = sorted({k for text in idle for k in str(text).split(",") if k})
            who = agent_label(str(values["agent"]), str(values.get("variant", "")))
            out.append(
                f"{who} on {values['scenario']}: intervention {', '.join(kinds)} never acted in "
                f"{int((idle != '').sum())} of {len(group)} runs"
            )
    return out


def write_summary(root: str | Path, reference: str | None = "auto") -> pd.DataFrame:
    """:func:`~syre_rl.analysis.summary.summarize` the benchmark in ``root`` and write ``summary.csv``, ``runs.csv``
    (one row per run) and ``summary.md`` (the printed table as Markdown, see :func:`markdown_table`) into it.

    :param root: benchmark folder.
    :param reference: agent whose runs are the reset reference; ``"auto"``:
        :data:`~syre_rl.run_layout.DEFAULT_REFERENCE`; None: no reference.
    :return: the summary table.
    """
    summary = summarize(root, reference)
    summary.to_csv(Path(root) / SUMMARY_FILE, index=False)
    per_run = summary.attrs.get("per_run")
    if per_run is not None:
        per_run.to_csv(Path(root) / RUNS_FILE, index=False)
    text = markdown_table(summary)
    warnings = idle_warnings(summary)
    if warnings:
        text += "\n**Warning**: interventions that never acted (these runs are the base agent):\n\n"
        text += "".join(f"- {line}\n" for line in warnings)
    (Path(root) / SUMMARY_MARKDOWN).write_text(text)
    return summary


def format_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Wide, printable form of a summary: one row per scenario and agent (``agent [sweep values]`` for a variant of
    a sweep), one column per metric (plus ``n``, the number of seeds), each cell ``mean [ci_low, ci_high] (iqm)``;
    metrics with no value anywhere are left out.

    :param summary: a table from :func:`syre_rl.analysis.summary.summarize`.
    """
    labels = dict(SUMMARY_COLUMNS + EXTRA_COLUMNS)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for row in summary.itertuples():
        agent = agent_label(row.agent, str(getattr(row, "variant", "") or ""))
        cell = cells.setdefault((row.scenario, agent), {"n": ""})
        if row.metric not in labels:
            continue
        if not np.isfinite(row.mean):
            continue
        cell["n"] = str(max(int(row.n), int(cell["n"] or 0)))
        ci = f" [{row.ci_low:.3g}, {row.ci_high:.3g}]" if np.isfinite(row.ci_low) else ""
        cell[labels.get(row.metric, row.metric)] = f"{row.mean:.3g}{ci} ({row.iqm:.3g})"
    cells = {key: cell for key, cell in cells.items() if len(cell) > 1}
    shown = SUMMARY_COLUMNS + EXTRA_COLUMNS
    columns = ["n"] + [label for _, label in shown if any(label in c for c in cells.values())]
    index = pd.MultiIndex.from_tuples(list(cells), names=["scenario", "agent"])
    return pd.DataFrame([[c.get(col, "") for col in columns] for c in cells.values()], index=index, columns=columns)


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
        Console(width=max(sum(widths) + 3 * len(widths) + 1, len(str(out.title)) + 2)).print(out)
