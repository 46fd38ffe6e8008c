"""The tidy CSV files of a run (metrics, episodes, tasks) and the per-task statistics of episode returns.

Plain Python (csv module), so run folders can be written and read without pandas or torch.

Files
    ``metrics.csv``: ``timesteps, task_id, network, layer, metric, value``, one measured value per row.
    ``episodes.csv``: ``timesteps, task_id, return, length``, one finished episode per row; ``timesteps`` is the
    global step count when it ended, ``task_id`` that of its last step.
    ``tasks.csv``: one row per task: ``task_id``, the task's parameters (one column each), then :data:`TASK_COLUMNS`.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from syre_rl.validation import check_fraction

METRICS_COLUMNS = ("timesteps", "task_id", "network", "layer", "metric", "value")
EPISODES_COLUMNS = ("timesteps", "task_id", "return", "length")
TASK_COLUMNS = ("steps", "n_episodes", "first_timestep", "last_timestep", "final_return", "auc", "best_return")
METRICS_FILE, EPISODES_FILE, TASKS_FILE = "metrics.csv", "episodes.csv", "tasks.csv"
# Weights and collapse scales at step 0, kept so that a resumed run measures against the same reference.
INIT_REFERENCE_FILE = "plasticity_init.pt"


def output_folder(log_dir: str | Path | None, logger: Any = None) -> Path | None:
    """The folder a callback writes its CSV files to: ``log_dir`` when given, else the output folder of SB3's
    ``logger`` (``logger.get_dir()``) when it has one, else None (no files). The folder is created if needed.

    :param log_dir: the folder asked for, or None.
    :param logger: an SB3 :class:`~stable_baselines3.common.logger.Logger` (or anything with ``get_dir()``), or None.
    """
    folder = log_dir if log_dir is not None else (logger.get_dir() if logger is not None else None)
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


class CsvAppender:
    """Append rows to a CSV file, writing the header only when the file is new or empty, flushing every write.

    The file is opened on first use and may be closed and reopened (append mode) at will, so a resumed run keeps
    adding to the same file and a killed run keeps every row written before it died.

    :param path: the CSV file.
    :param columns: header, used only when the file is new.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self._file: TextIO | None = None
        self._writer: Any = None

    def _open(self) -> None:
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", newline="")  # kept open between writes on purpose
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(self.columns)
            self._file.flush()

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows (each in the order of ``columns``) and flush them to the operating system."""
        if self._file is None:
            self._open()
        self._writer.writerows(rows)
        self._file.flush()  # type: ignore[union-attr]  # opened above

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """All rows of a CSV file as dicts of strings; an empty list if the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def parse_value(text: str) -> Any:
    """A CSV cell back to int, float or the original string (JSON lists/dicts are decoded)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class Episode:
    """One finished episode."""

    timesteps: int
    task_id: int
    ret: float
    length: int


def iter_episodes(path: str | Path) -> Iterator[Episode]:
    """The episodes of an ``episodes.csv`` file one by one, without holding the file in memory (none if it does not
    exist)."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            yield Episode(
                int(float(r["timesteps"])), int(float(r["task_id"])), float(r["return"]), int(float(r["length"]))
            )


def read_episodes(path: str | Path) -> list[Episode]:
    """The episodes of an ``episodes.csv`` file (empty if it does not exist)."""
    return list(iter_episodes(path))


@dataclass
class TaskProgress:
    """What is known of one task apart from its episodes: steps spent on it, when it was seen, its parameters."""

    steps: int = 0
    first_timestep: int | None = None
    last_timestep: int | None = None
    params: dict[str, Any] | None = None


def _cell(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)


