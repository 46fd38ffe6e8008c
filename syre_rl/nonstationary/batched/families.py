"""Batched counterparts of the task families: put a task into some sub-envs, transform batched observations and
actions.

They work next to the family objects of :mod:`syre_rl.nonstationary.families`, never instead of them: tasks are
drawn by the family (through the schedule), the family is validated on a template env, and a physics family's own
``apply`` computes the parameter values (derived ones included). The batched side only holds one row of
transform or physics state per sub-env, so sub-envs may be on different tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from syre_rl.nonstationary.batched.dynamics import BatchedContextualBandit, BatchedDynamics
from syre_rl.nonstationary.families import (
    ActionPermutation,
    BanditRelabel,
    CartPolePhysicsFamily,
    ObservationPermutation,
    PendulumPhysicsFamily,
    Task,
    TaskFamily,
)


class BatchedFamily:
    """Base class: per-sub-env state of one task family (the arrays named in ``STATE``, see :meth:`snapshot`).

    :param family: the family, already validated on the template env (its ``validate`` ran).
    :param dynamics: the batched dynamics the family acts on.
    """

    STATE: ClassVar[tuple[str, ...]] = ()

    def __init__(self, family: TaskFamily, dynamics: BatchedDynamics) -> None:
        self.family = family
        self.dynamics = dynamics
        self.n_envs = dynamics.n_envs
        self.transforms_observation = family.transforms_observation
        self.transforms_action = family.transforms_action

    def snapshot(self) -> dict[str, np.ndarray | None]:
        """Copies of the per-sub-env transform arrays (physics values live in the dynamics' ``params``)."""
        return {name: None if getattr(self, name) is None else getattr(self, name).copy() for name in self.STATE}

    def restore(self, snapshot: Mapping[str, np.ndarray | None]) -> None:
        """Put back a :meth:`snapshot` of a batched family of the same kind and size.

        :raises ValueError: an array is missing or has another shape.
        """
        for name in self.STATE:
            current, value = getattr(self, name), snapshot.get(name)
            shapes = [None if a is None else np.shape(a) for a in (value, current)]
            if shapes[0] != shapes[1]:
                raise ValueError(f"{type(self).__name__}: {name} has shape {shapes[0]} in the state, {shapes[1]} here")
        for name in self.STATE:
            value = snapshot[name]
            setattr(self, name, None if value is None else np.array(value, copy=True))

    def activate(self, indices: np.ndarray, task: Task) -> None:
        """Make ``task`` the active task of sub-envs ``indices``."""

    def observation(self, obs: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
        """What the agent sees: ``obs`` holds the rows of sub-envs ``indices`` (all sub-envs when None)."""
        return obs

    def action(self, actions: np.ndarray) -> np.ndarray:
        """The env's actions for the agent's ``actions`` (one row per sub-env)."""
        return actions


class _Scratch:
    """Stands in for an env so that a physics family's own ``apply`` writes its values here."""

    @property
    def unwrapped(self) -> _Scratch:
        return self


class BatchedPhysics(BatchedFamily):
    """Classic-control physics families: the family's ``apply`` (with its defaults and derived quantities) runs on a
    scratch object once per task, and the values are copied into the dynamics' per-sub-env parameter arrays."""

    def __init__(self, family: TaskFamily, dynamics: BatchedDynamics) -> None:
        super().__init__(family, dynamics)
        self._defaults = {name: float(values[0]) for name, values in dynamics.params.items()}
        self._cache: dict[int, tuple[Task, dict[str, float]]] = {}

    def _values(self, task: Task) -> dict[str, float]:
        cached = self._cache.get(id(task))
        if cached is not None and cached[0] is task:
            return cached[1]
        scratch: Any = _Scratch()
        scratch.__dict__.update(self._defaults)
        self.family.apply(scratch, task)
        values = {name: float(getattr(scratch, name)) for name in self._defaults}
        self._cache[id(task)] = (task, values)
        return values

    def activate(self, indices: np.ndarray, task: Task) -> None:
        for name, value in self._values(task).items():
            self.dynamics.params[name][indices] = value


class BatchedBanditRelabel(BatchedFamily):
    """``bandit_relabel``: copies the task's labels into the sub-envs' label rows."""

    def __init__(self, family: TaskFamily, dynamics: BatchedDynamics) -> None:
        if not isinstance(dynamics, BatchedContextualBandit):
            raise ValueError(f"bandit_relabel needs the batched contextual bandit, got {type(dynamics).__name__}")
        super().__init__(family, dynamics)

    def activate(self, indices: np.ndarray, task: Task) -> None:
        self.dynamics.params["labels"][indices] = np.asarray(task["labels"], dtype=np.int64)


class BatchedObservationPermutation(BatchedFamily):
    """``obs_permutation``: ``y[i] = s[i] x[p[i]]`` or ``y = Q x`` per sub-env, cast to the env's dtype as the
    family does."""

    STATE = ("perm", "signs", "matrix")

    def __init__(self, family: TaskFamily, dynamics: BatchedDynamics) -> None:
        super().__init__(family, dynamics)
        assert isinstance(family, ObservationPermutation)
        space = dynamics.observation_space
        assert isinstance(space, spaces.Box)
        self.shape, self.dtype, size = space.shape, space.dtype, family.size
        self.orthogonal, self.sign_flips = family.orthogonal, family.sign_flips
        self.perm = np.tile(np.arange(size, dtype=np.intp), (self.n_envs, 1))
        self.signs = np.ones((self.n_envs, size), dtype=np.float64) if self.sign_flips else None
        self.matrix = np.tile(np.eye(size), (self.n_envs, 1, 1)) if self.orthogonal else None

    def activate(self, indices: np.ndarray, task: Task) -> None:
        if self.matrix is not None:
            self.matrix[indices] = np.asarray(task["matrix"], dtype=np.float64)
            return
        self.perm[indices] = np.asarray(task["permutation"], dtype=np.intp)
        if self.signs is not None:
            self.signs[indices] = np.asarray(task["signs"], dtype=np.float64)

    def observation(self, obs: np.ndarray, indices: np.ndarray | None = None) -> np.ndarray:
        flat = obs.reshape(len(obs), -1)
        if self.matrix is not None:
            matrix = self.matrix if indices is None else self.matrix[indices]
            out = np.matmul(matrix, flat[:, :, None])[:, :, 0]
        else:
            perm = self.perm if indices is None else self.perm[indices]
            out = np.take_along_axis(flat, perm, axis=1)
            if self.signs is not None:
                out = out * (self.signs if indices is None else self.signs[indices])
        return out.reshape(obs.shape).astype(self.dtype, copy=False)


class BatchedActionPermutation(BatchedFamily):
    """``action_permutation``: a per-sub-env table lookup for Discrete actions, the family's ``[-1, 1]`` mapping for
    1-D Box actions."""

    STATE = ("perm", "signs")

    def __init__(self, family: TaskFamily, dynamics: BatchedDynamics) -> None:
        super().__init__(family, dynamics)
        assert isinstance(family, ActionPermutation)
        space = dynamics.action_space
        self.discrete = isinstance(space, spaces.Discrete)
        self.perm = np.tile(np.arange(family.size, dtype=np.intp), (self.n_envs, 1))
        self.signs = np.ones((self.n_envs, family.size), dtype=np.float64) if family.sign_flips else None
        self._rows = np.arange(self.n_envs)
        if self.discrete:
            assert isinstance(space, spaces.Discrete)
            self.start = int(space.start)
        else:
            assert isinstance(space, spaces.Box)
            self.low = space.low.astype(np.float64)
            self.half = (space.high.astype(np.float64) - self.low) / 2.0
            self.dtype = space.dtype

    def activate(self, indices: np.ndarray, task: Task) -> None:
        self.perm[indices] = np.asarray(task["permutation"], dtype=np.intp)
        if self.signs is not None:
            self.signs[indices] = np.asarray(task["signs"], dtype=np.float64)

    def action(self, actions: np.ndarray) -> np.ndarray:
        if self.discrete:
            a = np.asarray(actions).reshape(-1).astype(np.intp)
            return self.start + self.perm[self._rows, a - self.start]
        u = (np.asarray(actions, dtype=np.float64).reshape(self.n_envs, -1) - self.low) / self.half - 1.0
        u = np.take_along_axis(u, self.perm, axis=1)
        if self.signs is not None:
            u = u * self.signs
        return (self.low + (u + 1.0) * self.half).astype(self.dtype)


#: task family class -> its batched counterpart (exact classes: a subclass may change what the family does)
BATCHED_FAMILIES: dict[type[TaskFamily], type[BatchedFamily]] = {
    CartPolePhysicsFamily: BatchedPhysics,
    PendulumPhysicsFamily: BatchedPhysics,
    ObservationPermutation: BatchedObservationPermutation,
    ActionPermutation: BatchedActionPermutation,
    BanditRelabel: BatchedBanditRelabel,
}

#: type names of the families with a batched version
BATCHED_FAMILY_NAMES: list[str] = sorted(cls.type_name for cls in BATCHED_FAMILIES)


def make_batched_family(family: TaskFamily, dynamics: BatchedDynamics) -> BatchedFamily:
    """The batched counterpart of ``family`` (validated already) on ``dynamics``.

    :raises ValueError: ``family`` has no batched version (the message lists the families that have one).
    """
    cls = BATCHED_FAMILIES.get(type(family))
    if cls is None:
        raise ValueError(
            f"Task family {family.type_name or type(family).__name__!r} has no batched version; "
            f"families with one: {BATCHED_FAMILY_NAMES} (use the wrapper path for the others)"
        )
    return cls(family, dynamics)
