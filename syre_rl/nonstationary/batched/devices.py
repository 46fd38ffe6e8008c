"""A scenario's batched env on the arrays its recipe's ``env_device`` names: numpy
(:class:`~syre_rl.nonstationary.batched.env.BatchedTaskEnv`, the default) or torch on a device
(:class:`~syre_rl.nonstationary.batched.torch_env.TorchBatchedTaskEnv`, whose module is imported only then, so the
numpy path needs no torch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from syre_rl.nonstationary.batched.env import BatchedTaskEnv
from syre_rl.nonstationary.scenarios import check_env_device, validate_recipe


def make_batched_env(
    recipe: Mapping[str, Any], seed: int, n_envs: int | None = None, env_device: str | None = None
) -> BatchedTaskEnv:
    """The batched env of a scenario recipe, equivalent to ``n_envs`` envs of
    :func:`~syre_rl.nonstationary.scenarios.make_scenario_env` with the same ``seed``, on the numpy path or on a
    torch device.

    :param recipe: a recipe dict, checked with :func:`~syre_rl.nonstationary.scenarios.validate_recipe`.
    :param seed: run seed (non-negative int).
    :param n_envs: number of sub-envs; defaults to the recipe's ``n_envs``.
    :param env_device: one of :data:`~syre_rl.nonstationary.scenarios.ENV_DEVICES`; defaults to the recipe's
        ``env_device``, and to ``numpy`` where the recipe has none.
    :raises ValueError: bad recipe or device, ``n_envs < 1``, a base env or family without a batched version, or a
        CUDA device this machine does not have.
    """
    recipe = validate_recipe(recipe)
    device = check_env_device(recipe.get("env_device", "numpy") if env_device is None else env_device)
    if device == "numpy":
        return BatchedTaskEnv.from_recipe({**recipe, "env_device": "numpy"}, seed, n_envs)
    from syre_rl.nonstationary.batched.torch_env import TorchBatchedTaskEnv

    return TorchBatchedTaskEnv.from_recipe(recipe, seed, n_envs, device=device)