def task_table(
    episodes: Sequence[Episode],
    progress: dict[int, TaskProgress] | None = None,
    final_fraction: float = 0.1,
) -> list[dict[str, Any]]:
    """Per-task statistics of episode returns, one dict per task in task order.

    For task ``k`` with episodes ending at timesteps in ``[first, last]`` (the task's span: from ``progress`` when
    given, else its episodes' span):

    * ``final_return``: mean return of the episodes ending in the last ``final_fraction`` of the span (at least the
      task's last episode). Default fraction 0.1.
    * ``auc``: area under the return curve over the task's steps, normalised by them: ``sum R_e L_e / sum L_e``,
      i.e. the return averaged over the task's time rather than over its episodes.
    * ``best_return``: highest episode return. ``n_episodes``: number of episodes. Return statistics are NaN for a
      task without a finished episode.
    * ``steps``: env steps spent on the task (from ``progress``; else the sum of its episode lengths).

    Task parameters (``progress[k].params``) become columns; a parameter named like a statistic gets a ``task_``
    prefix, and non-scalar values are JSON-encoded.
    """
    final_fraction = check_fraction("final_fraction", final_fraction, low_open=True)
    progress = progress or {}
    by_task: dict[int, list[Episode]] = {}
    for episode in episodes:
        by_task.setdefault(episode.task_id, []).append(episode)
    table = []
    for task_id in sorted(set(by_task) | set(progress)):
        eps = sorted(by_task.get(task_id, []), key=lambda e: e.timesteps)
        info = progress.get(task_id, TaskProgress())
        first = info.first_timestep if info.first_timestep is not None else (eps[0].timesteps if eps else 0)
        last = info.last_timestep if info.last_timestep is not None else (eps[-1].timesteps if eps else 0)
        row: dict[str, Any] = {"task_id": task_id}
        for key, value in (info.params or {}).items():
            name = f"task_{key}" if key in TASK_COLUMNS or key == "task_id" else key
            row[name] = _cell(value)
        row["steps"] = info.steps if info.steps else sum(e.length for e in eps)
        row["n_episodes"] = len(eps)
        row["first_timestep"], row["last_timestep"] = first, last
        if eps:
            cutoff = last - final_fraction * (last - first)
            window = [e.ret for e in eps if e.timesteps >= cutoff] or [eps[-1].ret]
            total_length = sum(e.length for e in eps)
            row["final_return"] = sum(window) / len(window)
            row["auc"] = sum(e.ret * e.length for e in eps) / total_length if total_length else math.nan
            row["best_return"] = max(e.ret for e in eps)
        else:
            row["final_return"] = row["auc"] = row["best_return"] = math.nan
        table.append(row)
    return table


def write_table(path: str | Path, rows: Sequence[dict[str, Any]], first_columns: Sequence[str] = ("task_id",)) -> None:
    """Write dict rows as a CSV file, replacing it atomically; columns: ``first_columns``, the rest in first-seen
    order, :data:`TASK_COLUMNS` last."""
    columns = list(first_columns)
    for row in rows:
        columns += [k for k in row if k not in columns and k not in TASK_COLUMNS]
    columns += [c for c in TASK_COLUMNS if any(c in row for row in rows)]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def task_progress_of(row: dict[str, str]) -> TaskProgress:
    """Steps, span and parameters of one task from its ``tasks.csv`` row (cells as read)."""
    known = {"task_id", *TASK_COLUMNS}
    params = {
        k[5:] if k.startswith("task_") and k[5:] in known else k: parse_value(v)
        for k, v in row.items()
        if k not in known and v != ""
    }
    return TaskProgress(
        steps=int(float(row.get("steps") or 0)),
        first_timestep=int(float(row["first_timestep"])) if row.get("first_timestep") else None,
        last_timestep=int(float(row["last_timestep"])) if row.get("last_timestep") else None,
        params=params or None,
    )


def read_task_progress(path: str | Path) -> dict[int, TaskProgress]:
    """Steps, spans and parameters of the tasks of an existing ``tasks.csv`` (to continue them on resume)."""
    return {int(float(row["task_id"])): task_progress_of(row) for row in read_rows(path)}
