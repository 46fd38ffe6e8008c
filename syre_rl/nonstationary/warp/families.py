"""The ``mujoco_physics`` task family on MuJoCo Warp worlds: each task's values are computed by the family's own
``apply`` (on host copies of the template model's arrays, so friction on every geom, masses, inertias and gravity
follow the CPU path exactly) and written into the rows of the scheduled worlds only."""

from __future__ import annotations

from typing import Any

import numpy as np

from syre_rl.nonstationary.batched.dynamics import BatchedDynamics
from syre_rl.nonstationary.batched.families import BatchedFamily
from syre_rl.nonstationary.families import MujocoPhysicsFamily, Task, TaskFamily


class _ScratchModel:
    """Stands in for a MuJoCo env (``env.unwrapped.model``) so that the family's ``apply`` writes its values here."""

    def __init__(self, defaults: dict[str, np.ndarray]) -> None:
        self.geom_friction = defaults["geom_friction"].copy()
        self.body_mass = defaults["body_mass"].copy()
        self.body_inertia = defaults["body_inertia"].copy()
        self.opt = type("Option", (), {})()
        self.opt.gravity = defaults["gravity"].copy()

    @property
    def unwrapped(self) -> _ScratchModel:
        return self

    @property
    def model(self) -> _ScratchModel:
        return self


class WarpMujocoPhysics(BatchedFamily):
    """``mujoco_physics`` on :class:`~syre_rl.nonstationary.warp.ant.WarpAnt`: per-world ``geom_friction``,
    ``body_mass``, ``body_inertia`` and ``gravity``.

    :param family: a :class:`~syre_rl.nonstationary.families.MujocoPhysicsFamily`, validated on the template env.
    :param dynamics: the Warp dynamics (with ``params`` and ``params_changed``).
    """

    def __init__(self, family: TaskFamily, dynamics: BatchedDynamics) -> None:
        if not isinstance(family, MujocoPhysicsFamily) or not family.defaults:
            raise ValueError("WarpMujocoPhysics needs a mujoco_physics family validated on the template env")
        if not callable(getattr(dynamics, "params_changed", None)):
            raise ValueError(f"WarpMujocoPhysics needs Warp dynamics, got {type(dynamics).__name__}")
        super().__init__(family, dynamics)
        self._cache: dict[int, tuple[Task, dict[str, np.ndarray]]] = {}

    def values(self, task: Task) -> dict[str, np.ndarray]:
        """The model parameters of ``task``: ``geom_friction``, ``body_mass``, ``body_inertia``, ``gravity``."""
        cached = self._cache.get(id(task))
        if cached is not None and cached[0] is task:
            return cached[1]
        scratch: Any = _ScratchModel(self.family.defaults)  # type: ignore[attr-defined]  # checked in __init__
        self.family.apply(scratch, task)
        values = {
            "geom_friction": np.asarray(scratch.geom_friction, dtype=np.float64),
            "body_mass": np.asarray(scratch.body_mass, dtype=np.float64),
            "body_inertia": np.asarray(scratch.body_inertia, dtype=np.float64),
            "gravity": np.asarray(scratch.opt.gravity, dtype=np.float64),
        }
        self._cache[id(task)] = (task, values)
        return values

    def activate(self, indices: np.ndarray, task: Task) -> None:
        for name, value in self.values(task).items():
            self.dynamics.params[name][indices] = value
        self.dynamics.params_changed()  # type: ignore[attr-defined]  # checked in __init__
