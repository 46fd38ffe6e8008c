"""BatchedVecEnv: a :class:`~syre_rl.nonstationary.batched.env.BatchedTaskEnv` with Stable-Baselines3's ``VecEnv``
interface, so ``PPO``/``SyrePPO`` train on it unchanged.

Per step it returns what SB3's ``DummyVecEnv`` of ``Monitor(TaskSwitchingWrapper(...))`` sub-envs returns: the
observations (new episodes' first ones after an episode end), float32 rewards, dones, and one info dict per sub-env
with ``task_id``, ``task``, ``task_switch``, the base env's own step info, and for an ended episode
``terminal_observation``, ``TimeLimit.truncated`` and ``episode = {"r", "l", "t"}`` (as SB3's ``Monitor``; so no
``VecMonitor`` is needed). ``get_attr``, ``set_attr`` and ``env_method`` reach per-sub-env
:class:`~syre_rl.nonstationary.batched.env.SubEnv` objects, e.g. ``env_method("get_task_state")``.

This module does not import SB3 (the environment package needs gymnasium and numpy only): SB3 recognises the class
once it is registered as a virtual subclass of its ``VecEnv``, which the code that hands it to SB3 does::

    from stable_baselines3.common.vec_env import VecEnv
    VecEnv.register(BatchedVecEnv)
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from syre_rl.nonstationary.batched.env import BatchedStep, BatchedTaskEnv, make_batched_env
from syre_rl.nonstationary.scenarios import env_seed

VecEnvIndices = None | int | Iterable[int]


class BatchedVecEnv:
    """SB3 ``VecEnv`` face of a batched env (register it with ``VecEnv.register(BatchedVecEnv)`` before use).

    ``seed(s)`` gives sub-env ``r`` the reset seed ``env_seed(s, r)``, as syre_rl's ``ScenarioVecEnv`` does, used at
    the next ``reset()``.

    :param env: the batched env.
    """

    def __init__(self, env: BatchedTaskEnv) -> None:
        self.env = env
        self.num_envs: int = env.num_envs
        self.observation_space: spaces.Space = env.single_observation_space
        self.action_space: spaces.Space = env.single_action_space
        self.render_mode: str | None = None
        self.metadata: dict[str, Any] = {"render_modes": []}
        self._seeds: list[int | None] = [None] * self.num_envs
        self._options: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self._actions: np.ndarray | None = None
        self._reset_task_ids = env.task_ids
        self._reset_switch = env.clocks.report_switch.copy()
        self._reset_rows = np.arange(self.num_envs)

    # ---------------------------------------------------------------------------------------------------------------
    # stepping
    # ---------------------------------------------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        """Reset every sub-env (with the seeds of :meth:`seed`, once); return the observations."""
        if any(self._options):
            raise ValueError(f"BatchedVecEnv: reset options are not supported, got {self._options}")
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        obs = self.env.reset_all(seeds)
        self._seeds = [None] * self.num_envs
        self._remember_resets(np.arange(self.num_envs))
        return obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        assert self._actions is not None, "step_async must come before step_wait"
        out = self.env.advance(np.asarray(self._actions))
        self._actions = None
        dones = out.terminated | out.truncated
        infos = self._infos(out)
        if len(out.done):
            self._remember_resets(out.done)
        return out.obs, out.rewards.astype(np.float32), dones, infos

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """``step_async`` then ``step_wait``."""
        self.step_async(actions)
        return self.step_wait()

    def _infos(self, out: BatchedStep) -> list[dict[str, Any]]:
        task_ids = out.task_ids.tolist()
        tasks = {t: self.env.task_description(t) for t in set(task_ids)}
        infos = [
            {"task_id": t, "task": tasks[t].copy(), "task_switch": s}
            for t, s in zip(task_ids, out.task_switch.tolist(), strict=True)
        ]
        if out.extras:
            keys = list(out.extras)
            for info, *values in zip(infos, *(v.tolist() for v in out.extras.values()), strict=True):
                info.update(zip(keys, values))
        if len(out.done):
            t = round(out.episode_time, 6)
            returns = np.round(out.episode_returns, 6).tolist()
            truncated = out.truncated[out.done].tolist()
            for i, obs, r, n, cut in zip(
                out.done.tolist(), out.final_obs, returns, out.episode_lengths.tolist(), truncated, strict=True
            ):
                info = infos[i]
                info["terminal_observation"] = obs
                info["TimeLimit.truncated"] = cut
                info["episode"] = {"r": r, "l": n, "t": t}
        return infos

    def _remember_resets(self, indices: np.ndarray) -> None:
        # reset_infos are built only when read: SB3's PPO never reads them.
        self._reset_rows = indices
        self._reset_task_ids = self.env.clocks.task_index.copy()
        self._reset_switch = self.env.clocks.report_switch.copy()

    @property
    def reset_infos(self) -> list[dict[str, Any]]:
        """Infos of the latest resets (the task each sub-env's new episode starts in); ``{}`` for the others."""
        out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in self._reset_rows.tolist():
            t = int(self._reset_task_ids[i])
            out[i] = {
                "task_id": t,
                "task": dict(self.env.task_description(t)),
                "task_switch": bool(self._reset_switch[i]),
            }
        return out

    def close(self) -> None:
        self.env.close()

    # ---------------------------------------------------------------------------------------------------------------
    # sub-env access, seeding
    # ---------------------------------------------------------------------------------------------------------------
    def _get_indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        return [int(i) for i in indices]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``attr_name`` of each sub-env (:class:`~syre_rl.nonstationary.batched.env.SubEnv`)."""
        return [getattr(self.env.sub_envs[i], attr_name) for i in self._get_indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        try:
            self.get_attr(attr_name, indices=[0])
        except AttributeError:
            return False
        return True

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Sub-envs of a batched env have no settable attributes; raises ``AttributeError``."""
        for i in self._get_indices(indices):
            setattr(self.env.sub_envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list:
        """Call ``method_name`` of each sub-env, e.g. ``get_task_state``, ``set_task_state``, ``force_switch``."""
        return [getattr(self.env.sub_envs[i], method_name)(*method_args, **kwargs) for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """Sub-envs are not gymnasium envs and carry no wrappers (episode statistics are built in)."""
        return [False for _ in self._get_indices(indices)]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Reset seeds ``env_seed(seed, rank)`` for the next ``reset()`` (a random base seed when None)."""
        if seed is None:
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))
        self._seeds = [env_seed(int(seed), rank) for rank in range(self.num_envs)]
        return self._seeds

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """Reset options are not supported by the batched envs: anything but empty options fails at ``reset()``."""
        if options is None:
            options = {}
        self._options = copy.deepcopy([options] * self.num_envs if isinstance(options, Mapping) else list(options))

    def get_images(self) -> Sequence[np.ndarray | None]:
        raise NotImplementedError("BatchedVecEnv does not render")

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """Batched envs do not render; returns None."""
        return None

    @property
    def unwrapped(self) -> BatchedVecEnv:
        return self

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        """As SB3's ``VecEnv.getattr_depth_check`` (used by VecEnv wrappers)."""
        if hasattr(self, name) and already_found:
            return f"{type(self).__module__}.{type(self).__name__}"
        return None

    def __repr__(self) -> str:
        return f"BatchedVecEnv({self.env.env_id!r}, n_envs={self.num_envs})"


def make_batched_vec_env(recipe: Mapping[str, Any], seed: int, n_envs: int | None = None) -> BatchedVecEnv:
    """The SB3 face of a scenario's batched env: the batched counterpart of syre_rl's ``ScenarioVecEnv`` of
    ``Monitor``-wrapped :func:`~syre_rl.nonstationary.scenarios.make_scenario_env` sub-envs.

    :param recipe: a scenario recipe dict.
    :param seed: run seed (non-negative int).
    :param n_envs: number of sub-envs; defaults to the recipe's ``n_envs``.
    :raises ValueError: as :func:`~syre_rl.nonstationary.batched.env.make_batched_env`.
    """
    return BatchedVecEnv(make_batched_env(recipe, seed, n_envs))
