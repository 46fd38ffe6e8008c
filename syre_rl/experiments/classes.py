"""From the names in a recipe to Python classes: algorithms, policies, activations, optimizers, and the keyword
arguments each class accepts (read from its signature).

Nothing is imported at import time of this module; a class is imported when it is first resolved.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gymnasium import spaces
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.noise import ActionNoise

# Algorithms a recipe may name without a dotted path.
ALGORITHMS: dict[str, str] = {
    "PPO": "stable_baselines3:PPO",
    "SyrePPO": "syre_rl.ppo:SyrePPO",
    "AnchoredDecayPPO": "syre_rl.ppo:AnchoredDecayPPO",
    "SAC": "stable_baselines3:SAC",
    "SyreSAC": "syre_rl.sac:SyreSAC",
    "AnchoredDecaySAC": "syre_rl.sac:AnchoredDecaySAC",
    "TD3": "stable_baselines3:TD3",
    "SyreTD3": "syre_rl.td3:SyreTD3",
    "AnchoredDecayTD3": "syre_rl.td3:AnchoredDecayTD3",
    "DQN": "stable_baselines3:DQN",
    "SyreDQN": "syre_rl.dqn:SyreDQN",
    "AnchoredDecayDQN": "syre_rl.dqn:AnchoredDecayDQN",
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

# Arguments of the algorithm that the experiment layer sets itself; recipes and overrides may not set them.
RESERVED_ALGORITHM_ARGS: frozenset[str] = frozenset(
    {"self", "policy", "env", "policy_kwargs", "seed", "device", "tensorboard_log", "_init_setup_model"}
)

# Settings of off-policy agents that are not constructor arguments: the experiment layer turns them into arguments
# (``replay_ratio`` into ``train_freq`` and ``gradient_steps``, see syre_rl.experiments.config.apply_replay_ratio).
OFF_POLICY_SETTINGS: tuple[str, ...] = ("replay_ratio",)

# Action noises a recipe may name as ``action_noise: {type: NAME, sigma: S, mean: M}`` (the same S and M for every
# action dimension), mapped to stable_baselines3.common.noise class names. Only noises without a state of their own:
# a run draws them from NumPy's global generator, which checkpoints restore, so a resumed run stays exact.
ACTION_NOISES: dict[str, str] = {"normal": "NormalActionNoise"}


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


def resolve_algorithm(name: str) -> type[BaseAlgorithm]:
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


def is_off_policy(algorithm: type) -> bool:
    """Whether ``algorithm`` learns from a replay buffer (a subclass of SB3's ``OffPolicyAlgorithm``: SAC, TD3, DQN
    and their syre and anchored-decay forms)."""
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    return issubclass(algorithm, OffPolicyAlgorithm)


def accepted_action_spaces(algorithm: type) -> tuple[type[spaces.Space], ...] | None:
    """The action spaces an off-policy algorithm acts in: ``Discrete`` for DQN, ``Box`` for SAC and TD3 (and their
    subclasses), as SB3 checks when the model is built; None for any other algorithm (PPO and A2C act in every
    space SB3 supports; an unknown algorithm is left to SB3's own check)."""
    from gymnasium import spaces
    from stable_baselines3 import DQN, SAC, TD3

    if issubclass(algorithm, DQN):
        return (spaces.Discrete,)
    if issubclass(algorithm, (SAC, TD3)):
        return (spaces.Box,)
    return None


def accepted_kwargs(cls: type) -> set[str]:
    """Keyword arguments a class's constructor accepts, following ``**kwargs`` up the class hierarchy."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names - {"self"}


def argument_defaults(cls: type) -> dict[str, Any]:
    """Default values of a class's keyword arguments, following ``**kwargs`` up the class hierarchy (a subclass's
    default wins); arguments without a default are left out."""
    defaults: dict[str, Any] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty:
                defaults.setdefault(p.name, p.default)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return defaults


def algorithm_keys(algorithm: str) -> list[str]:
    """Hyperparameter names an algorithm accepts from a recipe or ``--set`` (its constructor arguments, less those
    the experiment layer sets: policy, env, policy_kwargs, seed, device, tensorboard_log; for an off-policy
    algorithm, plus :data:`OFF_POLICY_SETTINGS`)."""
    cls = resolve_algorithm(algorithm)
    keys = accepted_kwargs(cls) - RESERVED_ALGORITHM_ARGS
    if is_off_policy(cls):
        keys |= set(OFF_POLICY_SETTINGS)
    return sorted(keys)


def policy_keys(algorithm: str, policy: str) -> list[str]:
    """Keyword names the policy accepts in ``policy_kwargs``."""
    cls = resolve_policy(resolve_algorithm(algorithm), policy)
    return sorted(accepted_kwargs(cls) - {"observation_space", "action_space", "lr_schedule"})


def plasticity_keys() -> list[str]:
    """Arguments of :class:`~syre_rl.plasticity.PlasticityCallback` a config may set (``plasticity.KEY``); empty
    when the callback cannot be imported."""
    try:
        from syre_rl.plasticity import PlasticityCallback
    except ImportError:  # the metrics package is optional for resolving a config
        return []
    return sorted(accepted_kwargs(PlasticityCallback) - {"log_dir", "verbose"})


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


def build_action_noise(spec: Mapping[str, Any], action_space: spaces.Space) -> ActionNoise:
    """The SB3 action noise of a recipe's ``action_noise: {type: normal, sigma: 0.1, mean: 0.0}`` for a Box action
    space: the same ``sigma`` (and ``mean``, default 0) for every action dimension. The values are checked by
    :func:`syre_rl.experiments.config.check_hyperparameters`."""
    import numpy as np
    from stable_baselines3.common import noise

    shape = action_space.shape or (1,)
    cls = getattr(noise, ACTION_NOISES[spec["type"]])
    return cls(mean=np.full(shape, float(spec.get("mean", 0.0))), sigma=np.full(shape, float(spec["sigma"])))


def build_hyperparameters(hyperparameters: Mapping[str, Any], action_space: spaces.Space) -> dict[str, Any]:
    """The algorithm's keyword arguments from a resolved config's plain ``hyperparameters``: an off-policy
    ``train_freq`` given as a list (``[n, "episode"]`` in YAML) becomes the tuple SB3 takes, an ``action_noise``
    given as a mapping becomes the noise object (:func:`build_action_noise`); every other value is passed as it is.
    """
    out = dict(hyperparameters)
    if isinstance(out.get("train_freq"), list):
        out["train_freq"] = tuple(out["train_freq"])
    if isinstance(out.get("action_noise"), Mapping):
        out["action_noise"] = build_action_noise(out["action_noise"], action_space)
    return out
