"""EpisodeRecorder: every finished episode and the steps of every task of an SB3 run, as ``episodes.csv`` and
``tasks.csv``.

Runs on every env step (cheap: a loop over the step's infos). The task of a step is ``info["task_id"]`` of the
non-stationary wrappers, 0 without one; ``info["task"]`` gives the task's parameters. Returns and lengths come from
SB3's Monitor (``info["episode"]``), or from the step rewards when no Monitor reports them.

Memory stays bounded over long runs: the episodes of a task are kept (as three compact arrays) only while some
sub-env is still on it; once every sub-env has moved past a task, its ``tasks.csv`` row is computed and only that
row is kept.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.plasticity.records import (
    EPISODES_COLUMNS,
    EPISODES_FILE,
    TASKS_FILE,
    CsvAppender,
    Episode,
    TaskProgress,
    iter_episodes,
    output_folder,
    parse_value,
    read_episodes,
    read_rows,
    task_progress_of,
    task_table,
    write_table,
)
from syre_rl.plasticity.task_switch import TaskSwitchDetector
from syre_rl.validation import check_fraction


class TaskEpisodes:
    """The finished episodes of one task as three arrays (8 bytes per value): end timesteps, returns, lengths."""

    def __init__(self) -> None:
        self.timesteps = array("q")
        self.returns = array("d")
        self.lengths = array("q")

    def __len__(self) -> int:
        return len(self.timesteps)

    def append(self, timesteps: int, ret: float, length: int) -> None:
        self.timesteps.append(timesteps)
        self.returns.append(ret)
        self.lengths.append(length)

    def episodes(self, task_id: int) -> list[Episode]:
        """The episodes as :class:`~syre_rl.plasticity.records.Episode` objects, in the order they ended."""
        return [Episode(t, task_id, r, n) for t, r, n in zip(self.timesteps, self.returns, self.lengths)]


class EpisodeRecorder(BaseCallback):
    """Record finished episodes and per-task step counts; write ``episodes.csv`` and ``tasks.csv``.

    Usage, for returns per task without plasticity metrics::

        recorder = EpisodeRecorder("runs/demo")
        model.learn(100_000, callback=recorder)
        recorder.tasks()  # or read runs/demo/tasks.csv

    Each finished episode is appended to ``episodes.csv`` (flushed row by row); ``tasks.csv`` is rewritten at each
    task switch and at the end of training. A task's episodes are kept in memory only while a sub-env is on it; when
    every sub-env has moved past it, its row of ``tasks.csv`` is computed and kept instead, so memory does not grow
    with the number of episodes. When the folder already holds these files (a resumed run), episodes are appended
    and the tasks continue: the finished tasks' rows are read back from ``tasks.csv`` and only the newest task's
    episodes from ``episodes.csv``.

    :param log_dir: folder of the CSV files (created if needed). Default None: the output folder of the model's SB3
        logger when it has one (e.g. the TensorBoard run folder), else no files (the records stay in memory).
    :param final_fraction: share of a task's steps whose episodes make its ``final_return``, in (0, 1]. Default 0.1.
    :param verbose: SB3 verbosity.
    """

    def __init__(self, log_dir: str | Path | None = None, final_fraction: float = 0.1, verbose: int = 0) -> None:
        super().__init__(verbose)
        #: Folder of the CSV files: as given, or resolved at the start of training (None: no files).
        self.log_dir: Path | None = None if log_dir is None else Path(log_dir)
        self.final_fraction = check_fraction("final_fraction", final_fraction, low_open=True)
        #: Wall time spent in the per-step bookkeeping and the file writes, in seconds.
        self.overhead_seconds = 0.0
        #: Steps, span and parameters of each task some sub-env may still be on, by task id.
        self.progress: dict[int, TaskProgress] = {}
        #: Finished episodes of the run (those of earlier sessions included on resume).
        self.n_episodes = 0
        self._open: dict[int, TaskEpisodes] = {}  # episodes of the tasks in ``progress``
        self._rows: dict[int, dict[str, Any]] = {}  # tasks.csv rows of the tasks every sub-env has left
        self._raw: set[int] = set()  # rows read back from tasks.csv, kept as the cells read (written back as such)
        self._low = -1  # lowest task id a sub-env is on; every task below it is finished
        self._episodes_file: CsvAppender | None = None
        self._detector = TaskSwitchDetector()
        self._started = False
        self._task_started = False
        self._own_returns = True
        self._ep_return = np.zeros(0)
        self._ep_length = np.zeros(0, dtype=np.int64)

    @property
    def task_id(self) -> int:
        """The newest task seen (0 before any task id)."""
        return 0 if self._detector.task_id is None else self._detector.task_id

    @property
    def episodes(self) -> list[Episode]:
        """Finished episodes of the run: read from ``episodes.csv`` when the recorder writes one (every episode,
        earlier sessions' included), else those of the tasks a sub-env may still be on (the ones kept in memory)."""
        if self.log_dir is not None and (self.log_dir / EPISODES_FILE).is_file():
            return read_episodes(self.log_dir / EPISODES_FILE)
        return [e for task_id in sorted(self._open) for e in self._open[task_id].episodes(task_id)]

    def take_task_start(self) -> bool:
        """Whether a new task started since the previous call (then clears it)."""
        started, self._task_started = self._task_started, False
        return started

    def tasks(self) -> list[dict[str, Any]]:
        """Per-task statistics of the run so far, one dict per task in task order (see :func:`records.task_table`)."""
        rows = {task_id: self._typed_row(task_id) for task_id in self._rows}
        rows.update({row["task_id"]: row for row in self._open_rows()})
        return [rows[task_id] for task_id in sorted(rows)]

    def write_tasks(self) -> None:
        """Rewrite ``tasks.csv`` with every task of the run so far (nothing without a folder)."""
        if self.log_dir is None or not (self.progress or self._rows):
            return
        rows = dict(self._rows)
        rows.update({row["task_id"]: row for row in self._open_rows()})
        write_table(self.log_dir / TASKS_FILE, [rows[task_id] for task_id in sorted(rows)])

    def _open_rows(self) -> list[dict[str, Any]]:
        episodes = [e for task_id in sorted(self._open) for e in self._open[task_id].episodes(task_id)]
        return task_table(episodes, self.progress, self.final_fraction)

    def _typed_row(self, task_id: int) -> dict[str, Any]:
        row = self._rows[task_id]
        if task_id not in self._raw:
            return row
        return {k: parse_value(v) for k, v in row.items() if v != ""}

    # ------------------------------------------------------------------------------------------------ task records
    def _close_below(self, low: int) -> None:
        """Turn every open task below ``low`` (no sub-env is on it any more) into its ``tasks.csv`` row."""
        for task_id in sorted(k for k in self.progress if k < low):
            episodes = self._open.pop(task_id, TaskEpisodes()).episodes(task_id)
            progress = {task_id: self.progress.pop(task_id)}
            self._rows[task_id] = task_table(episodes, progress, self.final_fraction)[0]
            self._raw.discard(task_id)
        self._low = low

    def _reopen(self, task_id: int) -> None:
        """Take a finished task up again (a sub-env of a resumed run still on it): its progress from its row, its
        episodes from ``episodes.csv``."""
        row = self._rows.pop(task_id)
        raw = task_id in self._raw
        self._raw.discard(task_id)
        self.progress[task_id] = task_progress_of(
            {k: v if raw else ("" if v is None else str(v)) for k, v in row.items()}
        )
        episodes = TaskEpisodes()
        if self.log_dir is not None:
            for e in iter_episodes(self.log_dir / EPISODES_FILE):
                if e.task_id == task_id:
                    episodes.append(e.timesteps, e.ret, e.length)
        self._open[task_id] = episodes
        self._low = min(self._low, task_id)

    def _read_back(self, folder: Path) -> None:
        """Continue the records of a resumed run: the rows of its tasks but the newest, which continues from its row
        and its episodes."""
        rows = {int(float(row["task_id"])): row for row in read_rows(folder / TASKS_FILE)}
        if not rows:
            self.n_episodes = sum(1 for _ in iter_episodes(folder / EPISODES_FILE))
            return
        newest = max(rows)
        self.progress = {newest: task_progress_of(rows.pop(newest))}
        self._rows, self._raw = dict(rows), set(rows)
        episodes = self._open[newest] = TaskEpisodes()
        count = 0
        for e in iter_episodes(folder / EPISODES_FILE):
            count += 1
            if e.task_id == newest:
                episodes.append(e.timesteps, e.ret, e.length)
        self.n_episodes = count
        self._detector = TaskSwitchDetector(task_id=newest)

    # ------------------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything the recorder keeps in memory (picklable, copied): per-task progress, the episodes of open
        tasks, the rows of finished tasks, task-switch detection and the returns of the episodes in progress. With
        :meth:`load_state_dict`, a run continues its records exactly, whatever its files hold."""
        return copy.deepcopy(
            {
                "progress": {k: dataclasses.asdict(v) for k, v in self.progress.items()},
                "open": {k: (v.timesteps, v.returns, v.lengths) for k, v in self._open.items()},
                "rows": self._rows,
                "raw": sorted(self._raw),
                "low": self._low,
                "n_episodes": self.n_episodes,
                "detector": (self._detector.task_id, self._detector._seen),
                "task_started": self._task_started,
                "own_returns": self._own_returns,
                "ep_return": self._ep_return,
                "ep_length": self._ep_length,
            }
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` (it replaces what the recorder read from its files)."""
        state = copy.deepcopy(state)
        self.progress = {int(k): TaskProgress(**v) for k, v in state["progress"].items()}
        self._open = {}
        for k, (timesteps, returns, lengths) in state["open"].items():
            episodes = self._open[int(k)] = TaskEpisodes()
            episodes.timesteps, episodes.returns, episodes.lengths = timesteps, returns, lengths
        self._rows = {int(k): v for k, v in state["rows"].items()}
        self._raw = set(state["raw"])
        self._low = int(state["low"])
        self.n_episodes = int(state["n_episodes"])
        self._detector = TaskSwitchDetector(task_id=state["detector"][0])
        self._detector._seen = bool(state["detector"][1])
        self._task_started = bool(state["task_started"])
        self._own_returns = bool(state["own_returns"])
        self._ep_return = np.asarray(state["ep_return"], dtype=float)
        self._ep_length = np.asarray(state["ep_length"], dtype=np.int64)

    # ------------------------------------------------------------------------------------------------ lifecycle
    def _on_training_start(self) -> None:
        if self._started:  # a later learn() call continues the same records
            return
        self._started = True
        self.log_dir = output_folder(self.log_dir, self.logger)
        if self.log_dir is not None:
            self._read_back(self.log_dir)
            self._episodes_file = CsvAppender(self.log_dir / EPISODES_FILE, EPISODES_COLUMNS)
        n_envs = self.training_env.num_envs if self.training_env is not None else 1
        self._ep_return = np.zeros(n_envs)
        self._ep_length = np.zeros(n_envs, dtype=np.int64)

    def _on_training_end(self) -> None:
        self.write_tasks()
        if self._episodes_file is not None:
            self._episodes_file.close()

    # ------------------------------------------------------------------------------------------------ every step
    def _on_step(self) -> bool:
        start = time.perf_counter()
        self._track_step()
        self.overhead_seconds += time.perf_counter() - start
        return True

    def _track_step(self) -> None:
        # Runs on every env step: kept to a few dict operations in the common case.
        infos = self.locals.get("infos")
        if not infos:
            return
        t = self.num_timesteps
        task_ids = [int(info.get("task_id", 0)) for info in infos]
        first = task_ids[0]
        if task_ids.count(first) == len(task_ids):  # all sub-envs on one task (synchronised switching)
            low = first
            self._count_steps(first, len(task_ids), t, infos[0])
        else:
            low = min(task_ids)
            for task_id, info in zip(task_ids, infos):
                self._count_steps(task_id, 1, t, info)
        if self._detector(infos):
            self._task_started = True
            self.write_tasks()
        if self._own_returns:
            rewards = self.locals.get("rewards")
            if rewards is not None and len(rewards) == len(self._ep_return):
                self._ep_return += rewards
                self._ep_length += 1
        dones = self.locals.get("dones")
        if dones is not None and dones.any():
            self._end_episodes(np.flatnonzero(dones), infos, task_ids, t)
        if low > self._low:
            self._close_below(low)

    def _count_steps(self, task_id: int, n: int, t: int, info: dict[str, Any]) -> None:
        progress = self.progress.get(task_id)
        if progress is None:
            if task_id in self._rows:
                self._reopen(task_id)
                progress = self.progress[task_id]
            else:
                progress = self.progress[task_id] = TaskProgress(first_timestep=t)
                self._open[task_id] = TaskEpisodes()
        if progress.params is None and "task" in info:
            progress.params = dict(info["task"])
        progress.steps += n
        progress.last_timestep = t

    def _end_episodes(self, done: np.ndarray, infos: Sequence[dict[str, Any]], task_ids: list[int], t: int) -> None:
        rows = []
        for i in done:
            episode = infos[i].get("episode") if i < len(infos) else None
            if episode is not None:
                ret, length = float(episode["r"]), int(episode["l"])
                self._own_returns = False  # a Monitor reports episodes: stop summing rewards ourselves
            elif self._own_returns and i < len(self._ep_return):
                ret, length = float(self._ep_return[i]), int(self._ep_length[i])
            else:
                continue
            task_id = task_ids[i] if i < len(task_ids) else 0
            if task_id not in self.progress:
                if task_id in self._rows:
                    self._reopen(task_id)
                else:
                    self.progress[task_id] = TaskProgress()
            self._open.setdefault(task_id, TaskEpisodes()).append(t, ret, length)
            self.n_episodes += 1
            rows.append((t, task_id, ret, length))
            if i < len(self._ep_return):
                self._ep_return[i], self._ep_length[i] = 0.0, 0
        if rows and self._episodes_file is not None:
            self._episodes_file.write(rows)
