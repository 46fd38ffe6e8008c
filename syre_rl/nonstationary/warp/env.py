"""WarpTaskEnv: the batched env of :mod:`syre_rl.nonstationary.batched` with MuJoCo Warp physics.

Everything but the physics is :class:`~syre_rl.nonstationary.batched.env.BatchedTaskEnv`'s: the task sequence and
clocks (switches counted in global steps, per sub-env with episode alignment), same-step autoreset, episode
statistics, the gymnasium ``VectorEnv`` API and the complete state for an exact resume (``get_state`` and
``set_state``; the Warp worlds' physics state and per-world parameters are part of it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym

from syre_rl.nonstationary.batched.env import BatchedTaskEnv
from syre_rl.nonstationary.families import TaskFamily
from syre_rl.nonstationary.schedules import Schedule
from syre_rl.nonstationary.warp.support import require_mujoco_warp, warp_support


class WarpTaskEnv(BatchedTaskEnv):
    """``n_envs`` task-switching sub-envs of a MuJoCo env, one MuJoCo Warp world each: the same task sequence,
    switch steps, initial states (from the same reset seeds) and infos as ``n_envs`` envs of
    ``TaskSwitchingWrapper(gym.make(env_id), family, schedule, seed, n_envs)`` seeded ``env_seed(seed, rank)``, with
    Warp's float32 physics in place of MuJoCo's (see :mod:`syre_rl.nonstationary.warp.ant`).

    Base envs: ``Ant-v5`` (and ids registered with its entry point); families: ``mujoco_physics``
    (:func:`~syre_rl.nonstationary.warp.support.warp_support`). For SB3 wrap it in
    :class:`~syre_rl.nonstationary.batched.vec_env.BatchedVecEnv`
    (:func:`~syre_rl.nonstationary.warp.vec_env.make_warp_vec_env`).

    :param env_id: gymnasium id of the stationary env (its time limit applies; ``env_kwargs`` reach its constants).
    :param family: a task family or its spec dict (copied).
    :param schedule: a schedule or its spec dict.
    :param n_envs: number of sub-envs (>= 1).
    :param seed: seed of the task sequence (default 0); also the default reset seeds.
    :param env_kwargs: keyword arguments of ``gym.make(env_id)`` (default none).
    :param reset_seeds: seed of each sub-env's own generator (default ``env_seed(seed, rank)``).
    :param tasks: replay these task dicts instead of drawing tasks.
    :param device: Warp device (default None: Warp's default, the first CUDA device when there is one).
    :param graph: replay each env step's physics as a captured CUDA graph (default None: on CUDA devices).
    :raises ImportError: MuJoCo Warp is not installed (the message names the extra to install).
    :raises ValueError: a base env or family without a Warp version, or bad arguments.
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
        device: str | None = None,
        graph: bool | None = None,
    ) -> None:
        require_mujoco_warp()
        self._warp_device, self._warp_graph = device, graph
        super().__init__(env_id, family, schedule, n_envs, seed, env_kwargs, reset_seeds, tasks)

    def _build_engine(self, template: gym.Env, n_envs: int) -> None:
        """The Warp worlds of ``template`` (an Ant) and the family that sets their parameters."""
        from syre_rl.nonstationary.warp.ant import WarpAnt
        from syre_rl.nonstationary.warp.families import WarpMujocoPhysics

        why_not = warp_support(template.spec.id if template.spec else "", self.family)
        if why_not:
            raise ValueError(f"WarpTaskEnv: {why_not}")
        self.dynamics = WarpAnt(template.unwrapped, n_envs, device=self._warp_device, graph=self._warp_graph)
        self.batched_family = WarpMujocoPhysics(self.family, self.dynamics)

    @property
    def device(self) -> str:
        """The Warp device the worlds live on."""
        return str(self.dynamics.device)  # type: ignore[attr-defined]  # a WarpAnt


def make_warp_env(
    recipe: Mapping[str, Any], seed: int, n_envs: int | None = None, device: str | None = None
) -> WarpTaskEnv:
    """The MuJoCo Warp env of a scenario recipe (any recipe whose base env and family have a Warp version, whatever
    its ``backend``).

    :param recipe: a recipe dict, checked with :func:`~syre_rl.nonstationary.scenarios.validate_recipe`.
    :param seed: run seed (non-negative int).
    :param n_envs: number of sub-envs; defaults to the recipe's ``n_envs``.
    :param device: Warp device (default None: Warp's default).
    :raises ImportError: MuJoCo Warp is not installed.
    :raises ValueError: bad recipe, or a base env or family without a Warp version.
    """
    return WarpTaskEnv.from_recipe(recipe, seed, n_envs, device=device)
