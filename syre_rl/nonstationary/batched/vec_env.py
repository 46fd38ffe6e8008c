"""BatchedVecEnv: a :class:`~syre_rl.nonstationary.batched.env.BatchedTaskEnv` as a Stable-Baselines3 ``VecEnv``, so
``PPO``/``SyrePPO`` train on it unchanged.

Per step it returns what SB3's ``DummyVecEnv`` of ``Monitor(TaskSwitchingWrapper(...))`` sub-envs returns: the
observations (new episodes' first ones after an episode end), float32 rewards, dones, and one info dict per sub-env
with ``task_id``, ``task``, ``task_switch``, the base env's own step info, and for an ended episode
``terminal_observation``, ``TimeLimit.truncated`` and ``episode = {"r", "l", "t"}`` (as SB3's ``Monitor``; so no
``VecMonitor`` is needed). ``get_attr``, ``set_attr`` and ``env_method`` reach per-sub-env
:class:`~syre_rl.nonstationary.batched.env.SubEnv` objects, e.g. ``env_method("get_task_state")``.

On a torch device (a :class:`~syre_rl.nonstationary.batched.torch_env.TorchBatchedTaskEnv`, recipe key
``env_device``) the observations stay on the device between steps and this face converts them to numpy when SB3
asks, since SB3's rollout buffer holds numpy arrays; ``vec_env.env.observations_tensor()`` gives the device tensor.

This is the one module of :mod:`syre_rl.nonstationary` that imports SB3; the package imports it only when
``BatchedVecEnv`` or ``make_batched_vec_env`` is first used, so the environments alone still need gymnasium and
numpy only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices

from syre_rl.nonstationary.batched.devices import make_batched_env
from syre_rl.nonstationary.batched.env import BatchedStep, BatchedTaskEnv
from syre_rl.nonstationary.scenarios import env_seed

#: version of the dicts of :meth:`BatchedVecEnv.get_state`
VEC_STATE_VERSION = 1


class BatchedVecEnv(VecEnv):
    """SB3 ``VecEnv`` of a batched env.

    ``seed(s)`` gives sub-env ``r`` the reset seed ``env_seed(s, r)``, as syre_rl's ``ScenarioVecEnv`` does, used at
    the next ``reset()``. :meth:`get_state` and :meth:`set_state` capture and restore the complete state (an exact
    resume), beyond the task state that ``env_method("get_task_state")`` gives per sub-env.

    :param env: the batched env.
    """

    def __init__(self, env: BatchedTaskEnv) -> None:
        self.env = env
        self._assigned_reset_infos: list[dict[str, Any]] | None = None
        self._actions: np.ndarray | None = None
        self._reset_task_ids = env.task_ids
        self._reset_switch = env.clocks.report_switch.copy()
        self._reset_rows = np.arange(env.num_envs)
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)

    # ---------------------------------------------------------------------------------------------------------------
    # stepping
    # ---------------------------------------------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        """Reset every sub-env (with the seeds of :meth:`seed`, once); return the observations."""
        if any(self._options):
            raise ValueError(f"BatchedVecEnv: reset options are not supported, got {self._options}")
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        obs = self.env.reset_all(seeds)
        self._reset_seeds()
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
        self._assigned_reset_infos = None
        self._reset_rows = indices
        self._reset_task_ids = self.env.clocks.task_index.copy()
        self._reset_switch = self.env.clocks.report_switch.copy()

    @property  # type: ignore[override]  # SB3 declares a plain attribute; here it is built when read
    def reset_infos(self) -> list[dict[str, Any]]:
        """Infos of the latest resets (the task each sub-env's new episode starts in); ``{}`` for the others."""
        if self._assigned_reset_infos is not None:
            return self._assigned_reset_infos
        out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in self._reset_rows.tolist():
            t = int(self._reset_task_ids[i])
            out[i] = {
                "task_id": t,
                "task": dict(self.env.task_description(t)),
                "task_switch": bool(self._reset_switch[i]),
            }
        return out

    @reset_infos.setter
    def reset_infos(self, infos: list[dict[str, Any]]) -> None:
        # SB3's VecEnv.__init__ assigns empty infos; assigned infos hold until the next reset.
        self._assigned_reset_infos = list(infos)

    def close(self) -> None:
        self.env.close()

    # ---------------------------------------------------------------------------------------------------------------
    # sub-env access, seeding
    # ---------------------------------------------------------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """``attr_name`` of each sub-env (:class:`~syre_rl.nonstationary.batched.env.SubEnv`)."""
        return [getattr(self.env.sub_envs[i], attr_name) for i in self._get_indices(indices)]

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

    # ---------------------------------------------------------------------------------------------------------------
    # complete state (exact resume)
    # ---------------------------------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The complete state as a picklable dict of copies: the batched env's (see
        :meth:`BatchedTaskEnv.get_state`: per-sub-env generators, physics, episodes in progress and their counters,
        task clocks, episode statistics) and this face's (reset seeds and options not yet used, the latest resets'
        infos, actions passed to ``step_async`` and not yet stepped). A ``BatchedVecEnv`` made with the same
        arguments continues from it, after :meth:`set_state`, with identical observations, rewards, dones and infos
        for the same actions (``info["episode"]["t"]`` continues from the same episode clock)."""
        return {
            "kind": type(self).__name__,
            "version": VEC_STATE_VERSION,
            "env": self.env.get_state(),
            "seeds": list(self._seeds),
            "options": copy.deepcopy(self._options),
            "actions": None if self._actions is None else np.array(self._actions, copy=True),
            "reset_rows": self._reset_rows.copy(),
            "reset_task_ids": self._reset_task_ids.copy(),
            "reset_switch": self._reset_switch.copy(),
            "assigned_reset_infos": copy.deepcopy(self._assigned_reset_infos),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`get_state` of a ``BatchedVecEnv`` made with the same arguments.

        :raises ValueError: a state of another version, scenario, number of sub-envs or seed.
        """
        if not isinstance(state, Mapping) or (state.get("kind"), state.get("version")) != (
            type(self).__name__,
            VEC_STATE_VERSION,
        ):
            raise ValueError(f"set_state: expected a dict from BatchedVecEnv.get_state (version {VEC_STATE_VERSION})")
        self.env.set_state(state["env"])
        self._seeds = list(state["seeds"])
        self._options = copy.deepcopy(list(state["options"]))
        self._actions = None if state["actions"] is None else np.array(state["actions"], copy=True)
        self._reset_rows = np.array(state["reset_rows"], copy=True)
        self._reset_task_ids = np.array(state["reset_task_ids"], copy=True)
        self._reset_switch = np.array(state["reset_switch"], copy=True)
        self._assigned_reset_infos = copy.deepcopy(state["assigned_reset_infos"])

    def get_images(self) -> Sequence[np.ndarray | None]:
        raise NotImplementedError("BatchedVecEnv does not render")

    def render(self, mode: str | None = None) -> np.ndarray | None:
        """Batched envs do not render; returns None."""
        return None

    def __repr__(self) -> str:
        return f"BatchedVecEnv({self.env.env_id!r}, n_envs={self.num_envs})"


def make_batched_vec_env(recipe: Mapping[str, Any], seed: int, n_envs: int | None = None) -> BatchedVecEnv:
    """The SB3 face of a scenario's batched env: the batched counterpart of syre_rl's ``ScenarioVecEnv`` of
    ``Monitor``-wrapped :func:`~syre_rl.nonstationary.scenarios.make_scenario_env` sub-envs.

    :param recipe: a scenario recipe dict.
    :param seed: run seed (non-negative int).
    :param n_envs: number of sub-envs; defaults to the recipe's ``n_envs``.
    :raises ValueError: as :func:`~syre_rl.nonstationary.batched.devices.make_batched_env` (the recipe's
        ``env_device`` chooses numpy or a torch device).
    """
    return BatchedVecEnv(make_batched_env(recipe, seed, n_envs))
