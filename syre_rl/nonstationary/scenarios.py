"""Scenarios as loaded recipe dicts: checking one, and turning it into wrapped envs.

A scenario recipe names the stationary base env, the task family and its ranges, the schedule, the budgets
(``n_envs``, ``total_steps``), the paper it follows, the base PPO hyperparameters for it, and the ``backend`` that
runs it: ``batched`` (all sub-envs stepped as arrays by one object, :mod:`syre_rl.nonstationary.batched`) or
``wrapper`` (one :class:`~syre_rl.nonstationary.wrapper.TaskSwitchingWrapper` per sub-env); both give the same task
sequence, switch steps and, for the same actions, the same observations and rewards. This module takes the
recipe as a dict and knows nothing of recipe files: finding, listing and loading them (``envs/*.yaml``) is
:mod:`syre_rl.experiments.scenarios`' job.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from syre_rl.nonstationary.families import FAMILIES, TaskFamily
from syre_rl.nonstationary.registration import register_envs
from syre_rl.nonstationary.schedules import SCHEDULES
from syre_rl.nonstationary.wrapper import TaskSwitchingWrapper
from syre_rl.validation import build_from_spec

REQUIRED_KEYS = ("name", "description", "source", "base_env", "family", "schedule", "n_envs", "total_steps")
OPTIONAL_KEYS = ("env_kwargs", "hyperparameters", "policy_kwargs", "backend", "env_device")
#: values of a recipe's ``backend``
BACKENDS = ("batched", "wrapper")
#: backends a recipe may name besides :data:`BACKENDS`: ``warp`` (MuJoCo Warp, :mod:`syre_rl.nonstationary.warp`,
#: with the optional extra ``gpu``); never a default
EXTRA_BACKENDS = ("warp",)
#: values of a recipe's optional ``env_device``, where the batched backend keeps its arrays: ``numpy`` (numpy on the
#: CPU, the default) or a torch device: ``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (``cuda`` where torch sees one,
#: else ``cpu``); see :mod:`syre_rl.nonstationary.batched.torch_env`
ENV_DEVICES = ("numpy", "cpu", "cuda", "cuda:N", "auto")
_ENV_DEVICE_RE = re.compile(r"^(numpy|cpu|auto|cuda(:[0-9]+)?)$")


def _positive_int(recipe: Mapping[str, Any], key: str, where: str) -> int:
    value = recipe[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where}: {key} must be a positive int, got {value!r}")
    return value


def validate_recipe(recipe: Mapping[str, Any], stem: str | None = None) -> dict[str, Any]:
    """Check a scenario recipe and return it as a dict with defaults filled in (``env_kwargs``, ``hyperparameters``,
    ``backend``).

    The family and schedule specs are built once to check their arguments; whether the family fits the base env is
    checked when the env is made. ``backend`` defaults to ``batched`` when the base env and the family have a batched
    version (:func:`batched_support`), else ``wrapper``; the returned dict always names the backend, so a run's
    resolved config records which path ran. ``env_device`` (optional, one of :data:`ENV_DEVICES`) stays absent when
    absent (the numpy path); a torch device needs the batched backend.

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
        family = build_from_spec(FAMILIES, recipe["family"], "task family")
        schedule = build_from_spec(SCHEDULES, recipe["schedule"], "schedule")
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    backend = recipe.get("backend")
    if backend is not None and backend not in BACKENDS + EXTRA_BACKENDS:
        raise ValueError(
            f"{where}: unknown backend {backend!r}; backends: {list(BACKENDS)}, and {list(EXTRA_BACKENDS)} with "
            "the optional extra gpu"
        )
    why_not_batched = batched_support(recipe["base_env"], family)
    if backend == "batched" and why_not_batched:
        raise ValueError(f"{where}: backend 'batched' is not available: {why_not_batched}; use backend: wrapper")
    if backend == "warp":
        # MuJoCo Warp itself is imported only when the env is made, so a recipe naming it checks without the extra.
        from syre_rl.nonstationary.warp.support import warp_support

        why_not_warp = warp_support(recipe["base_env"], family)
        if why_not_warp:
            raise ValueError(f"{where}: backend 'warp' is not available: {why_not_warp}; use backend: wrapper")
    if backend is None:
        backend = "wrapper" if why_not_batched else "batched"
    steps_per_task = getattr(schedule, "steps_per_task", None)
    if steps_per_task is not None and steps_per_task > total:
        raise ValueError(
            f"{where}: steps_per_task {steps_per_task} exceeds total_steps {total} (no switch would happen)"
        )
    out = dict(recipe)
    out["env_kwargs"] = dict(recipe.get("env_kwargs") or {})
    out["hyperparameters"] = dict(recipe.get("hyperparameters") or {})
    out["n_envs"], out["total_steps"] = n_envs, total
    out["backend"] = backend
    env_device = recipe.get("env_device")
    if env_device is not None:
        check_env_device(env_device, where)
        if env_device != "numpy" and backend != "batched":
            raise ValueError(
                f"{where}: env_device {env_device!r} runs the batched env in torch, and this scenario's backend is "
                f"{backend!r}; use backend: batched, or leave env_device out"
            )
    return out


def check_env_device(value: Any, where: str = "recipe") -> str:
    """``value`` if it is one of :data:`ENV_DEVICES` (whether the device exists is checked when the env is made).

    :param value: a recipe's ``env_device``.
    :param where: what the error message names.
    :raises ValueError: any other value, with the accepted ones.
    """
    if not isinstance(value, str) or not _ENV_DEVICE_RE.match(value):
        raise ValueError(f"{where}: unknown env_device {value!r}; env devices: {list(ENV_DEVICES)}")
    return value


def batched_support(base_env: str, family: TaskFamily) -> str | None:
    """Why a base env and task family cannot run on the batched path, or None when they can.

    The base env is recognised from its registered entry point (nothing is made or imported), the family by its
    exact class. The reason lists the gymnasium ids and families that have a batched version.

    :param base_env: gymnasium id of the stationary env.
    :param family: the task family.
    """
    # Imported here: the batched package imports this module.
    from syre_rl.nonstationary.batched.dynamics import BATCHED_DYNAMICS
    from syre_rl.nonstationary.batched.families import BATCHED_FAMILIES, BATCHED_FAMILY_NAMES

    register_envs()
    batched = {f"{cls.__module__}:{cls.__name__}" for cls in BATCHED_DYNAMICS}

    def has_batched_dynamics(entry_point: Any) -> bool:
        if callable(entry_point):
            return entry_point in BATCHED_DYNAMICS
        return entry_point in batched

    reasons = []
    spec = gym.registry.get(base_env)
    if spec is None or not has_batched_dynamics(spec.entry_point):
        ids = sorted(i for i, s in gym.registry.items() if has_batched_dynamics(s.entry_point))
        reasons.append(f"base env {base_env!r} has no batched version (batched base envs: {ids})")
    if type(family) not in BATCHED_FAMILIES:
        name = family.type_name or type(family).__name__
        reasons.append(f"task family {name!r} has no batched version (batched families: {BATCHED_FAMILY_NAMES})")
    return "; ".join(reasons) or None


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
