"""EpisodeRecorder: every finished episode and the steps of every task of an SB3 run, as ``episodes.csv`` and
``tasks.csv``.

Runs on every env step (cheap: a loop over the step's infos). The task of a step is ``info["task_id"]`` of the
non-stationary wrappers, 0 without one; ``info["task"]`` gives the task's parameters. Returns and lengths come from
SB3's Monitor (``info["episode"]``), or from the step rewards when no Monitor reports them.
"""

from __future__ import annotations

import time
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
    output_folder,
    read_episodes,
    read_task_progress,
    task_table,
    write_table,
)
from syre_rl.plasticity.task_switch import TaskSwitchDetector
from syre_rl.validation import check_fraction


class EpisodeRecorder(BaseCallback):
    """Record finished episodes and per-task step counts; write ``episodes.csv`` and ``tasks.csv``.

    Usage, for returns per task without plasticity metrics::

        recorder = EpisodeRecorder("runs/demo")
        model.learn(100_000, callback=recorder)
        recorder.tasks()  # or read runs/demo/tasks.csv

    Each finished episode is appended to ``episodes.csv`` (flushed row by row); ``tasks.csv`` is rewritten from all
    episodes of the run at each task switch and at the end of training. When the folder already holds these files
    (a resumed run), episodes are appended and the tasks' step counts continue.

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
        #: Finished episodes of the run (those of earlier sessions included on resume).
        self.episodes: list[Episode] = []
        #: Steps, span and parameters of each task seen, by task id.
        self.progress: dict[int, TaskProgress] = {}
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

    def take_task_start(self) -> bool:
        """Whether a new task started since the previous call (then clears it)."""
        started, self._task_started = self._task_started, False
        return started

    def tasks(self) -> list[dict[str, Any]]:
        """Per-task statistics of the run so far, one dict per task (see :func:`records.task_table`)."""
        return task_table(self.episodes, self.progress, self.final_fraction)

    def write_tasks(self) -> None:
        """Rewrite ``tasks.csv`` from every episode of the run so far (nothing without a folder)."""
        if self.log_dir is not None and (self.progress or self.episodes):
            write_table(self.log_dir / TASKS_FILE, self.tasks())

    # ------------------------------------------------------------------------------------------------ lifecycle
    def _on_training_start(self) -> None:
        if self._started:  # a later learn() call continues the same records
            return
        self._started = True
        self.log_dir = output_folder(self.log_dir, self.logger)
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.episodes = read_episodes(self.log_dir / EPISODES_FILE)
            self.progress = read_task_progress(self.log_dir / TASKS_FILE)
            self._episodes_file = CsvAppender(self.log_dir / EPISODES_FILE, EPISODES_COLUMNS)
        if self.progress:
            self._detector = TaskSwitchDetector(task_id=max(self.progress))
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
        task_ids = [info.get("task_id", 0) for info in infos]
        first = task_ids[0]
        if task_ids.count(first) == len(task_ids):  # all sub-envs on one task (synchronised switching)
            self._count_steps(first, len(task_ids), t, infos[0])
        else:
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

    def _count_steps(self, task_id: int, n: int, t: int, info: dict[str, Any]) -> None:
        progress = self.progress.get(task_id)
        if progress is None:
            progress = self.progress[int(task_id)] = TaskProgress(first_timestep=t)
        if progress.params is None and "task" in info:
            progress.params = dict(info["task"])
        progress.steps += n
        progress.last_timestep = t

    def _end_episodes(self, done: np.ndarray, infos: Sequence[dict[str, Any]], task_ids: list[Any], t: int) -> None:
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
            task_id = int(task_ids[i]) if i < len(task_ids) else 0
            self.episodes.append(Episode(t, task_id, ret, length))
            rows.append((t, task_id, ret, length))
            if i < len(self._ep_return):
                self._ep_return[i], self._ep_length[i] = 0.0, 0
        if rows and self._episodes_file is not None:
            self._episodes_file.write(rows)
