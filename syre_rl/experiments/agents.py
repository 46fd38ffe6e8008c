"""Agent recipes (``agents/NAME.yaml``): the schema (algorithm, policy, hyperparameters, interventions), listing and
loading them by name or path."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syre_rl.experiments.classes import ALGORITHMS
from syre_rl.experiments.recipe_files import list_recipes, read_recipe

AGENT_KEYS: dict[str, bool] = {  # key -> required
    "name": True,
    "description": False,
    "source": False,
    "algorithm": True,
    "policy": True,
    "policy_kwargs": False,
    "hyperparameters": False,
    "interventions": False,
}


def list_agents() -> list[str]:
    """Names of the agent recipes shipped with the package (file stems of ``agents/*.yaml``), sorted."""
    return list_recipes("agents")


def load_agent(name_or_path: str | Path) -> dict[str, Any]:
    """Load and check one agent recipe.

    :param name_or_path: a recipe name (``syre_ppo``) or the path of a YAML file.
    :return: the recipe as a dict, with the optional keys filled in (``policy_kwargs``, ``hyperparameters``: empty
        dicts; ``interventions``: empty list).
    """
    recipe, path = read_recipe("agents", name_or_path)
    return validate_agent(recipe, source=str(path))


def validate_agent(recipe: Any, source: str = "agent recipe") -> dict[str, Any]:
    """Check an agent recipe's keys and types and fill in the optional keys.

    :param recipe: the parsed YAML.
    :param source: where it came from, for error messages.
    """
    if not isinstance(recipe, Mapping):
        raise ValueError(f"{source}: an agent recipe must be a mapping, got {type(recipe).__name__}")
    unknown = sorted(set(recipe) - set(AGENT_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}; accepted: {sorted(AGENT_KEYS)}")
    missing = sorted(k for k, required in AGENT_KEYS.items() if required and k not in recipe)
    if missing:
        raise ValueError(f"{source}: missing keys {missing}")
    out = dict(copy.deepcopy(recipe))
    out.setdefault("description", "")
    out.setdefault("source", "")
    for key in ("policy_kwargs", "hyperparameters"):
        value = out.get(key) or {}
        if not isinstance(value, Mapping):
            raise ValueError(f"{source}: {key} must be a mapping, got {value!r}")
        out[key] = dict(value)
    interventions = out.get("interventions") or []
    if not isinstance(interventions, list) or not all(
        isinstance(i, Mapping) and isinstance(i.get("type"), str) for i in interventions
    ):
        raise ValueError(f"{source}: interventions must be a list of mappings with a 'type', got {interventions!r}")
    out["interventions"] = [dict(i) for i in interventions]
    if not isinstance(out["algorithm"], str) or not isinstance(out["policy"], str):
        raise ValueError(f"{source}: algorithm and policy must be strings")
    if ":" not in out["algorithm"] and "." not in out["algorithm"] and out["algorithm"] not in ALGORITHMS:
        raise ValueError(
            f"{source}: unknown algorithm {out['algorithm']!r}; accepted: {sorted(ALGORITHMS)} or 'module:Class'"
        )
    return out
