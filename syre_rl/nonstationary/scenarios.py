"""Scenarios as loaded recipe dicts: checking one, and turning it into wrapped envs.

A scenario recipe names the stationary base env, the task family and its ranges, the schedule, the budgets
(``n_envs``, ``total_steps``), the paper it follows, and the base PPO hyperparameters for it. This module takes the
recipe as a dict and knows nothing of recipe files: finding, listing and loading them (``envs/*.yaml``) is
:mod:`syre_rl.experiments.scenarios`' job.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from syre_rl.nonstationary.families import FAMILIES
from syre_rl.nonstationary.registration import register_envs
from syre_rl.nonstationary.schedules import SCHEDULES
from syre_rl.nonstationary.spec import build_from_spec
from syre_rl.nonstationary.wrapper import TaskSwitchingWrapper

REQUIRED_KEYS = ("name", "description", "source", "base_env", "family", "schedule", "n_envs", "total_steps")
OPTIONAL_KEYS = ("env_kwargs", "hyperparameters", "policy_kwargs")


def _positive_int(recipe: Mapping[str, Any], key: str, where: str) -> int:
    value = recipe[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {key} must be a positive int, got {value!r}")
    return value


def validate_recipe(recipe: Mapping[str, Any], stem: str | None = None) -> dict[str, Any]:
    """Check a scenario recipe and return it as a dict with defaults filled in (``env_kwargs``, ``hyperparameters``).

    The family and schedule specs are built once to check their arguments; whether the family fits the base env is
    checked when the env is made.

    :param recipe: the parsed YAML mapping.
    :param stem: the file stem the recipe was loaded from; ``name`` must equal it.
    :raises ValueError: with the offending key and what is accepted.
    """
    if not isinstance(recipe, Mapping):
        raise ValueError(f"A scenario recipe must be a mapping, got {type(recipe).__name__}")
    where = f"scenario {recipe.get('name', stem)!r}"
    missing = [k for k in REQUIRED_KEYS if k not in recipe]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; required: {list(REQUIRED_KEYS)}")
    unknown = sorted(set(recipe) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid: {list(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    if stem is not None and recipe["name"] != stem:
        raise ValueError(f"{where}: name must equal the file stem {stem!r}")
    if not isinstance(recipe["base_env"], str):
        raise ValueError(f"{where}: base_env must be a gymnasium id string, got {recipe['base_env']!r}")
    for key in ("env_kwargs", "hyperparameters"):
        if not isinstance(recipe.get(key, {}), Mapping):
            raise ValueError(f"{where}: {key} must be a mapping, got {recipe[key]!r}")
    n_envs = _positive_int(recipe, "n_envs", where)
    total = _positive_int(recipe, "total_steps", where)
    try:
        build_from_spec(FAMILIES, recipe["family"], "task family")
        schedule = build_from_spec(SCHEDULES, recipe["schedule"], "schedule")
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    steps_per_task = getattr(schedule, "steps_per_task", None)
    if steps_per_task is not None and steps_per_task > total:
        raise ValueError(
            f"{where}: steps_per_task {steps_per_task} exceeds total_steps {total} (no switch would happen)"
        )
    out = dict(recipe)
    out["env_kwargs"] = dict(recipe.get("env_kwargs") or {})
    out["hyperparameters"] = dict(recipe.get("hyperparameters") or {})
    out["n_envs"], out["total_steps"] = n_envs, total
    return out


def env_seed(seed: int, rank: int) -> int:
    """The reset seed of sub-env ``rank`` of a run with ``seed`` (distinct across seeds and ranks)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def make_scenario_env(
    recipe: Mapping[str, Any], seed: int, n_envs: int = 1, rank: int = 0, render_mode: str | None = None
) -> gym.Env:
    """One wrapped env of a scenario.

    Every rank gets the same task sequence for the same ``seed`` (the wrapper's generator is seeded with ``seed``),
    while the base env's own randomness (initial states, bandit inputs shown) is seeded per rank with
    :func:`env_seed`.

    :param recipe: a recipe dict (e.g. from :func:`syre_rl.experiments.scenarios.load_scenario`); checked with
        :func:`validate_recipe`.
    :param seed: run seed (non-negative int).
    :param n_envs: number of sub-envs in the vector env (schedules count total steps across them).
    :param rank: index of this sub-env.
    :param render_mode: passed to the base env.
    """
    recipe = validate_recipe(recipe)
    register_envs()
    kwargs = dict(recipe["env_kwargs"])
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    base = gym.make(recipe["base_env"], **kwargs)
    sub_seed = env_seed(seed, rank)
    base.reset(seed=sub_seed)
    base.action_space.seed(sub_seed)
    return TaskSwitchingWrapper(base, recipe["family"], recipe["schedule"], seed=seed, n_envs=n_envs)


def make_env_fns(recipe: Mapping[str, Any], seed: int, n_envs: int | None = None) -> list[Callable[[], gym.Env]]:
    """Picklable env factories, one per sub-env, for ``DummyVecEnv`` or ``SubprocVecEnv``.

    :param recipe: a recipe dict, checked with :func:`validate_recipe`.
    :param seed: run seed (non-negative int).
    :param n_envs: number of sub-envs; defaults to the recipe's ``n_envs``.
    """
    recipe = validate_recipe(recipe)
    n = recipe["n_envs"] if n_envs is None else n_envs
    return [functools.partial(make_scenario_env, recipe, seed, n, rank) for rank in range(n)]
