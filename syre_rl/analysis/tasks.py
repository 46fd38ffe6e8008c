"""Per-task summary of one run folder: each task's returns, compared with the first task and with a reference run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syre_rl.plasticity.records import read_episodes, read_task_progress, task_table
from syre_rl.run_layout import EPISODES_FILE, TASKS_FILE


def _tasks(run_dir: Path) -> pd.DataFrame:
    """``tasks.csv`` of a run, or, for a run killed before writing it, the same table rebuilt from its episodes."""
    if not run_dir.is_dir():
        raise ValueError(f"run_dir {str(run_dir)!r} is not a folder")
    if (run_dir / TASKS_FILE).exists():
        return pd.read_csv(run_dir / TASKS_FILE)
    episodes = read_episodes(run_dir / EPISODES_FILE)
    if not episodes:
        raise ValueError(f"run folder {str(run_dir)!r} has neither {TASKS_FILE} nor episodes in {EPISODES_FILE}")
    return pd.DataFrame(task_table(episodes, read_task_progress(run_dir / TASKS_FILE)))


def _ratio(num: Any, den: Any) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def task_summary(run_dir: str | Path, reference_run_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per task of a run: its returns, and how they compare with the first task and a reference run.

    Columns: ``task_id``, ``steps``, ``n_episodes``, ``final_return`` (mean return over the last 10% of the task),
    ``auc`` (step-weighted mean return over the task), ``best_return``, then

    * ``relative_to_first``: ``final_return / final_return of the first task``; ``gap_to_first`` the difference.
      A plastic agent stays near 1 (near 0 for the gap) on tasks of equal difficulty.
    * ``reference_final_return``, ``relative_to_reference``, ``gap_to_reference``: the same against the reference
      run's task with the same ``task_id`` (typically an agent re-initialised at every task switch, which is what a
      fully plastic agent reaches); NaN without a reference or without that task in it.

    Ratios are NaN when the denominator is not positive (they have no meaning for negative returns); use the gaps.

    :param run_dir: a run folder holding ``tasks.csv`` (or at least ``episodes.csv``).
    :param reference_run_dir: run folder of the reference agent on the same task sequence, or None.
    :return: a DataFrame sorted by ``task_id``.
    """
    tasks = _tasks(Path(run_dir)).sort_values("task_id").reset_index(drop=True)
    columns = ["task_id", "steps", "n_episodes", "final_return", "auc", "best_return"]
    summary = tasks[[c for c in columns if c in tasks.columns]].copy()
    first = summary["final_return"].iloc[0] if len(summary) else np.nan
    summary["relative_to_first"] = _ratio(summary["final_return"], first)
    summary["gap_to_first"] = summary["final_return"] - first
    if reference_run_dir is not None:
        reference = _tasks(Path(reference_run_dir))[["task_id", "final_return"]]
        reference = reference.rename(columns={"final_return": "reference_final_return"})
        summary = summary.merge(reference, on="task_id", how="left")
    else:
        summary["reference_final_return"] = np.nan
    summary["relative_to_reference"] = _ratio(summary["final_return"], summary["reference_final_return"])
    summary["gap_to_reference"] = summary["final_return"] - summary["reference_final_return"]
    return summary
