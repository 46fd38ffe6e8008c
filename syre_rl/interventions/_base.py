"""Shared pieces of the intervention callbacks: argument checks and task-switch detection."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any


def check_number(name: str, value: Any, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float if it is a finite real in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be a number in {bracket}{low}, {high}], got {value!r}")
    return float(value)


def check_count(name: str, value: Any, low: int = 0) -> int:
    """``value`` if it is an int >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def count_rollouts(model: Any, num_timesteps: int, counted: int) -> int:
    """Rollouts finished so far, at a rollout's end. On-policy algorithms derive it from the step count, so a resumed
    run keeps the cadence of an uninterrupted one; others count calls (``counted + 1``)."""
    n_steps, n_envs = getattr(model, "n_steps", None), getattr(model, "n_envs", None)
    if isinstance(n_steps, int) and isinstance(n_envs, int) and n_steps > 0 and n_envs > 0:
        return num_timesteps // (n_steps * n_envs)
    return counted + 1


class TaskSwitchDetector:
    """Tells whether a step's infos announce a new task (``info["task_switch"]`` of the non-stationary wrappers).

    Task ids of the wrappers only grow, so a switch is the first sight of a task id above every id seen so far:
    sub-envs that reach the new task on later steps (schedules aligned to episode ends) do not count again. The start
    of task 0 is not a switch; the first step seen after a resume is one when it opens a task other than 0.
    """

    def __init__(self) -> None:
        self.task_id: int | None = None
        self._seen = False

    def __call__(self, infos: Iterable[dict[str, Any]] | None) -> bool:
        switched = False
        for info in infos or ():
            task_id = info.get("task_id")
            if task_id is None:  # a wrapper without task ids: trust its flag, except on the very first step
                switched |= bool(info.get("task_switch")) and self._seen
                continue
            task_id = int(task_id)
            new = self.task_id is None or task_id > self.task_id
            if new and info.get("task_switch") and (self._seen or task_id != 0):
                switched = True
            if new:
                self.task_id = task_id
        self._seen = True
        return switched
