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


class TaskSwitchDetector:
    """Tells whether a step's infos announce a new task (``info["task_switch"]`` of the non-stationary wrappers).

    The start of the first task is not a switch: a flag seen on the first observed step, or one whose
    ``info["task_id"]`` equals the task already running, is ignored. With a vector env every sub-env switches at
    the same global step, so one step gives at most one switch.
    """

    def __init__(self) -> None:
        self.task_id: int | None = None
        self._seen = False

    def __call__(self, infos: Iterable[dict[str, Any]] | None) -> bool:
        switched = False
        for info in infos or ():
            task_id = info.get("task_id")
            if info.get("task_switch") and self._seen and (task_id is None or task_id != self.task_id):
                switched = True
            if task_id is not None:
                self.task_id = int(task_id)
        self._seen = True
        return switched
