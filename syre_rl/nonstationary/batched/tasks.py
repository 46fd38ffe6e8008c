"""The task bookkeeping of ``n_envs`` sub-envs at once: what each :class:`TaskSwitchingWrapper` of a vector env
keeps for itself (clock, active task, pending switch, timing generator), as arrays, and the one task sequence they
all share.

The wrappers of a vector env are seeded alike, so they draw the same task sequence (in index order, whenever each
needs the next task); here it is drawn once. Switch decisions call the schedule's own ``due`` for every sub-env,
except for the built-in schedules whose ``due`` is known (fixed interval and its drift and cyclic variants, every K
episodes, manual), which are decided with array operations. Task states are exchanged in the wrapper's format, so
a checkpoint of either path resumes on the other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from syre_rl.nonstationary.families import Task, TaskFamily
from syre_rl.nonstationary.schedules import Clock, EveryKEpisodes, FixedInterval, Manual, Schedule
from syre_rl.nonstationary.wrapper import STATE_VERSION
from syre_rl.validation import check_int


class TaskClocks:
    """Task sequence and per-sub-env clocks of a batched env, with the semantics of one
    :class:`~syre_rl.nonstationary.wrapper.TaskSwitchingWrapper` per sub-env (same ``seed``, same ``n_envs``).

    :param family: the task family (validated).
    :param schedule: the schedule.
    :param seed: seed of the task sequence, as the wrapper's.
    :param n_envs: number of sub-envs; each vector step counts ``n_envs`` global steps.
    :param activate: called as ``activate(indices, task)`` to put a task into sub-envs ``indices``.
    :param tasks: replay these tasks instead of drawing (task ``k`` is ``tasks[k % len(tasks)]``).
    """

    def __init__(
        self,
        family: TaskFamily,
        schedule: Schedule,
        seed: int,
        n_envs: int,
        activate: Callable[[np.ndarray, Task], None],
        tasks: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.family, self.schedule, self.seed, self.n_envs = family, schedule, seed, n_envs
        self._apply = activate
        self.align = bool(schedule.align_to_episode or family.requires_reset)
        task_seq, timing_seq = np.random.SeedSequence(seed).spawn(2)
        self._task_rng = np.random.default_rng(task_seq)
        # Every wrapper of a vector env has its own timing generator, all seeded alike.
        self._timing_rngs = [np.random.default_rng(timing_seq) for _ in range(n_envs)]
        self._replay: list[Task] | None = None
        if tasks is not None:
            if isinstance(tasks, Mapping) or len(tasks) == 0:
                raise ValueError("BatchedTaskEnv: tasks must be a non-empty list of task dicts")
            for task in tasks:
                if not isinstance(task, Mapping):
                    raise ValueError(f"BatchedTaskEnv: each task must be a dict, got {task!r}")
                family.validate_task(task)
            self._replay = [dict(t) for t in tasks]
        self._tasks: list[Task] = []
        self._descriptions: dict[int, dict[str, Any]] = {}
        self.global_steps = 0
        self.task_index = np.zeros(n_envs, dtype=np.int64)
        self.task_start = np.zeros(n_envs, dtype=np.int64)
        self.episodes_in_task = np.zeros(n_envs, dtype=np.int64)
        self.steps_in_episode = np.zeros(n_envs, dtype=np.int64)
        self.pending = np.full(n_envs, -1, dtype=np.int64)  # task index to start at the next reset, -1: none
        self.report_switch = np.zeros(n_envs, dtype=bool)
        self._all = np.arange(n_envs)
        due = type(schedule).due
        self._fast_due: str | None = None
        if due is FixedInterval.due:
            self._fast_due = "interval"
        elif due is EveryKEpisodes.due:
            self._fast_due = "episodes"
        elif due is Manual.due:
            self._fast_due = "manual"
        self.activate(self._all, np.zeros(n_envs, dtype=np.int64))

    # ---------------------------------------------------------------------------------------------------------------
    # task sequence
    # ---------------------------------------------------------------------------------------------------------------
    def task(self, index: int) -> Task:
        """Task number ``index`` (drawn on first use, in index order, as every wrapper does)."""
        if self._replay is not None:
            return self._replay[index % len(self._replay)]
        while len(self._tasks) <= index:
            self._tasks.append(self.schedule.next_task(len(self._tasks), self._tasks, self.family, self._task_rng))
        return self._tasks[index]

    def description(self, index: int) -> dict[str, Any]:
        """``family.describe`` of task ``index`` (cached; callers copy it before handing it out)."""
        desc = self._descriptions.get(index)
        if desc is None:
            desc = self._descriptions[index] = self.family.describe(self.task(index))
        return desc

    def task_sequence(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` tasks (copies)."""
        n = check_int("task_sequence: n", n, low=0)
        return [copy.deepcopy(self.task(k)) for k in range(n)]

    # ---------------------------------------------------------------------------------------------------------------
    # switching
    # ---------------------------------------------------------------------------------------------------------------
    def activate(self, indices: np.ndarray, new_index: np.ndarray) -> None:
        """Start task ``new_index[j]`` in sub-env ``indices[j]`` now."""
        for k in np.unique(new_index).tolist():
            group = indices[new_index == k]
            self._apply(group, self.task(k))
            self.task_index[group] = k
        self.task_start[indices] = self.global_steps
        self.episodes_in_task[indices] = 0
        self.report_switch[indices] = True

    def due(self, indices: np.ndarray, at_reset: bool) -> np.ndarray:
        """Whether each sub-env of ``indices`` switches now (``at_reset``: at its reset, else before a step)."""
        if self._fast_due == "interval":
            spt = self.schedule.steps_per_task  # type: ignore[attr-defined]  # a FixedInterval (see _fast_due)
            if not at_reset and self.schedule.align_to_episode:
                return np.zeros(len(indices), dtype=bool)
            return self.global_steps >= (self.task_start[indices] // spt + 1) * spt
        if self._fast_due == "episodes":
            k = self.schedule.episodes_per_task  # type: ignore[attr-defined]  # an EveryKEpisodes (see _fast_due)
            return self.episodes_in_task[indices] >= k if at_reset else np.zeros(len(indices), dtype=bool)
        if self._fast_due == "manual":
            return np.zeros(len(indices), dtype=bool)
        out = np.zeros(len(indices), dtype=bool)
        for j, i in enumerate(indices.tolist()):
            clock = Clock(
                self.global_steps,
                int(self.task_start[i]),
                int(self.episodes_in_task[i]),
                int(self.steps_in_episode[i]),
            )
            out[j] = self.schedule.due(clock, at_reset, self._timing_rngs[i])
        return out

    def before_step(self) -> None:
        """Switches that happen before a step (schedules not aligned to episode ends)."""
        if self.align:
            return
        due = self.due(self._all, False)
        if due.any():
            self.activate(self._all[due], self.task_index[due] + 1)

    def after_step(self, done: np.ndarray) -> None:
        """Count one step of every sub-env; ``done``: episodes that ended with it."""
        self.global_steps += self.n_envs
        self.steps_in_episode += 1
        self.episodes_in_task += done

    def at_reset(self, indices: np.ndarray) -> None:
        """Switches at the resets of sub-envs ``indices``: a pending switch first, else the schedule's."""
        pending = self.pending[indices]
        has_pending = pending >= 0
        if has_pending.any():
            self.activate(indices[has_pending], pending[has_pending])
            self.pending[indices[has_pending]] = -1
        rest = indices[~has_pending]
        if len(rest):
            due = self.due(rest, True)
            if due.any():
                self.activate(rest[due], self.task_index[rest[due]] + 1)
        self.steps_in_episode[indices] = 0

    def force_switch(self, i: int, task_index: int | None = None) -> None:
        """Switch sub-env ``i`` now to ``task_index`` (default: its next task); see the wrapper's ``force_switch``."""
        index = int(self.task_index[i]) + 1 if task_index is None else check_int("force_switch: task_index", task_index)
        if self.family.requires_reset:
            self.pending[i] = index
        else:
            self.activate(np.array([i]), np.array([index]))

    # ---------------------------------------------------------------------------------------------------------------
    # checkpoint and resume, in the wrapper's format
    # ---------------------------------------------------------------------------------------------------------------
    def get_state(self, i: int) -> dict[str, Any]:
        """The state of sub-env ``i`` as :meth:`TaskSwitchingWrapper.get_task_state` gives it."""
        pending = int(self.pending[i])
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "n_envs": self.n_envs,
            "task_index": int(self.task_index[i]),
            "global_steps": int(self.global_steps),
            "task_start": int(self.task_start[i]),
            "episodes_in_task": int(self.episodes_in_task[i]),
            "steps_in_episode": int(self.steps_in_episode[i]),
            "pending": pending if pending >= 0 else None,
            "report_switch": bool(self.report_switch[i]),
            "tasks": copy.deepcopy(self._tasks),
            "task_rng": copy.deepcopy(self._task_rng.bit_generator.state),
            "timing_rng": copy.deepcopy(self._timing_rngs[i].bit_generator.state),
        }

    def set_state(self, i: int, state: Mapping[str, Any]) -> None:
        """Restore sub-env ``i`` from a state of :meth:`get_state` or of a wrapper with the same seed.

        The task sequence is shared: a state that knows more tasks than this env extends it (with its generator
        state); one that knows fewer must agree with the tasks known.
        """
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            raise ValueError(f"set_task_state: expected a dict from get_task_state (version {STATE_VERSION})")
        if state["seed"] != self.seed:
            raise ValueError(f"set_task_state: state has seed {state['seed']}, this env has seed {self.seed}")
        tasks = list(state["tasks"])
        known = min(len(tasks), len(self._tasks))
        if tasks[:known] != self._tasks[:known]:
            raise ValueError("set_task_state: the state's task sequence differs from this env's (another seed?)")
        if len(tasks) >= len(self._tasks):
            self._tasks = copy.deepcopy(tasks)
            self._descriptions.clear()
            self._task_rng.bit_generator.state = copy.deepcopy(state["task_rng"])
        self._timing_rngs[i].bit_generator.state = copy.deepcopy(state["timing_rng"])
        self.global_steps = int(state["global_steps"])
        self.steps_in_episode[i] = int(state["steps_in_episode"])
        self.activate(np.array([i]), np.array([int(state["task_index"])]))
        self.task_start[i] = int(state["task_start"])
        self.episodes_in_task[i] = int(state["episodes_in_task"])
        self.pending[i] = -1 if state["pending"] is None else int(state["pending"])
        self.report_switch[i] = bool(state["report_switch"])

    #: per-sub-env clock arrays (see :meth:`snapshot`)
    ARRAYS = ("task_index", "task_start", "episodes_in_task", "steps_in_episode", "pending", "report_switch")

    def snapshot(self) -> dict[str, Any]:
        """Every sub-env's clock and timing generator and the shared task sequence (copies), for :meth:`restore`;
        unlike :meth:`get_state`, one object for all sub-envs."""
        return {
            "seed": self.seed,
            "n_envs": self.n_envs,
            "global_steps": int(self.global_steps),
            **{name: getattr(self, name).copy() for name in self.ARRAYS},
            "tasks": copy.deepcopy(self._tasks),
            "task_rng": copy.deepcopy(self._task_rng.bit_generator.state),
            "timing_rngs": [copy.deepcopy(rng.bit_generator.state) for rng in self._timing_rngs],
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Put back a :meth:`snapshot` of clocks with the same seed and ``n_envs``. The task parameters of the
        sub-envs are not re-applied here: they are part of the batched env's state.

        :raises ValueError: another seed or number of sub-envs.
        """
        if (snapshot["seed"], snapshot["n_envs"]) != (self.seed, self.n_envs):
            raise ValueError(
                f"TaskClocks: state of seed {snapshot['seed']} with {snapshot['n_envs']} sub-envs, this env has seed "
                f"{self.seed} with {self.n_envs}"
            )
        self.global_steps = int(snapshot["global_steps"])
        for name in self.ARRAYS:
            setattr(self, name, np.array(snapshot[name], dtype=getattr(self, name).dtype, copy=True))
        self._tasks = copy.deepcopy(list(snapshot["tasks"]))
        self._descriptions.clear()
        self._task_rng.bit_generator.state = copy.deepcopy(snapshot["task_rng"])
        for rng, state in zip(self._timing_rngs, snapshot["timing_rngs"], strict=True):
            rng.bit_generator.state = copy.deepcopy(state)
