"""Batched task families in torch: the device twin of each class of :mod:`~syre_rl.nonstationary.batched.families`.

A task switch is rare, so it runs on the host: the numpy batched family puts the task into the sub-envs' rows (its
own transform arrays, or the parameters of the host dynamics) and the twin copies those rows to the device. What
runs every step, transforming observations and actions, runs on the device with the numpy class's casts. Snapshots
are the host's, in the numpy format.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from syre_rl.nonstationary.batched.families import (
    BatchedActionPermutation,
    BatchedBanditRelabel,
    BatchedFamily,
    BatchedObservationPermutation,
    BatchedPhysics,
)
from syre_rl.nonstationary.batched.torch_dynamics import TorchDynamics, numpy_to_torch_dtype, rows
from syre_rl.nonstationary.families import Task


class TorchFamily:
    """A batched family's per-sub-env arrays mirrored on the device; the twin of the families without a per-step
    transform (``cartpole_physics``, ``pendulum_physics``, ``bandit_relabel``: their tasks are the dynamics'
    parameters) and the base of the others.

    :param host: the numpy batched family, acting on ``dynamics.host``.
    :param dynamics: the torch dynamics whose parameters a task may change.
    """

    def __init__(self, host: BatchedFamily, dynamics: TorchDynamics) -> None:
        if host.dynamics is not dynamics.host:
            raise ValueError(f"{type(self).__name__}: the family and the dynamics have different hosts")
        self.host = host
        self.dynamics = dynamics
        self.device = dynamics.device
        self.n_envs = host.n_envs
        self.transforms_observation = host.transforms_observation
        self.transforms_action = host.transforms_action
        #: the host family's arrays (``STATE``) on the device; None where the host has none
        self.arrays: dict[str, torch.Tensor | None] = {}
        self.mirror(None)

    def mirror(self, indices: np.ndarray | None) -> None:
        """Copy the host family's array rows ``indices`` (every row when None) to the device."""
        for name in self.host.STATE:
            value = getattr(self.host, name)
            current = self.arrays.get(name)
            if value is None:
                self.arrays[name] = None
            elif indices is None or current is None:
                self.arrays[name] = torch.as_tensor(value, device=self.device).clone()
            else:
                current[rows(indices, self.device)] = torch.as_tensor(value[indices], device=self.device)

    def activate(self, indices: np.ndarray, task: Task) -> None:
        """Make ``task`` the active task of sub-envs ``indices``: on the host, then copied to the device."""
        self.host.activate(indices, task)
        self.mirror(indices)
        self.dynamics.mirror_params(indices)

    def observation(self, obs: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        """What the agent sees: ``obs`` holds the rows of sub-envs ``indices`` (all sub-envs when None)."""
        return obs

    def action(self, actions: torch.Tensor) -> torch.Tensor:
        """The env's actions for the agent's ``actions`` (one row per sub-env)."""
        return actions

    def snapshot(self) -> dict[str, np.ndarray | None]:
        """The host family's snapshot (numpy, the numpy path's format)."""
        return self.host.snapshot()

    def restore(self, snapshot: Mapping[str, np.ndarray | None]) -> None:
        """Put back a snapshot of either path and mirror it to the device."""
        self.host.restore(snapshot)
        self.mirror(None)

    def _array(self, name: str) -> torch.Tensor:
        value = self.arrays[name]
        assert value is not None, name
        return value


class TorchObservationPermutation(TorchFamily):
    """``obs_permutation`` on the device: ``y[i] = s[i] x[p[i]]`` (float64 signs) or ``y = Q x`` (float64), cast to
    the env's observation dtype, as :class:`~syre_rl.nonstationary.batched.families.BatchedObservationPermutation`."""

    def __init__(self, host: BatchedFamily, dynamics: TorchDynamics) -> None:
        super().__init__(host, dynamics)
        assert isinstance(host, BatchedObservationPermutation)
        self.dtype = numpy_to_torch_dtype(host.dtype)

    def observation(self, obs: torch.Tensor, indices: torch.Tensor | None = None) -> torch.Tensor:
        flat = obs.reshape(len(obs), -1)
        matrix, signs = self.arrays["matrix"], self.arrays["signs"]
        if matrix is not None:
            matrix = matrix if indices is None else matrix[indices]
            out = torch.bmm(matrix, flat.to(torch.float64)[:, :, None])[:, :, 0]
        else:
            perm = self._array("perm")
            out = torch.take_along_dim(flat, perm if indices is None else perm[indices], dim=1)
            if signs is not None:
                out = out * (signs if indices is None else signs[indices])
        return out.reshape(obs.shape).to(self.dtype)


class TorchActionPermutation(TorchFamily):
    """``action_permutation`` on the device: a per-sub-env table lookup for Discrete actions, the family's
    ``[-1, 1]`` mapping (in float64, cast to the action dtype) for 1-D Box actions."""

    def __init__(self, host: BatchedFamily, dynamics: TorchDynamics) -> None:
        super().__init__(host, dynamics)
        assert isinstance(host, BatchedActionPermutation)
        self.permutation = host
        self._rows = torch.arange(self.n_envs, device=self.device)
        if not host.discrete:
            self.low = torch.as_tensor(host.low, device=self.device)
            self.half = torch.as_tensor(host.half, device=self.device)
            self.dtype = numpy_to_torch_dtype(host.dtype)

    def action(self, actions: torch.Tensor) -> torch.Tensor:
        perm, signs = self._array("perm"), self.arrays["signs"]
        if self.permutation.discrete:
            start = self.permutation.start
            return start + perm[self._rows, actions.reshape(-1).to(torch.int64) - start]
        u = (actions.to(torch.float64).reshape(self.n_envs, -1) - self.low) / self.half - 1.0
        u = torch.take_along_dim(u, perm, dim=1)
        if signs is not None:
            u = u * signs
        return (self.low + (u + 1.0) * self.half).to(self.dtype)


#: numpy batched family class -> its torch twin
TORCH_FAMILIES: dict[type[BatchedFamily], type[TorchFamily]] = {
    BatchedPhysics: TorchFamily,
    BatchedBanditRelabel: TorchFamily,
    BatchedObservationPermutation: TorchObservationPermutation,
    BatchedActionPermutation: TorchActionPermutation,
}


def make_torch_family(host: BatchedFamily, dynamics: TorchDynamics) -> TorchFamily:
    """The torch twin of the numpy batched family ``host`` on ``dynamics``' device.

    :raises ValueError: ``host``'s class has no torch twin (the message lists those that have one).
    """
    cls = TORCH_FAMILIES.get(type(host))
    if cls is None:
        known = sorted(c.__name__ for c in TORCH_FAMILIES)
        raise ValueError(f"{type(host).__name__} has no torch version; batched families with one: {known}")
    return cls(host, dynamics)
