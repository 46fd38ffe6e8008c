"""The summary of the symmetry-trap experiment (:mod:`syre_rl.experiments.symmetry_trap`) from its ``trials.csv``:
per trap, decay condition and weight decay, how many trials escaped the collapsed state, with a 95% Wilson interval.
Reads files only (no torch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from syre_rl.analysis.statistics import wilson_interval

#: Columns of the summary, one row per (trap, condition, weight_decay).
TRAP_SUMMARY_COLUMNS: tuple[str, ...] = (
    "trap",
    "condition",
    "weight_decay",
    "trials",
    "escaped",
    "escape_rate",
    "ci_low",
    "ci_high",
    "trapped_spread",
    "final_loss",
)


def trap_summary(trials: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Escapes per (trap, condition, weight_decay) over the trials (seeds).

    :param trials: the trial records (a frame, or the path of ``trials.csv``).
    :return: columns :data:`TRAP_SUMMARY_COLUMNS`; ``trapped_spread`` and ``final_loss`` are means over trials.
    :raises ValueError: a frame without the trial columns.
    """
    frame = pd.read_csv(trials) if isinstance(trials, (str, Path)) else trials
    needed = {"trap", "condition", "weight_decay", "escaped", "trapped_spread", "final_loss"}
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise ValueError(f"symmetry-trap trials lack the columns {missing}")
    rows = []
    for (trap, condition, gamma), group in frame.groupby(["trap", "condition", "weight_decay"], sort=False):
        escaped = int(group["escaped"].astype(bool).sum())
        low, high = wilson_interval(escaped, len(group))
        rows.append(
            {
                "trap": trap,
                "condition": condition,
                "weight_decay": float(gamma),
                "trials": len(group),
                "escaped": escaped,
                "escape_rate": escaped / len(group),
                "ci_low": low,
                "ci_high": high,
                "trapped_spread": float(group["trapped_spread"].mean()),
                "final_loss": float(group["final_loss"].mean()),
            }
        )
    return pd.DataFrame(rows, columns=list(TRAP_SUMMARY_COLUMNS))


def trap_markdown(summary: pd.DataFrame) -> str:
    """The summary as a markdown table."""
    header = ["trap", "decay", "gamma", "escaped / trials", "rate [95% CI]", "spread", "final loss"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in summary.itertuples():
        cells = [
            str(row.trap),
            str(row.condition),
            f"{row.weight_decay:g}",
            f"{row.escaped} / {row.trials}",
            f"{row.escape_rate:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]",
            f"{row.trapped_spread:.3f}",
            f"{row.final_loss:.4f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
