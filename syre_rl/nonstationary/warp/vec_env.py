"""The Stable-Baselines3 face of the MuJoCo Warp env: a
:class:`~syre_rl.nonstationary.batched.vec_env.BatchedVecEnv` (numpy observations, float32 rewards, dones, one info
dict per sub-env with ``task_id``, ``task``, ``task_switch`` and, at an episode end, ``terminal_observation``,
``TimeLimit.truncated`` and ``episode``; same-step autoreset as SB3's ``DummyVecEnv``; ``get_state``/``set_state``)
around a :class:`~syre_rl.nonstationary.warp.env.WarpTaskEnv`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syre_rl.nonstationary.batched.vec_env import BatchedVecEnv
from syre_rl.nonstationary.warp.env import make_warp_env


def make_warp_vec_env(
    recipe: Mapping[str, Any], seed: int, n_envs: int | None = None, device: str | None = None
) -> BatchedVecEnv:
    """The SB3 ``VecEnv`` of a scenario on MuJoCo Warp.

    :param recipe: a scenario recipe dict (base env and family with a Warp version).
    :param seed: run seed (non-negative int).
    :param n_envs: number of sub-envs; defaults to the recipe's ``n_envs``.
    :param device: Warp device (default None: Warp's default, the first CUDA device when there is one).
    :raises ImportError: MuJoCo Warp is not installed (the message names the extra to install).
    :raises ValueError: as :func:`~syre_rl.nonstationary.warp.env.make_warp_env`.
    """
    return BatchedVecEnv(make_warp_env(recipe, seed, n_envs, device=device))
