"""Scenario recipes (``envs/NAME.yaml``): listing and loading them by name or path, building their envs by name, and
the ``syre_rl/...`` gymnasium ids registered for them.

A recipe names the stationary base env, the task family and its ranges, the schedule, the backend (``batched`` or
``wrapper``), the budgets (``n_envs``, ``total_steps``), the paper it follows, and the base PPO hyperparameters for
it. Checking a loaded recipe and turning it into wrapped envs is :mod:`syre_rl.nonstationary.scenarios`' job (it
knows nothing of recipe files); this module adds the files. Imports gymnasium, numpy and PyYAML only.

Registered ids accept ``seed`` (task sequence seed), ``n_envs`` and ``rank`` keyword arguments, e.g.
``gym.make("syre_rl/PermutedCartPole-v0", seed=1, n_envs=4, rank=0)``; ``import syre_rl`` registers them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym

from syre_rl.experiments.recipe_files import list_recipes, read_recipe, recipe_dir
from syre_rl.nonstationary import scenarios as ns_scenarios
from syre_rl.nonstationary.registration import NAMESPACE, register_envs

#: registered id (without namespace) -> scenario recipe name in envs/
SCENARIO_IDS: dict[str, str] = {
    "SlipperyAnt-v0": "slippery_ant",
    "SlipperyAntQuick-v0": "slippery_ant_quick",
    "SlipperyAntGpu-v0": "slippery_ant_gpu",
    "SlipperyHalfCheetah-v0": "slippery_halfcheetah",
    "PermutedCartPole-v0": "permuted_cartpole",
    "ActionPermutedCartPole-v0": "action_permuted_cartpole",
    "CartPoleDrift-v0": "cartpole_drift",
    "ClassicCycle-v0": "classic_cycle",
    "RelabelledBandit-v0": "relabelled_bandit",
    "RelabelledBanditQuick-v0": "relabelled_bandit_quick",
    "RelabelledBanditLong-v0": "relabelled_bandit_long",
    "PermutedCartPoleLong-v0": "permuted_cartpole_long",
    "PendulumPhysics-v0": "pendulum_physics",
    "SlipperyHalfCheetahShort-v0": "slippery_halfcheetah_short",
    "RelabelledBanditOffPolicy-v0": "relabelled_bandit_offpolicy",
    "PermutedCartPoleOffPolicy-v0": "permuted_cartpole_offpolicy",
}


def scenario_dir() -> Path:
    """The folder holding the scenario recipes."""
    return recipe_dir("envs")


def list_scenarios() -> list[str]:
    """Names of the available scenarios (the recipe file stems), sorted."""
    return list_recipes("envs")


def load_scenario(name_or_path: str | Path) -> dict[str, Any]:
    """Load and check a recipe given by scenario name (see :func:`list_scenarios`) or by a ``.yaml`` path.

    :return: the recipe as a dict with defaults filled in (see :func:`syre_rl.nonstationary.scenarios.validate_recipe`).
    :raises ValueError: unknown name (lists the scenarios), missing file, or a bad recipe.
    """
    recipe, path = read_recipe("envs", name_or_path)
    return ns_scenarios.validate_recipe(recipe, stem=path.stem)


def _loaded(recipe: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    return load_scenario(recipe) if isinstance(recipe, (str, Path)) else recipe


def make_scenario_env(
    recipe: Mapping[str, Any] | str | Path,
    seed: int,
    n_envs: int = 1,
    rank: int = 0,
    render_mode: str | None = None,
) -> gym.Env:
    """One wrapped env of a scenario given by name, path or recipe dict; see
    :func:`syre_rl.nonstationary.scenarios.make_scenario_env` for the arguments."""
    return ns_scenarios.make_scenario_env(_loaded(recipe), seed, n_envs, rank, render_mode)


def make_env_fns(
    recipe: Mapping[str, Any] | str | Path, seed: int, n_envs: int | None = None
) -> list[Callable[[], gym.Env]]:
    """Picklable env factories, one per sub-env, of a scenario given by name, path or recipe dict; see
    :func:`syre_rl.nonstationary.scenarios.make_env_fns`."""
    return ns_scenarios.make_env_fns(_loaded(recipe), seed, n_envs)


def make_registered_scenario(
    scenario: str, seed: int = 0, n_envs: int = 1, rank: int = 0, render_mode: str | None = None
) -> gym.Env:
    """Entry point of the registered ``syre_rl/...`` scenario ids."""
    return make_scenario_env(scenario, seed, n_envs, rank, render_mode)


def register_scenarios() -> None:
    """Register the base ids of :mod:`syre_rl.nonstationary` and one id per scenario of :data:`SCENARIO_IDS`
    (idempotent)."""
    register_envs()
    for name, scenario in SCENARIO_IDS.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=f"{__name__}:{make_registered_scenario.__name__}",
                kwargs={"scenario": scenario},
            )
