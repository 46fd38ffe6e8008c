"""The task-switching wrapper: makes a stationary env non-stationary with a task family and a schedule."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from syre_rl.nonstationary.families import FAMILIES, Task, TaskFamily
from syre_rl.nonstationary.schedules import SCHEDULES, Clock, Schedule
from syre_rl.validation import build_from_spec, check_int

STATE_VERSION = 1


def build_task_machinery(
    family: Mapping[str, Any] | TaskFamily, schedule: Mapping[str, Any] | Schedule, n_envs: int, owner: str
) -> tuple[TaskFamily, Schedule]:
    """The task family (a private copy) and the schedule of ``n_envs`` sub-envs that share one task sequence.

    :param family: a ``{type: ...}`` spec or a :class:`TaskFamily`.
    :param schedule: a ``{type: ...}`` spec or a :class:`Schedule`.
    :param n_envs: sub-envs whose steps the schedule counts together.
    :param owner: what is built, for error messages.
    :raises ValueError: a bad spec, or a fixed interval shorter than one vector step (``n_envs`` total steps).
    """
    built_family: TaskFamily = copy.deepcopy(build_from_spec(FAMILIES, family, "task family"))
    built_schedule: Schedule = build_from_spec(SCHEDULES, schedule, "schedule")
    steps_per_task = getattr(built_schedule, "steps_per_task", None)
    if steps_per_task is not None and steps_per_task < n_envs:
        raise ValueError(
            f"{owner}: steps_per_task ({steps_per_task}) must be >= n_envs ({n_envs}), since each vector step "
            "counts n_envs total steps"
        )
    return built_family, built_schedule


class TaskSwitchingWrapper(gym.Wrapper):
    """Switch tasks of ``env`` on a schedule; the task sequence comes from the wrapper's own seeded generator.

    Every ``step`` and ``reset`` info carries ``task_id`` (int, 0-based), ``task`` (the task's scalar parameters,
    see :meth:`TaskFamily.describe`) and ``task_switch`` (True on the first step of each task, task 0 included, and
    on a reset that starts a new task).

    The same ``seed`` gives the same task sequence whatever the agent does: task parameters and switch timing draw
    from two separate generators, and the env's own ``reset(seed=...)`` touches neither. In a vector env give every
    sub-env's wrapper the same ``seed`` and ``n_envs``: they then follow the same task sequence and, for
    step-interval schedules without episode alignment, switch at the same global step.

    :param env: the stationary env.
    :param family: an instance of any :class:`TaskFamily` subclass (copied) or a spec dict such as
        ``{"type": "obs_permutation"}`` (types: :data:`FAMILIES`, extended by
        :func:`~syre_rl.nonstationary.families.register_task_family`).
    :param schedule: an instance of any :class:`Schedule` subclass or a spec dict such as
        ``{"type": "fixed_interval", "steps_per_task": 1000}`` (types: :data:`SCHEDULES`, extended by
        :func:`~syre_rl.nonstationary.schedules.register_schedule`).
    :param seed: seed of the task sequence (default 0).
    :param n_envs: number of sub-envs of the vector env this wrapper lives in; each own step counts as ``n_envs``
        total steps (default 1).
    :param tasks: replay these task dicts (e.g. from :meth:`task_sequence`) instead of drawing tasks; task ``k`` is
        ``tasks[k % len(tasks)]``. Checked against the family at construction.
    """

    def __init__(
        self,
        env: gym.Env,
        family: TaskFamily | Mapping[str, Any],
        schedule: Schedule | Mapping[str, Any],
        seed: int = 0,
        n_envs: int = 1,
        tasks: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(env)
        seed = check_int("TaskSwitchingWrapper: seed", seed, low=0)
        n_envs = check_int("TaskSwitchingWrapper: n_envs", n_envs, low=1)
        self.family, self.schedule = build_task_machinery(family, schedule, n_envs, "TaskSwitchingWrapper")
        self.family.validate(env)
        self.schedule.validate_family(self.family)
        self.observation_space = self.family.observation_space(env.observation_space)
        self.action_space = self.family.action_space(env.action_space)
        self.seed, self.n_envs = seed, n_envs
        self._align = self.schedule.align_to_episode or self.family.requires_reset
        task_seq, timing_seq = np.random.SeedSequence(self.seed).spawn(2)
        self._task_rng = np.random.default_rng(task_seq)
        self._timing_rng = np.random.default_rng(timing_seq)
        self._replay: list[Task] | None = None
        if tasks is not None:
            if isinstance(tasks, Mapping) or len(tasks) == 0:
                raise ValueError("TaskSwitchingWrapper: tasks must be a non-empty list of task dicts")
            for task in tasks:
                if not isinstance(task, Mapping):
                    raise ValueError(f"TaskSwitchingWrapper: each task must be a dict, got {task!r}")
                self.family.validate_task(task)
            self._replay = [dict(t) for t in tasks]
        self._tasks: list[Task] = []
        self._clock = Clock()
        self._task_index = 0
        self._pending: int | None = None  # task index to start at the next reset
        self._activate(0)

    # ---------------------------------------------------------------------------------------------------------------
    # task sequence
    # ---------------------------------------------------------------------------------------------------------------
    def _task(self, index: int) -> Task:
        if self._replay is not None:
            return self._replay[index % len(self._replay)]
        while len(self._tasks) <= index:
            self._tasks.append(self.schedule.next_task(len(self._tasks), self._tasks, self.family, self._task_rng))
        return self._tasks[index]

    def task_sequence(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` tasks of this wrapper's sequence (copies; pass them as ``tasks=`` to replay)."""
        n = check_int("task_sequence: n", n, low=0)
        return [copy.deepcopy(self._task(k)) for k in range(n)]

    @property
    def task_id(self) -> int:
        """Index of the active task."""
        return self._task_index

    @property
    def current_task(self) -> dict[str, Any]:
        """A copy of the active task dict."""
        return copy.deepcopy(self._task(self._task_index))

    @property
    def global_steps(self) -> int:
        """Total env steps so far as this wrapper counts them (own steps x n_envs)."""
        return self._clock.global_steps

    def _activate(self, index: int) -> None:
        task = self._task(index)
        self.family.apply(self.env, task)
        self._task_index = index
        self._task_info = self.family.describe(task)
        self._clock.task_start = self._clock.global_steps
        self._clock.episodes_in_task = 0
        self._report_switch = True

    def force_switch(self, task_index: int | None = None) -> None:
        """Switch now to ``task_index`` (default: the next task). Families that need an episode boundary (env
        cycling) switch at the next reset. Interval boundaries of the schedule stay where they are."""
        index = self._task_index + 1 if task_index is None else check_int("force_switch: task_index", task_index)
        if self.family.requires_reset:
            self._pending = index
        else:
            self._activate(index)

    # ---------------------------------------------------------------------------------------------------------------
    # checkpoint and resume
    # ---------------------------------------------------------------------------------------------------------------
    def get_task_state(self) -> dict[str, Any]:
        """Everything needed to resume the task sequence exactly (plain, picklable values)."""
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "n_envs": self.n_envs,
            "task_index": self._task_index,
            "global_steps": self._clock.global_steps,
            "task_start": self._clock.task_start,
            "episodes_in_task": self._clock.episodes_in_task,
            "steps_in_episode": self._clock.steps_in_episode,
            "pending": self._pending,
            "report_switch": self._report_switch,
            "tasks": copy.deepcopy(self._tasks),
            "task_rng": copy.deepcopy(self._task_rng.bit_generator.state),
            "timing_rng": copy.deepcopy(self._timing_rng.bit_generator.state),
        }

    def set_task_state(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`get_task_state` and put its active task into the env."""
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            raise ValueError(f"set_task_state: expected a dict from get_task_state (version {STATE_VERSION})")
        if state["seed"] != self.seed:
            raise ValueError(f"set_task_state: state has seed {state['seed']}, this wrapper has seed {self.seed}")
        self._tasks = copy.deepcopy(list(state["tasks"]))
        self._task_rng.bit_generator.state = copy.deepcopy(state["task_rng"])
        self._timing_rng.bit_generator.state = copy.deepcopy(state["timing_rng"])
        self._clock = Clock(
            global_steps=int(state["global_steps"]),
            task_start=int(state["task_start"]),
            episodes_in_task=int(state["episodes_in_task"]),
            steps_in_episode=int(state["steps_in_episode"]),
        )
        task_start, episodes = self._clock.task_start, self._clock.episodes_in_task
        self._activate(int(state["task_index"]))
        self._clock.task_start, self._clock.episodes_in_task = task_start, episodes
        self._pending = state["pending"]
        self._report_switch = bool(state["report_switch"])

    # ---------------------------------------------------------------------------------------------------------------
    # gymnasium API
    # ---------------------------------------------------------------------------------------------------------------
    def _add_info(self, info: dict[str, Any]) -> dict[str, Any]:
        info["task_id"] = self._task_index
        info["task"] = dict(self._task_info)
        info["task_switch"] = self._report_switch
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self._pending is not None:
            self._activate(self._pending)
            self._pending = None
        elif self.schedule.due(self._clock, True, self._timing_rng):
            self._activate(self._task_index + 1)
        self._clock.steps_in_episode = 0
        obs, info = self.env.reset(seed=seed, options=options)
        if self.family.transforms_observation:
            obs = self.family.observation(obs)
        return obs, self._add_info(info)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        if not self._align and self.schedule.due(self._clock, False, self._timing_rng):
            self._activate(self._task_index + 1)
        if self.family.transforms_action:
            action = self.family.action(action)
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._clock.global_steps += self.n_envs
        self._clock.steps_in_episode += 1
        if terminated or truncated:
            self._clock.episodes_in_task += 1
        if self.family.transforms_observation:
            obs = self.family.observation(obs)
        self._add_info(info)
        self._report_switch = False
        return obs, reward, terminated, truncated, info
