"""From a resolved config to the objects of a run: the vector env (one batched env or wrapped scenario envs, as the
scenario recipe's ``backend`` says), the model, and the callbacks (plasticity logger and the agent's interventions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from syre_rl.experiments.classes import (
    build_hyperparameters,
    build_policy_kwargs,
    resolve_algorithm,
    resolve_policy,
)
from syre_rl.experiments.monitor import EpisodeMonitor
from syre_rl.nonstationary.batched.vec_env import make_batched_vec_env
from syre_rl.nonstationary.scenarios import env_seed, make_scenario_env, validate_recipe
from syre_rl.plasticity import PlasticityCallback
from syre_rl.run_layout import TB_DIR
from syre_rl.validation import check_int


def _make_one_env(scenario: Mapping[str, Any], seed: int, n_envs: int, rank: int) -> gym.Env:
    return EpisodeMonitor(make_scenario_env(dict(scenario), seed=seed, n_envs=n_envs, rank=rank))


class ScenarioVecEnv(DummyVecEnv):
    """DummyVecEnv whose ``seed(s)`` gives sub-env ``r`` the reset seed ``env_seed(s, r)`` instead of SB3's ``s + r``,
    so runs with neighbouring seeds do not share sub-env random streams."""

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        if seed is None:
            return super().seed(seed)
        self._seeds = [env_seed(int(seed), rank) for rank in range(self.num_envs)]
        return self._seeds


def make_vec_env(config: Mapping[str, Any]) -> VecEnv:
    """The run's vector env of ``config["n_envs"]`` sub-envs, on the path the scenario recipe's ``backend`` names:
    ``batched``, one :class:`~syre_rl.nonstationary.batched.vec_env.BatchedVecEnv` stepping every sub-env as arrays;
    ``wrapper``, a :class:`ScenarioVecEnv` of wrapped scenario envs, each in a Monitor. Both follow the same task
    sequence and seed their sub-envs alike (``env_seed(seed, rank)``); a recipe without ``backend`` gets the default
    of :func:`~syre_rl.nonstationary.scenarios.validate_recipe`.

    :param config: a resolved config (``scenario_recipe``, ``seed``, ``n_envs``).
    :raises ValueError: a bad recipe, ``n_envs < 1``, or a batched backend the scenario cannot use.
    """
    n_envs = check_int("n_envs", config["n_envs"], low=1)
    seed = check_int("seed", config["seed"])
    recipe = validate_recipe(config["scenario_recipe"])
    if recipe["backend"] == "batched":
        return make_batched_vec_env(recipe, seed, n_envs)
    if recipe["backend"] == "warp":
        # Imported here: the backend needs the optional extra gpu (the error names it when it is missing).
        from syre_rl.nonstationary.warp.support import warp_device
        from syre_rl.nonstationary.warp.vec_env import make_warp_vec_env

        return make_warp_vec_env(recipe, seed, n_envs, device=warp_device(config.get("device")))
    fns: list[Callable[[], gym.Env]] = [
        partial(_make_one_env, config["scenario_recipe"], seed, n_envs, rank) for rank in range(n_envs)
    ]
    return ScenarioVecEnv(fns)


def build_model(config: Mapping[str, Any], env: VecEnv, run_dir: str | Path | None = None) -> BaseAlgorithm:
    """The algorithm named by the config, on ``env``, logging TensorBoard to ``run_dir/tb`` when given (off-policy
    values written as plain YAML, a ``train_freq`` list or an ``action_noise`` mapping, become the objects SB3 takes:
    :func:`~syre_rl.experiments.classes.build_hyperparameters`)."""
    algorithm = resolve_algorithm(config["algorithm"])
    policy = config["policy"]
    if policy not in getattr(algorithm, "policy_aliases", {}):
        policy = resolve_policy(algorithm, policy)
    hyperparameters = build_hyperparameters(config["hyperparameters"], env.action_space)
    return algorithm(
        policy,
        env,
        policy_kwargs=build_policy_kwargs(config["policy_kwargs"]),
        seed=int(config["seed"]),
        device=config.get("device", "auto"),
        tensorboard_log=str(Path(run_dir) / TB_DIR) if run_dir is not None else None,
        **hyperparameters,
    )


@dataclass
class RunCallbacks:
    """The callbacks of a run, by role.

    :param plasticity: the plasticity logger (writes the run's CSV logs).
    :param interventions: the agent's intervention callbacks, in recipe order.
    """

    plasticity: PlasticityCallback
    interventions: list[BaseCallback] = field(default_factory=list)

    def as_list(self) -> list[BaseCallback]:
        """The callbacks in the order SB3 runs them: the logger first, then the interventions."""
        return [self.plasticity, *self.interventions]


def build_callbacks(config: Mapping[str, Any], run_dir: str | Path) -> RunCallbacks:
    """The plasticity logger, writing to ``run_dir``, and the agent's interventions
    (:func:`syre_rl.interventions.build_interventions`)."""
    plasticity = PlasticityCallback(log_dir=run_dir, **dict(config.get("plasticity") or {}))
    interventions: list[BaseCallback] = []
    if config.get("interventions"):
        from syre_rl.interventions import build_interventions

        interventions = list(build_interventions(list(config["interventions"])))
    return RunCallbacks(plasticity, interventions)
