"""Batched dynamics in torch, on any torch device: the device twin of each numpy class of
:mod:`~syre_rl.nonstationary.batched.dynamics`.

A twin steps the physics state as float64 tensors on its device with the same equations, casts and constants as its
numpy class, and leaves everything random or task-related to that numpy class, its *host*: initial states and bandit
inputs are drawn on the host from the sub-envs' numpy generators (so the draws are those of the numpy path) and moved
to the device; per-sub-env parameters are written on the host (by the batched family) and mirrored to the device
(:meth:`TorchDynamics.mirror_params`). The host therefore holds the authoritative parameters and generators' draws,
and the physics state only as of the last :meth:`TorchDynamics.snapshot`; snapshots are the host's, in the numpy
format, so a state moves between the numpy path and any device.

On the CPU the twins give the numpy path's observations (float32) and rewards (float64) to within float64 rounding of
the transcendental functions (a few units in the last place of float64, well below float32 resolution).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces

from syre_rl.nonstationary.batched.dynamics import (
    BatchedCartPole,
    BatchedContextualBandit,
    BatchedDynamics,
    BatchedPendulum,
)


def numpy_to_torch_dtype(dtype: np.dtype | type) -> torch.dtype:
    """The torch dtype of a numpy dtype (e.g. ``float32`` -> ``torch.float32``)."""
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


def rows(indices: np.ndarray, device: torch.device) -> torch.Tensor:
    """Host row indices as an int64 index tensor on ``device``."""
    return torch.as_tensor(np.asarray(indices, dtype=np.int64), device=device)


class TorchDynamics:
    """Base class: ``n_envs`` sub-envs' physics state and parameters as tensors on ``device``.

    Subclasses set ``HOST`` (the numpy class they twin) and ``STATE`` (tensor attributes evolved on the device and
    stored, in numpy, under the same name in the host's snapshot).

    :param host: the numpy dynamics this twin mirrors (its class is ``HOST``).
    :param device: where the tensors live.
    """

    HOST: ClassVar[type[BatchedDynamics]] = BatchedDynamics
    STATE: ClassVar[tuple[str, ...]] = ()

    def __init__(self, host: BatchedDynamics, device: torch.device) -> None:
        if type(host) is not self.HOST:
            raise ValueError(f"{type(self).__name__} mirrors a {self.HOST.__name__}, got {type(host).__name__}")
        self.host = host
        self.device = device
        self.n_envs = host.n_envs
        self.observation_space: spaces.Space = host.observation_space
        self.action_space: spaces.Space = host.action_space
        self.params: dict[str, torch.Tensor] = {}
        self.mirror_params(None)

    def mirror_params(self, indices: np.ndarray | None) -> None:
        """Copy the host's parameter rows ``indices`` (every row when None) to the device."""
        for name, values in self.host.params.items():
            if indices is None or name not in self.params:
                self.params[name] = torch.as_tensor(values, device=self.device).clone()
            else:
                self.params[name][rows(indices, self.device)] = torch.as_tensor(values[indices], device=self.device)

    def mirror_state(self) -> None:
        """Copy the host's physics state (``STATE``) to the device."""
        for name in self.STATE:
            setattr(self, name, torch.as_tensor(getattr(self.host, name), device=self.device).clone())

    def sync_host(self) -> None:
        """Copy the device's physics state (``STATE``) back to the host."""
        for name in self.STATE:
            setattr(self.host, name, getattr(self, name).cpu().numpy().copy())

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
        """Start new episodes in sub-envs ``indices`` (drawn on the host from ``rngs[i]``); return their first
        observations on the device."""
        raise NotImplementedError

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step every sub-env; return observations, rewards (float64) and terminations (bool), on the device."""
        raise NotImplementedError

    def step_info(self) -> dict[str, torch.Tensor]:
        """Per-sub-env values of the env's own step info, on the device; empty by default."""
        return {}

    def snapshot(self) -> dict[str, Any]:
        """The host's snapshot (numpy arrays, the numpy path's format) after copying the device state to it."""
        self.sync_host()
        return self.host.snapshot()

    def restore(self, snapshot: Mapping[str, Any], rngs: Sequence[np.random.Generator]) -> None:
        """Put back a snapshot of either path (see :meth:`BatchedDynamics.restore`) and mirror it to the device."""
        self.host.restore(snapshot, rngs)
        self.mirror_params(None)
        self.mirror_state()


class TorchCartPole(TorchDynamics):
    """:class:`~syre_rl.nonstationary.batched.dynamics.BatchedCartPole` on a torch device (state ``(4, n_envs)``,
    float64)."""

    HOST = BatchedCartPole
    STATE = ("state",)

    def __init__(self, host: BatchedDynamics, device: torch.device) -> None:
        super().__init__(host, device)
        assert isinstance(host, BatchedCartPole)
        self.cartpole = host
        self.state = torch.zeros((4, self.n_envs), dtype=torch.float64, device=device)
        self.mirror_state()

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
        obs = self.cartpole.reset_envs(indices, rngs)
        self.state[:, rows(indices, self.device)] = torch.as_tensor(self.cartpole.state[:, indices], device=self.device)
        return torch.as_tensor(obs, device=self.device)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p, host = self.params, self.cartpole
        x, x_dot, theta, theta_dot = self.state
        force = torch.where(actions.reshape(-1) == 1, p["force_mag"], -p["force_mag"])
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        temp = (force + p["polemass_length"] * torch.square(theta_dot) * sintheta) / p["total_mass"]
        thetaacc = (p["gravity"] * sintheta - costheta * temp) / (
            p["length"] * (4.0 / 3.0 - p["masspole"] * torch.square(costheta) / p["total_mass"])
        )
        xacc = temp - p["polemass_length"] * thetaacc * costheta / p["total_mass"]
        tau = host.tau
        if host.euler:
            x = x + tau * x_dot
            x_dot = x_dot + tau * xacc
            theta = theta + tau * theta_dot
            theta_dot = theta_dot + tau * thetaacc
        else:
            x_dot = x_dot + tau * xacc
            x = x + tau * x_dot
            theta_dot = theta_dot + tau * thetaacc
            theta = theta + tau * theta_dot
        self.state = torch.stack((x, x_dot, theta, theta_dot))
        terminated = (torch.abs(x) > host.x_threshold) | (torch.abs(theta) > host.theta_threshold)
        if host.sutton_barto_reward:
            reward = -terminated.to(torch.float64)
        else:
            reward = torch.ones(self.n_envs, dtype=torch.float64, device=self.device)
        return self.state.T.to(torch.float32), reward, terminated


class TorchPendulum(TorchDynamics):
    """:class:`~syre_rl.nonstationary.batched.dynamics.BatchedPendulum` on a torch device (state ``(2, n_envs)``,
    float64; the torque term is computed in the action's dtype, as the single env does)."""

    HOST = BatchedPendulum
    STATE = ("state",)

    def __init__(self, host: BatchedDynamics, device: torch.device) -> None:
        super().__init__(host, device)
        assert isinstance(host, BatchedPendulum)
        self.pendulum = host
        self.state = torch.zeros((2, self.n_envs), dtype=torch.float64, device=device)
        self.mirror_state()

    @staticmethod
    def _obs(state: torch.Tensor) -> torch.Tensor:
        theta, theta_dot = state
        return torch.stack((torch.cos(theta), torch.sin(theta), theta_dot), dim=1).to(torch.float32)

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
        obs = self.pendulum.reset_envs(indices, rngs)
        self.state[:, rows(indices, self.device)] = torch.as_tensor(self.pendulum.state[:, indices], device=self.device)
        return torch.as_tensor(obs, device=self.device)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p, host = self.params, self.pendulum
        th, thdot = self.state
        u = torch.clamp(actions.reshape(self.n_envs, -1), -host.max_torque, host.max_torque)[:, 0]
        # angle_normalize of gymnasium's Pendulum: ((x + pi) % (2 pi)) - pi, with a floored modulo as numpy's
        costs = torch.square(torch.remainder(th + np.pi, 2 * np.pi) - np.pi) + 0.1 * thdot**2 + 0.001 * (u**2)
        torque_gain = (3.0 / (p["m"] * p["l"] ** 2)).to(u.dtype)
        newthdot = thdot + (3 * p["g"] / (2 * p["l"]) * torch.sin(th) + torque_gain * u) * host.dt
        newthdot = torch.clamp(newthdot, -host.max_speed, host.max_speed)
        self.state = torch.stack((th + newthdot * host.dt, newthdot))
        rewards = -costs.to(torch.float64)
        return self._obs(self.state), rewards, torch.zeros(self.n_envs, dtype=torch.bool, device=self.device)


class TorchContextualBandit(TorchDynamics):
    """:class:`~syre_rl.nonstationary.batched.dynamics.BatchedContextualBandit` on a torch device: the host draws
    which input each sub-env shows (its batched PCG64 draws); the inputs table, the labels and the index of the input
    shown live on the device. The step info (``input_index``, ``correct_action``, ``is_correct``) is on the device."""

    HOST = BatchedContextualBandit

    def __init__(self, host: BatchedDynamics, device: torch.device) -> None:
        super().__init__(host, device)
        assert isinstance(host, BatchedContextualBandit)
        self.bandit = host
        self.inputs = torch.as_tensor(host.inputs, device=device)
        self._rows = torch.arange(self.n_envs, device=device)
        self.index = torch.zeros(self.n_envs, dtype=torch.int64, device=device)
        self._info: dict[str, torch.Tensor] = {}
        self.mirror_state()

    def mirror_state(self) -> None:
        self.index = torch.as_tensor(self.bandit.index, device=self.device).clone()

    def sync_host(self) -> None:
        """Nothing to copy: the host draws (and so holds) the inputs shown."""

    def reset_envs(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
        self.bandit.reset_envs(indices, rngs)
        if len(indices) == self.n_envs:
            self.index = torch.as_tensor(self.bandit.index, device=self.device)
            return self.inputs[self.index]
        idx = rows(indices, self.device)
        self.index[idx] = torch.as_tensor(self.bandit.index[indices], device=self.device)
        return self.inputs[self.index[idx]]

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        label = self.params["labels"][self._rows, self.index]
        correct = actions.reshape(-1).to(torch.int64) == label
        self._info = {"input_index": self.index.clone(), "correct_action": label, "is_correct": correct}
        done = torch.ones(self.n_envs, dtype=torch.bool, device=self.device)
        return self.inputs[self.index], correct.to(torch.float64), done

    def step_info(self) -> dict[str, torch.Tensor]:
        return self._info


#: numpy batched dynamics class -> its torch twin
TORCH_DYNAMICS: dict[type[BatchedDynamics], type[TorchDynamics]] = {
    cls.HOST: cls for cls in (TorchCartPole, TorchPendulum, TorchContextualBandit)
}


def make_torch_dynamics(host: BatchedDynamics, device: torch.device) -> TorchDynamics:
    """The torch twin of the numpy dynamics ``host`` on ``device``.

    :raises ValueError: ``host``'s class has no torch twin (the message lists those that have one).
    """
    cls = TORCH_DYNAMICS.get(type(host))
    if cls is None:
        known = sorted(c.__name__ for c in TORCH_DYNAMICS)
        raise ValueError(f"{type(host).__name__} has no torch version; batched dynamics with one: {known}")
    return cls(host, device)
