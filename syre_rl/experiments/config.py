"""The resolved configuration of one run: an agent recipe, a scenario recipe and ``--set`` overrides merged into one
plain, YAML-serialisable dict::

    scenario hyperparameters  <  agent hyperparameters  <  command-line overrides (``--set key=value``)

The resolved config holds only plain values (strings for classes and activations); :mod:`syre_rl.experiments.build`
turns them into Python objects when the model is built. It is saved as the run folder's ``config.yaml``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from syre_rl.experiments.agents import load_agent, validate_agent
from syre_rl.experiments.classes import ACTIVATIONS, algorithm_keys, plasticity_keys, policy_keys
from syre_rl.experiments.scenarios import load_scenario
from syre_rl.experiments.yaml_loader import parse_value
from syre_rl.nonstationary.scenarios import validate_recipe

# Top-level keys of the resolved config that --set may change directly.
RUN_SETTINGS: dict[str, type[int]] = {
    "total_steps": int,
    "n_envs": int,
    "checkpoint_every": int,
}

# Default distance between checkpoints, in environment steps, when a recipe does not say (about 10 per run).
DEFAULT_CHECKPOINTS_PER_RUN = 10


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["learning_rate=1e-4", "policy_kwargs.net_arch=[32, 32]"]`` into ``{key: typed value}``.

    Values are typed with :func:`~syre_rl.experiments.yaml_loader.parse_value`. Keys are checked later, by
    :func:`resolve_config`.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value, e.g. learning_rate=1e-4")
        out[key] = parse_value(value.strip())
    return out


def _set_path(tree: dict[str, Any], path: list[str], value: Any, full_key: str) -> None:
    node = tree
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            raise ValueError(f"unknown --set key {full_key!r}: {part!r} is not a section of the scenario recipe")
        node = node[part]
    if path[-1] not in node:
        raise ValueError(f"unknown --set key {full_key!r}; keys at that level: {sorted(node)}")
    node[path[-1]] = value


def valid_override_keys(config: Mapping[str, Any]) -> list[str]:
    """Every key ``--set`` accepts for a resolved config, for error messages and ``--help``."""
    keys = list(RUN_SETTINGS)
    keys += algorithm_keys(config["algorithm"])
    keys += [f"policy_kwargs.{k}" for k in policy_keys(config["algorithm"], config["policy"])]
    keys += [f"plasticity.{k}" for k in plasticity_keys()]
    keys += [f"scenario.{k}" for k in _leaf_paths(config["scenario_recipe"])]
    for i, intervention in enumerate(config["interventions"]):
        keys += [f"interventions.{i}.{k}" for k in intervention if k != "type"]
    return keys


def _leaf_paths(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out += _leaf_paths(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def resolve_config(
    agent: str | Path | Mapping[str, Any],
    scenario: str | Path | Mapping[str, Any],
    seed: int = 0,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    total_steps: int | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Merge an agent recipe, a scenario recipe and overrides into the resolved config of one run.

    :param agent: agent name, recipe path, or an already loaded recipe dict.
    :param scenario: scenario name, recipe path, or an already loaded recipe dict.
    :param seed: seed of the run (model, theta_0 and environments).
    :param overrides: ``{key: value}`` or ``["key=value", ...]``. Keys: an algorithm argument (``learning_rate``),
        ``policy_kwargs.KEY``, ``plasticity.KEY`` (PlasticityCallback argument), ``scenario.PATH`` (a value already in
        the scenario recipe, e.g. ``scenario.schedule.steps_per_task``), ``interventions.I.KEY``, or one of
        ``total_steps``, ``n_envs``, ``checkpoint_every``. An unknown key raises a ValueError listing the valid ones.
    :param total_steps: environment steps of the run (all sub-envs together); default the scenario's
        ``total_steps``. An override ``total_steps=...`` wins over it.
    :param device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (any torch device string).
    :return: a plain dict (YAML-serialisable); see the module docstring.
    """
    agent_recipe = validate_agent(agent, "agent recipe") if isinstance(agent, Mapping) else load_agent(agent)
    if isinstance(scenario, Mapping):
        scenario_recipe = dict(copy.deepcopy(scenario))
    else:
        scenario_recipe = load_scenario(scenario)
    if isinstance(overrides, Mapping):
        overrides = dict(overrides)
    else:
        overrides = parse_overrides(overrides or [])
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    # scenario.* overrides change the recipe itself, before its hyperparameters, n_envs and steps are merged in.
    scenario_overrides = {k: v for k, v in overrides.items() if k.startswith("scenario.")}
    if scenario_overrides:
        scenario_recipe = copy.deepcopy(scenario_recipe)
        for key, value in scenario_overrides.items():
            _set_path(scenario_recipe, key.split(".")[1:], copy.deepcopy(value), key)
        scenario_recipe = validate_recipe(scenario_recipe)

    # Every value is a copy: an object in two places of the config would be saved as a YAML alias.
    scenario_hp = copy.deepcopy(dict(scenario_recipe.get("hyperparameters") or {}))
    policy_kwargs = copy.deepcopy(dict(scenario_recipe.get("policy_kwargs") or {}))
    policy_kwargs.update(scenario_hp.pop("policy_kwargs", None) or {})
    policy_kwargs.update(copy.deepcopy(agent_recipe["policy_kwargs"]))
    hyperparameters = {**scenario_hp, **copy.deepcopy(agent_recipe["hyperparameters"])}

    config: dict[str, Any] = {
        "agent": agent_recipe["name"],
        "scenario": scenario_recipe["name"],
        "seed": seed,
        "total_steps": int(total_steps if total_steps is not None else scenario_recipe["total_steps"]),
        "n_envs": int(scenario_recipe.get("n_envs", 1)),
        "checkpoint_every": None,
        "device": device,
        "algorithm": agent_recipe["algorithm"],
        "policy": agent_recipe["policy"],
        "policy_kwargs": policy_kwargs,
        "hyperparameters": hyperparameters,
        "interventions": copy.deepcopy(agent_recipe["interventions"]),
        "plasticity": {},
        "overrides": dict(overrides),
        "agent_recipe": agent_recipe,
        "scenario_recipe": scenario_recipe,
    }
    for key, value in overrides.items():
        if key not in scenario_overrides:
            _apply_override(config, key, copy.deepcopy(value))
    _check_config(config)
    if config["checkpoint_every"] is None:
        config["checkpoint_every"] = max(1, config["total_steps"] // DEFAULT_CHECKPOINTS_PER_RUN)
    return config


def _apply_override(config: dict[str, Any], key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if key in RUN_SETTINGS:
        if isinstance(value, bool) or not isinstance(value, RUN_SETTINGS[key]) or value < 1:
            raise ValueError(f"--set {key} must be an integer >= 1, got {value!r}")
        config[key] = value
        if key == "n_envs":
            config["scenario_recipe"]["n_envs"] = value
    elif head == "policy_kwargs" and rest:
        if rest not in policy_keys(config["algorithm"], config["policy"]):
            raise ValueError(f"unknown --set key {key!r}; valid keys: {valid_override_keys(config)}")
        config["policy_kwargs"][rest] = value
    elif head == "plasticity" and rest:
        if rest not in plasticity_keys():
            raise ValueError(f"unknown --set key {key!r}; valid keys: {valid_override_keys(config)}")
        config["plasticity"][rest] = value
    elif head == "interventions" and rest:
        index, _, name = rest.partition(".")
        if not index.isdigit() or int(index) >= len(config["interventions"]) or not name or name == "type":
            raise ValueError(f"unknown --set key {key!r}; valid keys: {valid_override_keys(config)}")
        config["interventions"][int(index)][name] = value
    elif key in algorithm_keys(config["algorithm"]):
        config["hyperparameters"][key] = value
    else:
        raise ValueError(f"unknown --set key {key!r}; valid keys: {valid_override_keys(config)}")


def _check_config(config: Mapping[str, Any]) -> None:
    valid = set(algorithm_keys(config["algorithm"]))
    bad = sorted(set(config["hyperparameters"]) - valid)
    if bad:
        raise ValueError(
            f"hyperparameters {bad} (from agent {config['agent']!r} / scenario {config['scenario']!r}) are not "
            f"arguments of {config['algorithm']}; accepted: {sorted(valid)}"
        )
    bad = sorted(set(config["policy_kwargs"]) - set(policy_keys(config["algorithm"], config["policy"])))
    if bad:
        raise ValueError(
            f"policy_kwargs {bad} are not accepted by policy {config['policy']!r} of {config['algorithm']}"
        )
    if config["interventions"]:
        from syre_rl.interventions import build_interventions

        build_interventions(config["interventions"])  # checks types and arguments
    activation = config["policy_kwargs"].get("activation_fn")
    if isinstance(activation, str) and activation.lower() not in ACTIVATIONS and "." not in activation:
        raise ValueError(f"unknown activation_fn {activation!r}; accepted: {sorted(ACTIVATIONS)} or a dotted path")
