"""Agent recipes and the resolved configuration of one run.

A run is described by two recipe files: an agent (``agents/NAME.yaml``: algorithm, policy, hyperparameters,
interventions) and a scenario (``envs/NAME.yaml``, read by :mod:`syre_rl.nonstationary`). This module finds the
recipe folders (in a checkout or inside an installed package), loads and checks agent recipes, and merges everything
into one plain, YAML-serialisable *resolved config*::

    scenario hyperparameters  <  agent hyperparameters  <  command-line overrides (``--set key=value``)

The resolved config holds only plain values (strings for classes and activations); :func:`build_policy_kwargs` and
:func:`resolve_algorithm` turn them into Python objects when the model is built. This module imports neither torch
nor Stable-Baselines3 at import time, so :mod:`syre_rl.nonstationary` can use :func:`recipe_dir`.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import inspect
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

RECIPE_KINDS: tuple[str, ...] = ("agents", "envs")

# Algorithms a recipe may name without a dotted path.
ALGORITHMS: dict[str, str] = {
    "PPO": "stable_baselines3:PPO",
    "SyrePPO": "syre_rl.ppo:SyrePPO",
}

# Activation names accepted in policy_kwargs (activation_fn), mapped to torch.nn class names.
ACTIVATIONS: dict[str, str] = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "sigmoid": "Sigmoid",
    "identity": "Identity",
}

# Optimizer names accepted in policy_kwargs (optimizer_class), mapped to torch.optim class names.
OPTIMIZERS: dict[str, str] = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}

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

# Arguments of the algorithm that the experiment layer sets itself; recipes and overrides may not set them.
RESERVED_ALGORITHM_ARGS: frozenset[str] = frozenset(
    {"self", "policy", "env", "policy_kwargs", "seed", "device", "tensorboard_log", "_init_setup_model"}
)

# Top-level keys of the resolved config that --set may change directly.
RUN_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "total_steps": int,
    "n_envs": int,
    "checkpoint_every": int,
}

# Default distance between checkpoints, in environment steps, when a recipe does not say (about 10 per run).
DEFAULT_CHECKPOINTS_PER_RUN = 10


class _RecipeLoader(yaml.SafeLoader):
    """YAML 1.1 loader that also reads ``1e-4`` (no dot) as a float, as people write learning rates."""


_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_RecipeLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def load_yaml(text_or_path: str | Path) -> Any:
    """Read YAML like :func:`yaml.safe_load`, except that ``1e-4`` is a float (YAML 1.1 would keep it a string).

    :param text_or_path: a :class:`~pathlib.Path` to read, or YAML text.
    """
    text = Path(text_or_path).read_text() if isinstance(text_or_path, Path) else text_or_path
    return yaml.load(text, Loader=_RecipeLoader)


def parse_value(text: str) -> Any:
    """Type a command-line value: YAML syntax, so ``3``, ``1e-4``, ``true``, ``null``, ``[64, 64]`` and ``{a: 1}``
    become int, float, bool, None, list and dict; anything else stays a string."""
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


def recipe_dir(kind: str) -> Path:
    """Folder holding the recipes of one kind.

    An installed package carries the recipes as package data in ``syre_rl/_recipes/KIND``; a checkout has them in
    the top-level ``KIND/`` folder. The installed copy wins when both exist.

    :param kind: ``"agents"`` or ``"envs"``.
    :return: the folder (it exists).
    """
    if kind not in RECIPE_KINDS:
        raise ValueError(f"unknown recipe kind {kind!r}; accepted: {list(RECIPE_KINDS)}")
    package = Path(__file__).resolve().parent
    candidates = (package / "_recipes" / kind, package.parent / kind)
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"no {kind} recipe folder found; looked in {[str(c) for c in candidates]}")


def list_agents() -> list[str]:
    """Names of the agent recipes shipped with the package (file stems of ``agents/*.yaml``), sorted."""
    return sorted(p.stem for p in recipe_dir("agents").glob("*.yaml"))


def _recipe_path(kind: str, name_or_path: str | Path, available: list[str]) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ValueError(f"{kind} recipe file {str(path)!r} does not exist")
        return path
    candidate = recipe_dir(kind) / f"{name_or_path}.yaml"
    if not candidate.is_file():
        close = difflib.get_close_matches(str(name_or_path), available, n=3)
        hint = f" (did you mean {close}?)" if close else ""
        raise ValueError(f"unknown {kind[:-1]} {str(name_or_path)!r}{hint}; available: {available}")
    return candidate


def load_agent(name_or_path: str | Path) -> dict[str, Any]:
    """Load and check one agent recipe.

    :param name_or_path: a recipe name (``syre_ppo``) or the path of a YAML file.
    :return: the recipe as a dict, with the optional keys filled in (``policy_kwargs``, ``hyperparameters``: empty
        dicts; ``interventions``: empty list).
    """
    path = _recipe_path("agents", name_or_path, list_agents())
    recipe = load_yaml(path)
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


def import_object(path: str) -> Any:
    """Import ``"package.module:Name"`` or ``"package.module.Name"``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"cannot import {path!r}: expected 'package.module:Name' or 'package.module.Name'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {path!r}: {exc}") from exc


def resolve_algorithm(name: str) -> type:
    """The algorithm class named by a recipe: a key of :data:`ALGORITHMS` or a ``module:Class`` path."""
    return import_object(ALGORITHMS.get(name, name))


def resolve_policy(algorithm: type, policy: str) -> type:
    """The policy class: an alias of the algorithm (``MlpPolicy``) or a dotted path."""
    aliases = getattr(algorithm, "policy_aliases", {})
    if policy in aliases:
        return aliases[policy]
    if "." in policy or ":" in policy:
        return import_object(policy)
    raise ValueError(
        f"unknown policy {policy!r} for {algorithm.__name__}; accepted: {sorted(aliases)} or a dotted path"
    )


def accepted_kwargs(cls: type) -> set[str]:
    """Keyword arguments a class's constructor accepts, following ``**kwargs`` up the class hierarchy."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names - {"self"}


def algorithm_keys(algorithm: str) -> list[str]:
    """Hyperparameter names an algorithm accepts from a recipe or ``--set`` (its constructor arguments, less those
    the experiment layer sets: policy, env, policy_kwargs, seed, device, tensorboard_log)."""
    return sorted(accepted_kwargs(resolve_algorithm(algorithm)) - RESERVED_ALGORITHM_ARGS)


def policy_keys(algorithm: str, policy: str) -> list[str]:
    """Keyword names the policy accepts in ``policy_kwargs``."""
    cls = resolve_policy(resolve_algorithm(algorithm), policy)
    return sorted(accepted_kwargs(cls) - {"observation_space", "action_space", "lr_schedule"})


def _coerce_numbers(value: Any) -> Any:
    """Strings that are plain numbers in scientific notation (``"1e-4"``) become floats, recursively."""
    if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _coerce_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_coerce_numbers(v) for v in value]
    return value


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Turn ``["learning_rate=1e-4", "policy_kwargs.net_arch=[32, 32]"]`` into ``{key: typed value}``.

    Values are typed with :func:`parse_value`. Keys are checked later, by :func:`resolve_config`.
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
    keys += [f"plasticity.{k}" for k in _plasticity_keys()]
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


def _plasticity_keys() -> list[str]:
    try:
        from syre_rl.plasticity import PlasticityCallback
    except ImportError:  # the metrics package is optional for resolving a config
        return []
    return sorted(accepted_kwargs(PlasticityCallback) - {"log_dir", "verbose"})


def _load_scenario(name_or_path: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(name_or_path, Mapping):
        return dict(copy.deepcopy(name_or_path))
    from syre_rl.nonstationary.scenarios import load_scenario

    return load_scenario(str(name_or_path))


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
    scenario_recipe = _load_scenario(scenario)
    if isinstance(overrides, Mapping):
        overrides = dict(overrides)
    else:
        overrides = parse_overrides(overrides or [])
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    # scenario.* overrides change the recipe itself, before its hyperparameters, n_envs and steps are merged in.
    scenario_overrides = {k: v for k, v in overrides.items() if k.startswith("scenario.")}
    if scenario_overrides:
        from syre_rl.nonstationary.scenarios import validate_recipe

        scenario_recipe = copy.deepcopy(scenario_recipe)
        for key, value in scenario_overrides.items():
            _set_path(scenario_recipe, key.split(".")[1:], value, key)
        scenario_recipe = validate_recipe(scenario_recipe)

    scenario_hp = dict(scenario_recipe.get("hyperparameters") or {})
    policy_kwargs = dict(scenario_recipe.get("policy_kwargs") or {})
    policy_kwargs.update(scenario_hp.pop("policy_kwargs", None) or {})
    policy_kwargs.update(agent_recipe["policy_kwargs"])
    hyperparameters = {**scenario_hp, **agent_recipe["hyperparameters"]}

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
            _apply_override(config, key, value)
    config["policy_kwargs"] = _coerce_numbers(config["policy_kwargs"])
    config["hyperparameters"] = _coerce_numbers(config["hyperparameters"])
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
        if rest not in _plasticity_keys():
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


def build_policy_kwargs(policy_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the strings of a resolved config's ``policy_kwargs`` into Python objects.

    ``activation_fn: relu`` becomes ``torch.nn.ReLU`` (names in :data:`ACTIVATIONS`), ``optimizer_class: adam``
    becomes ``torch.optim.Adam`` (names in :data:`OPTIMIZERS`); any other ``*_class`` / ``*_fn`` string is imported
    as a dotted path. Other values are passed as they are.
    """
    from torch import nn, optim

    out = dict(copy.deepcopy(dict(policy_kwargs)))
    for key, value in list(out.items()):
        if not isinstance(value, str) or not (key.endswith("_class") or key.endswith("_fn")):
            continue
        if key == "activation_fn" and value.lower() in ACTIVATIONS:
            out[key] = getattr(nn, ACTIVATIONS[value.lower()])
        elif key == "optimizer_class" and value.lower() in OPTIMIZERS:
            out[key] = getattr(optim, OPTIMIZERS[value.lower()])
        else:
            out[key] = import_object(value)
    return out
