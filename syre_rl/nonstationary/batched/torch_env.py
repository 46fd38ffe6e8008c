"""TorchBatchedTaskEnv: the batched env with its physics and per-step transforms in torch, on any torch device.

It is a :class:`~syre_rl.nonstationary.batched.env.BatchedTaskEnv` whose dynamics and family have device twins
(:mod:`~syre_rl.nonstationary.batched.torch_dynamics`, :mod:`~syre_rl.nonstationary.batched.torch_families`). What
decides *when* things happen stays on the host, shared with the numpy path: the task clocks (task sequence,
schedules, switch steps), the sub-envs' numpy generators (initial states and bandit inputs are drawn there, then moved
to the device), episode counters and returns. So for a scenario seed the task sequence and switch steps are those of
the numpy path, and on ``cpu`` the observations and rewards equal the numpy path's to within float64 rounding (the
physics state is float64 on every device; observations are float32 as on the numpy path).

Per step the device's terminations and rewards come to the host (resets are decided and drawn there); observations
stay on the device. :meth:`TorchBatchedTaskEnv.step_tensors` and :meth:`TorchBatchedTaskEnv.observations_tensor`
give the device tensors; the gymnasium and SB3 faces (``step``, ``advance``, ``reset``) convert to numpy at the
boundary, since SB3's rollout buffer holds numpy arrays. States (:meth:`~BatchedTaskEnv.get_state`) are in the numpy
path's format, so a state of either path restores into the other.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from syre_rl.nonstationary.batched.env import BatchedStep, BatchedTaskEnv
from syre_rl.nonstationary.batched.torch_dynamics import make_torch_dynamics, rows
from syre_rl.nonstationary.batched.torch_families import make_torch_family
from syre_rl.nonstationary.families import Task, TaskFamily
from syre_rl.nonstationary.scenarios import check_env_device
from syre_rl.nonstationary.schedules import Schedule


def resolve_env_device(name: str) -> torch.device:
    """The torch device an ``env_device`` names: ``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (``cuda`` where torch
    sees a CUDA device, else ``cpu``).

    :param name: a value of :data:`~syre_rl.nonstationary.scenarios.ENV_DEVICES` other than ``numpy``.
    :raises ValueError: ``numpy`` or an unknown name, or a CUDA device (or index) that this machine does not have.
    """
    check_env_device(name, "TorchBatchedTaskEnv")
    if name == "numpy":
        raise ValueError("TorchBatchedTaskEnv: env_device 'numpy' is the numpy path (BatchedTaskEnv), not a device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind, _, index = name.partition(":")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"env_device {name!r}: this machine has no CUDA device; use env_device cpu or numpy")
        if index and int(index) >= count:
            raise ValueError(
                f"env_device {name!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
            )
    return torch.device(name)


@dataclass
class TorchStep:
    """One vector step with the per-sub-env values on the env's device and the episode bookkeeping on the host (the
    device form of :class:`~syre_rl.nonstationary.batched.env.BatchedStep`, same meanings).

    :param obs: observations after the step (new episodes' first ones for reset sub-envs), float32, on the device.
    :param rewards: float64 rewards, on the device.
    :param terminated: episode ended by the env (bool), on the device.
    :param truncated: episode ended by the time limit and not terminated (bool), on the device.
    :param final_obs: last observations of the ended episodes, one row per entry of ``done``, on the device.
    :param done: indices of the sub-envs whose episode ended (host int64).
    :param task_ids: task of each sub-env during the step (host).
    :param task_switch: the step was the first of its sub-env's task (host).
    :param episode_returns: returns of the ended episodes (host float64).
    :param episode_lengths: lengths of the ended episodes (host).
    :param episode_time: seconds since the env was made, when the step ended.
    :param extras: the base env's own step info, per sub-env, on the device.
    """

    obs: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_obs: torch.Tensor
    done: np.ndarray
    task_ids: np.ndarray
    task_switch: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    episode_time: float
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


class TorchBatchedTaskEnv(BatchedTaskEnv):
    """A :class:`~syre_rl.nonstationary.batched.env.BatchedTaskEnv` stepped in torch on ``device`` (same arguments,
    same semantics, same state format; see the module docstring). ``dynamics`` and ``batched_family`` are the numpy
    hosts (parameters, draws); ``device_dynamics`` and ``device_family`` are their device twins.

    :param env_id: gymnasium id of the stationary env (its time limit applies).
    :param family: a task family or its spec dict.
    :param schedule: a schedule or its spec dict.
    :param n_envs: number of sub-envs (>= 1).
    :param seed: seed of the task sequence (default 0); also the default reset seeds.
    :param env_kwargs: keyword arguments of ``gym.make(env_id)`` (default none).
    :param reset_seeds: seed of each sub-env's own generator (default ``env_seed(seed, rank)``).
    :param tasks: replay these task dicts instead of drawing tasks.
    :param device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (default: ``cuda`` where available, else ``cpu``).
    :raises ValueError: as ``BatchedTaskEnv``, or a device this machine does not have.
    """

    def __init__(
        self,
        env_id: str,
        family: TaskFamily | Mapping[str, Any],
        schedule: Schedule | Mapping[str, Any],
        n_envs: int,
        seed: int = 0,
        env_kwargs: Mapping[str, Any] | None = None,
        reset_seeds: Sequence[int] | None = None,
        tasks: Sequence[Mapping[str, Any]] | None = None,
        device: str = "auto",
    ) -> None:
        self.device = resolve_env_device(device)
        super().__init__(env_id, family, schedule, n_envs, seed, env_kwargs, reset_seeds, tasks)
        # The base constructor drew the first episodes on the host.
        self.device_dynamics.mirror_state()
        self._obs_t = torch.as_tensor(self._obs, device=self.device)

    # ---------------------------------------------------------------------------------------------------------------
    # the engine on the device
    # ---------------------------------------------------------------------------------------------------------------
    def _build_engine(self, template: gym.Env, n_envs: int) -> None:
        super()._build_engine(template, n_envs)
        self.device_dynamics = make_torch_dynamics(self.dynamics, self.device)
        self.device_family = make_torch_family(self.batched_family, self.device_dynamics)

    def _activate(self, indices: np.ndarray, task: Task) -> None:
        self.device_family.activate(indices, task)

    def _reset_rows(self, indices: np.ndarray, seeds: Sequence[int | None] | None = None) -> torch.Tensor:
        """:meth:`reset_envs` on the device: the first observations of sub-envs ``indices``, as a tensor."""
        self._start_episodes(indices, seeds)
        obs = self.device_dynamics.reset_envs(indices, self._rngs)
        if self.device_family.transforms_observation:
            every = len(indices) == self.num_envs  # indices are sorted: every sub-env in order
            obs = self.device_family.observation(obs, None if every else rows(indices, self.device))
        return obs

    def reset_envs(self, indices: np.ndarray, seeds: Sequence[int | None] | None = None) -> np.ndarray:
        return self._reset_rows(indices, seeds).cpu().numpy()

    def reset_all(self, seeds: Sequence[int | None] | None = None) -> np.ndarray:
        self._obs_t = self._reset_rows(self._all, seeds)
        return self._obs_t.cpu().numpy()

    def _as_device_actions(self, actions: torch.Tensor | np.ndarray) -> torch.Tensor:
        if isinstance(actions, torch.Tensor):
            return actions.to(self.device)
        return torch.as_tensor(np.asarray(actions), device=self.device)

    def _advance(self, actions: torch.Tensor | np.ndarray) -> tuple[TorchStep, np.ndarray, np.ndarray, np.ndarray]:
        """One step on the device; also returns the host copies of the rewards, terminations and truncations."""
        clocks = self.clocks
        clocks.before_step()
        device_actions = self._as_device_actions(actions)
        if self.device_family.transforms_action:
            device_actions = self.device_family.action(device_actions)
        obs, rewards, terminated = self.device_dynamics.step(device_actions)
        extras = self.device_dynamics.step_info()
        rewards_host, terminated_host = rewards.cpu().numpy(), terminated.cpu().numpy()
        self._elapsed += 1
        if self.max_episode_steps is not None:
            truncated_host = (self._elapsed >= self.max_episode_steps) & ~terminated_host
            ended = terminated_host | truncated_host
        else:
            truncated_host, ended = np.zeros(self.num_envs, dtype=bool), terminated_host
        clocks.after_step(ended)
        if self.device_family.transforms_observation:
            obs = self.device_family.observation(obs)
        task_ids = clocks.task_index.copy()
        task_switch = clocks.report_switch.copy()
        clocks.report_switch[:] = False
        self._returns += rewards_host
        self._lengths += 1
        done = np.flatnonzero(ended)
        done_rows = rows(done, self.device)
        final_obs = obs[done_rows]
        returns, lengths = self._returns[done], self._lengths[done]
        if len(done):
            obs[done_rows] = self._reset_rows(done)
        self._obs_t = obs
        step = TorchStep(
            obs,
            rewards,
            terminated,
            torch.as_tensor(truncated_host, device=self.device),
            final_obs,
            done,
            task_ids,
            task_switch,
            returns,
            lengths,
            time.time() - self._t_start,
            extras,
        )
        return step, rewards_host, terminated_host, truncated_host

    def step_tensors(self, actions: torch.Tensor | np.ndarray) -> TorchStep:
        """Step every sub-env once (resetting those whose episode ended) and keep the results on the device; the same
        step as :meth:`advance`, for code that consumes tensors directly.

        :param actions: one action per sub-env, a tensor (on any device) or an array.
        """
        return self._advance(actions)[0]

    def advance(self, actions: np.ndarray) -> BatchedStep:
        """:meth:`step_tensors` with the results as numpy arrays (the gymnasium and SB3 faces use this)."""
        step, rewards, terminated, truncated = self._advance(actions)
        return BatchedStep(
            step.obs.cpu().numpy(),
            rewards,
            terminated,
            truncated,
            step.task_ids,
            step.task_switch,
            step.done,
            step.final_obs.cpu().numpy(),
            step.episode_returns,
            step.episode_lengths,
            step.episode_time,
            {key: value.cpu().numpy() for key, value in step.extras.items()},
        )

    def observations_tensor(self) -> torch.Tensor:
        """The latest observations (after the latest ``reset`` or step), on the device: the env's own tensor, so
        clone it before changing it."""
        return self._obs_t

    # ---------------------------------------------------------------------------------------------------------------
    # complete state: the numpy path's format
    # ---------------------------------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        self._obs = self._obs_t.cpu().numpy().copy()
        self.device_dynamics.sync_host()  # the base reads the host's physics state
        return super().get_state()

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`get_state` of an env made with the same arguments, on this path or the numpy path.

        :raises ValueError: as :meth:`BatchedTaskEnv.set_state`.
        """
        super().set_state(state)
        self.device_dynamics.mirror_params(None)
        self.device_dynamics.mirror_state()
        self.device_family.mirror(None)
        self._obs_t = torch.as_tensor(self._obs, device=self.device).clone()

    def __repr__(self) -> str:
        return f"TorchBatchedTaskEnv({self.env_id!r}, n_envs={self.num_envs}, device={str(self.device)!r})"
