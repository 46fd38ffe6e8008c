"""Schedules: when the task switches, and how the next task is made.

All step counts are **total env steps across a vector env**: a wrapper in one of ``n_envs`` sub-envs counts each of
its own steps as ``n_envs`` global steps, so identically seeded sub-envs switch at the same global step.

Interval schedules use absolute boundaries at multiples of ``steps_per_task`` (so a forced switch does not move them).
Without episode alignment a switch happens exactly at the boundary, mid-episode: with ``n_envs`` sub-envs the steps
with global index ``< k * steps_per_task`` belong to earlier tasks (rounded up to a multiple of ``n_envs``). With
``align_to_episode=True`` each sub-env switches at its first reset after the boundary, as in Dohare et al. (2024).

Episode-based schedules (every K episodes, memoryless) count a sub-env's own episodes, so sub-envs of a vector env
switch at different times (the task sequence is still the same). For one global schedule driven by episodes use
:class:`Manual` and call ``force_switch`` from a callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from syre_rl.nonstationary.families import Task, TaskFamily
from syre_rl.validation import check_fraction, check_int, check_real, register_type


@dataclass
class Clock:
    """Counters a schedule decides on (kept by the wrapper).

    :param global_steps: total env steps so far (own steps x n_envs).
    :param task_start: global step at which the current task began.
    :param episodes_in_task: episodes finished (terminated or truncated) in the current task.
    :param steps_in_episode: own steps since the last reset.
    """

    global_steps: int = 0
    task_start: int = 0
    episodes_in_task: int = 0
    steps_in_episode: int = 0


class Schedule:
    """Base class. ``due`` decides whether to switch now; ``next_task`` makes task number ``index``."""

    type_name: ClassVar[str] = ""
    align_to_episode: bool = False

    def due(self, clock: Clock, at_reset: bool, rng: np.random.Generator) -> bool:
        """Whether the task should switch now (``at_reset``: called from ``reset``, else before a step)."""
        raise NotImplementedError

    def next_task(self, index: int, history: list[Task], family: TaskFamily, rng: np.random.Generator) -> Task:
        """Task number ``index`` given the tasks before it; by default an independent draw from the family."""
        return family.sample(rng, index, history[-1] if history else None)

    def validate_family(self, family: TaskFamily) -> None:
        """Raise ``ValueError`` if the schedule cannot work with ``family``."""


class Manual(Schedule):
    """Never switches by itself: switches come from ``force_switch`` (e.g. a callback driving a global schedule)."""

    type_name = "manual"

    def due(self, clock: Clock, at_reset: bool, rng: np.random.Generator) -> bool:
        return False


class FixedInterval(Schedule):
    """Switch every ``steps_per_task`` total env steps.

    :param steps_per_task: interval in total env steps across the vector env.
    :param align_to_episode: switch at the first episode end after the boundary instead of at once (default False).
    """

    type_name = "fixed_interval"

    def __init__(self, steps_per_task: int, align_to_episode: bool = False) -> None:
        self.steps_per_task = check_int(f"{self.type_name}: steps_per_task", steps_per_task, low=1)
        self.align_to_episode = bool(align_to_episode)

    def due(self, clock: Clock, at_reset: bool, rng: np.random.Generator) -> bool:
        boundary = (clock.task_start // self.steps_per_task + 1) * self.steps_per_task
        if clock.global_steps < boundary:
            return False
        return at_reset or not self.align_to_episode


class Cyclic(FixedInterval):
    """Fixed interval over ``n_distinct`` tasks drawn once, then revisited in the same order (task ``k`` equals task
    ``k mod n_distinct``).

    :param steps_per_task: interval in total env steps.
    :param n_distinct: number of distinct tasks in the cycle (>= 1).
    :param align_to_episode: as in :class:`FixedInterval`.
    """

    type_name = "cyclic"

    def __init__(self, steps_per_task: int, n_distinct: int, align_to_episode: bool = False) -> None:
        super().__init__(steps_per_task, align_to_episode)
        self.n_distinct = check_int(f"{self.type_name}: n_distinct", n_distinct, low=1)

    def next_task(self, index: int, history: list[Task], family: TaskFamily, rng: np.random.Generator) -> Task:
        if index < self.n_distinct:
            return super().next_task(index, history, family, rng)
        return dict(history[index % self.n_distinct])


class _ContinuousDrift(FixedInterval):
    """Fixed interval whose first task is drawn from the whole range and whose later tasks move continuously from
    earlier ones (:meth:`_move`); needs a family with continuous parameters."""

    def validate_family(self, family: TaskFamily) -> None:
        if not family.continuous:
            raise ValueError(f"{self.type_name} needs a family with continuous parameters, got {family.type_name!r}")

    def next_task(self, index: int, history: list[Task], family: TaskFamily, rng: np.random.Generator) -> Task:
        if index == 0:
            return super().next_task(index, history, family, rng)
        return self._move(index, history, family, rng)

    def _move(self, index: int, history: list[Task], family: TaskFamily, rng: np.random.Generator) -> Task:
        raise NotImplementedError


class RandomWalk(_ContinuousDrift):
    """Fixed interval; each new task is a random-walk step from the previous one. In each parameter's unit
    coordinate (position in its range, on a log scale for log-uniform parameters) the step is ``N(0, scale^2)``,
    reflected at the range ends. The first task is drawn from the whole range.

    :param steps_per_task: interval in total env steps (small values give a near-continuous drift).
    :param scale: standard deviation of a step as a fraction of the range (> 0).
    :param align_to_episode: as in :class:`FixedInterval`.
    """

    type_name = "random_walk"

    def __init__(self, steps_per_task: int, scale: float, align_to_episode: bool = False) -> None:
        super().__init__(steps_per_task, align_to_episode)
        self.scale = check_real("random_walk: scale", scale, low=0.0, low_open=True)

    def _move(self, index: int, history: list[Task], family: TaskFamily, rng: np.random.Generator) -> Task:
        return family.drift(history[-1], rng, self.scale)


class Trend(_ContinuousDrift):
    """Fixed interval; parameters move steadily by ``rate`` of their range per task (in the same unit coordinate as
    :class:`RandomWalk`), bouncing between the range ends. The first task is drawn from the whole range.

    :param steps_per_task: interval in total env steps.
    :param rate: change per task as a fraction of the range (non-zero; negative moves down first).
    :param align_to_episode: as in :class:`FixedInterval`.
    """

    type_name = "trend"

    def __init__(self, steps_per_task: int, rate: float, align_to_episode: bool = False) -> None:
        super().__init__(steps_per_task, align_to_episode)
        self.rate = check_real("trend: rate", rate)
        if self.rate == 0:
            raise ValueError(f"trend: rate must be a non-zero number, got {rate!r}")

    def _move(self, index: int, history: list[Task], family: TaskFamily, rng: np.random.Generator) -> Task:
        return family.trend(history[0], index, self.rate)


class EveryKEpisodes(Schedule):
    """Switch at the reset after every ``episodes_per_task`` finished episodes of this sub-env.

    :param episodes_per_task: K (>= 1).
    """

    type_name = "every_k_episodes"
    align_to_episode = True

    def __init__(self, episodes_per_task: int) -> None:
        self.episodes_per_task = check_int(f"{self.type_name}: episodes_per_task", episodes_per_task, low=1)

    def due(self, clock: Clock, at_reset: bool, rng: np.random.Generator) -> bool:
        return at_reset and clock.episodes_in_task >= self.episodes_per_task


class Memoryless(Schedule):
    """Switch with probability ``switch_prob`` at each reset that follows at least one step (a geometric number of
    episodes per task). The draws come from the wrapper's timing generator, separate from the task generator, so
    the task sequence does not depend on when switches happen.

    :param switch_prob: probability per episode, in (0, 1].
    """

    type_name = "memoryless"
    align_to_episode = True

    def __init__(self, switch_prob: float) -> None:
        self.switch_prob = check_fraction("memoryless: switch_prob", switch_prob, low_open=True)

    def due(self, clock: Clock, at_reset: bool, rng: np.random.Generator) -> bool:
        if not at_reset or clock.steps_in_episode == 0:
            return False
        return bool(rng.uniform() < self.switch_prob)


SCHEDULES: dict[str, type[Schedule]] = {
    cls.type_name: cls for cls in (Manual, FixedInterval, Cyclic, RandomWalk, Trend, EveryKEpisodes, Memoryless)
}


def register_schedule(name: str, cls: type[Schedule]) -> type[Schedule]:
    """Make a user-defined :class:`Schedule` subclass available to specs and scenario recipes as ``{type: name}``.

    Instances of any subclass can be given to :class:`~syre_rl.nonstationary.wrapper.TaskSwitchingWrapper` without
    registering; registering is needed only to name the class in a dict spec or an ``envs/*.yaml`` recipe. The class
    must be importable wherever the spec is built (e.g. in every worker process of a grid of runs).

    :param name: the type name recipes use; also set as the class's ``type_name`` when it has none.
    :param cls: the schedule class.
    :return: ``cls`` (so this can be used as ``register_schedule("name", MySchedule)`` right after the class).
    :raises ValueError: ``name`` taken by another class, or ``cls`` not a :class:`Schedule` subclass.
    """
    register_type(SCHEDULES, name, cls, Schedule, "schedule")
    if not cls.type_name:
        cls.type_name = name
    return cls
