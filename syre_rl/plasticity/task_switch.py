"""Task-switch detection from the step infos of the non-stationary wrappers (plain Python)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class TaskSwitchDetector:
    """Tells whether a step's infos announce a new task (``info["task_id"]``, ``info["task_switch"]`` of the
    non-stationary wrappers).

    Task ids of the wrappers only grow, so a switch is the first sight of a task id above every id seen so far:
    sub-envs that reach the new task on later steps (schedules aligned to episode ends) do not count again. The start
    of task 0 is not a switch. On the first step seen, with nothing to compare with, the ``task_switch`` flag decides:
    a run resumed at the start of a task other than 0 sees a switch, one resumed within a task does not. Infos
    without task ids are trusted by their flag, except on the very first step.

    :param task_id: the newest task id already known (e.g. from the records of a resumed run); None: none.
    """

    def __init__(self, task_id: int | None = None) -> None:
        #: The highest task id seen so far (None before any).
        self.task_id: int | None = task_id
        self._seen = False

    def __call__(self, infos: Iterable[dict[str, Any]] | None) -> bool:
        switched = False
        for info in infos or ():
            task_id = info.get("task_id")
            if task_id is None:
                switched |= bool(info.get("task_switch")) and self._seen
                continue
            task_id = int(task_id)
            if self.task_id is None:
                switched |= bool(info.get("task_switch")) and (self._seen or task_id != 0)
                self.task_id = task_id
            elif task_id > self.task_id:
                switched = True
                self.task_id = task_id
        self._seen = True
        return switched
