"""The resolved configuration of one run: an agent recipe, a scenario recipe and ``--set`` overrides merged into one
plain, YAML-serialisable dict::

    scenario hyperparameters  <  agent hyperparameters  <  command-line overrides (``--set key=value``)

The resolved config holds only plain values (strings for classes and activations); :mod:`syre_rl.experiments.build`
turns them into Python objects when the model is built. It is saved as the run folder's ``config.yaml``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from syre_rl.experiments.agents import load_agent, validate_agent
from syre_rl.experiments.classes import (
    ACTION_NOISES,
    ACTIVATIONS,
    OFF_POLICY_SETTINGS,
    accepted_action_spaces,
    accepted_kwargs,
    algorithm_keys,
    argument_defaults,
    build_policy_kwargs,
    is_off_policy,
    plasticity_keys,
    policy_keys,
    resolve_algorithm,
    resolve_policy,
)
from syre_rl.experiments.recipe_files import list_recipes
from syre_rl.experiments.scenarios import load_scenario
from syre_rl.experiments.yaml_loader import parse_value
from syre_rl.nonstationary.scenarios import make_scenario_env, validate_recipe
from syre_rl.validation import check_fraction, check_int, check_real

# Top-level keys of the resolved config that --set may change directly.
RUN_SETTINGS: dict[str, type[int]] = {
    "total_steps": int,
    "n_envs": int,
    "checkpoint_every": int,
}

# Optional top-level keys of the resolved config that --set may add, with their defaults. A key at its default is left
# out of the resolved config (absent means the default), so the config of a run saved before the key existed still
# matches when the run is resumed. validate_distributions: whether torch.distributions checks the arguments of the
# policy's action distributions while the run trains (torch's default, on); false skips the checks, which changes no
# number but takes away the error naming invalid (e.g. NaN) logits (see syre_rl.experiments.run.train).
RUN_FLAGS: dict[str, bool] = {"validate_distributions": True}

# Optional keys of a scenario recipe that --set may add where the recipe leaves them out (absent means the default).
ADDABLE_SCENARIO_KEYS: tuple[str, ...] = ("env_device",)

# Default distance between checkpoints, in environment steps, when a recipe does not say (about 10 per run).
DEFAULT_CHECKPOINTS_PER_RUN = 10

# Largest train_freq (vector-env steps between two trainings) that a replay_ratio may be turned into.
MAX_TRAIN_FREQ = 1000

# A catalogue scenario to suggest to an off-policy agent paired with a scenario whose actions it cannot take, by the
# name of the action space it accepts.
EXAMPLE_SCENARIOS: dict[str, str] = {"Box": "pendulum_physics", "Discrete": "permuted_cartpole"}

# Device strings a config accepts: "auto" (CUDA when available, else the CPU), "cpu", "cuda", "cuda:N", "mps".
DEVICE_TYPES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|mps)(:[0-9]+)?$")
# Recipe names become folder names of the run folder: letters, digits, '_', '-', '.', not starting with a dot.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


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
    keys += list(RUN_FLAGS)
    keys += algorithm_keys(config["algorithm"])
    keys += [f"policy_kwargs.{k}" for k in policy_keys(config["algorithm"], config["policy"])]
    try:
        keys += [f"policy_kwargs.optimizer_kwargs.{k}" for k in optimizer_keys(config)]
    except ValueError:  # an optimizer_class that cannot be imported is reported where the model is built
        pass
    keys += [f"plasticity.{k}" for k in plasticity_keys()]
    keys += [f"scenario.{k}" for k in _leaf_paths(config["scenario_recipe"])]
    keys += [f"scenario.{k}" for k in ADDABLE_SCENARIO_KEYS if k not in config["scenario_recipe"]]
    for i, intervention in enumerate(config["interventions"]):
        keys += [f"interventions.{i}.{k}" for k in intervention if k != "type"]
    return keys


def _optimizer_class(config: Mapping[str, Any]) -> type | None:
    """The optimizer class of a config's policy: ``policy_kwargs.optimizer_class``, or the policy's default."""
    optimizer = config["policy_kwargs"].get("optimizer_class")
    if optimizer is None:
        optimizer = argument_defaults(resolve_policy(resolve_algorithm(config["algorithm"]), config["policy"])).get(
            "optimizer_class"
        )
    if isinstance(optimizer, str):
        optimizer = build_policy_kwargs({"optimizer_class": optimizer})["optimizer_class"]
    return optimizer if isinstance(optimizer, type) else None


def optimizer_keys(config: Mapping[str, Any]) -> list[str]:
    """Keyword arguments of a config's optimizer that ``policy_kwargs.optimizer_kwargs.KEY`` may set: those of
    ``policy_kwargs.optimizer_class`` (or, without one, the policy's default, Adam for SB3's policies), less
    ``params`` and ``lr``, which SB3 passes itself; empty for a policy that takes no ``optimizer_kwargs``.

    :param config: a resolved config (or one being resolved).
    :raises ValueError: an ``optimizer_class`` that cannot be imported.
    """
    if "optimizer_kwargs" not in policy_keys(config["algorithm"], config["policy"]):
        return []
    optimizer = _optimizer_class(config)
    return sorted(accepted_kwargs(optimizer) - {"params", "lr"}) if optimizer is not None else []


def policy_optimizer_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``optimizer_kwargs`` a config's policy gives its optimizer when the config has none: SB3's
    ``ActorCriticPolicy`` (PPO's and A2C's policies, syre's included) builds Adam with ``eps=1e-5`` then, and only
    then; every other policy, optimizer or explicit ``optimizer_kwargs`` keeps torch's defaults (Adam's eps 1e-8).

    A ``policy_kwargs.optimizer_kwargs.KEY`` override of a config without ``optimizer_kwargs`` starts from these,
    so that ``fused=true`` changes nothing else.

    :param config: a resolved config, or a mapping with its ``algorithm``, ``policy`` and ``policy_kwargs``.
    :raises ValueError: an ``optimizer_class`` that cannot be imported.
    """
    import torch
    from stable_baselines3.common.policies import ActorCriticPolicy

    policy = resolve_policy(resolve_algorithm(config["algorithm"]), config["policy"])
    if (
        isinstance(policy, type)
        and issubclass(policy, ActorCriticPolicy)
        and _optimizer_class(config) is torch.optim.Adam
    ):
        return {"eps": 1e-5}
    return {}


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
        ``policy_kwargs.KEY``, ``policy_kwargs.optimizer_kwargs.KEY`` (one argument of the optimizer, merged into the
        recipe's ``optimizer_kwargs``, whose other keys stay, or into the policy's own defaults where the recipe
        has none, see :func:`policy_optimizer_defaults`; ``policy_kwargs.optimizer_kwargs={...}`` replaces them all,
        SB3's Adam eps of 1e-5 for PPO's policies included; see :func:`optimizer_keys`), ``plasticity.KEY``
        (PlasticityCallback argument), ``scenario.PATH`` (a
        value already in the scenario recipe, e.g. ``scenario.schedule.steps_per_task``, or one of
        ``ADDABLE_SCENARIO_KEYS``: ``scenario.env_device``), ``interventions.I.KEY``, one of ``total_steps``,
        ``n_envs``, ``checkpoint_every``, or one of :data:`RUN_FLAGS` (``validate_distributions``, a bool: left out
        of the config when at its default); for an off-policy agent also ``replay_ratio`` (see
        :func:`apply_replay_ratio`). An unknown key raises a ValueError listing the valid ones.
    :param total_steps: environment steps of the run (all sub-envs together); default the scenario's
        ``total_steps``. An override ``total_steps=...`` wins over it.
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (see :func:`check_device`; whether
        the device exists is checked by :func:`check_device_available`, where the run trains).
    :return: a plain dict (YAML-serialisable); see the module docstring.
    :raises ValueError: an unknown recipe, key or device, a value out of range (see :func:`check_hyperparameters`),
        or an off-policy agent paired with a scenario whose action space it cannot act in (see
        :func:`check_action_space`), in one line naming the value and what is accepted.
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
    if total_steps is not None:
        total_steps = check_int("total_steps (--steps)", total_steps, low=1)
    device = check_device(device)
    # scenario.* overrides change the recipe itself, before its hyperparameters, n_envs and steps are merged in.
    scenario_overrides = {k: v for k, v in overrides.items() if k.startswith("scenario.")}
    if scenario_overrides:
        scenario_recipe = copy.deepcopy(scenario_recipe)
        for key, value in scenario_overrides.items():
            path = key.split(".")[1:]
            if len(path) == 1 and path[0] in ADDABLE_SCENARIO_KEYS:
                scenario_recipe[path[0]] = copy.deepcopy(value)
            else:
                _set_path(scenario_recipe, path, copy.deepcopy(value), key)
        scenario_recipe = validate_recipe(scenario_recipe)

    # Every value is a copy: an object in two places of the config would be saved as a YAML alias.
    scenario_hp = copy.deepcopy(dict(scenario_recipe.get("hyperparameters") or {}))
    policy_kwargs = copy.deepcopy(dict(scenario_recipe.get("policy_kwargs") or {}))
    policy_kwargs.update(scenario_hp.pop("policy_kwargs", None) or {})
    policy_kwargs.update(copy.deepcopy(agent_recipe["policy_kwargs"]))
    if not _is_on_policy(resolve_algorithm(agent_recipe["algorithm"])):
        # A scenario's hyperparameters are tuned for PPO (n_steps would even become DQN's n-step return length):
        # an off-policy agent takes only the scenario's network and brings its own hyperparameters.
        scenario_hp = {}
    hyperparameters = {**scenario_hp, **copy.deepcopy(agent_recipe["hyperparameters"])}

    config: dict[str, Any] = {
        "agent": agent_recipe["name"],
        "scenario": scenario_recipe["name"],
        "seed": seed,
        "total_steps": total_steps if total_steps is not None else int(scenario_recipe["total_steps"]),
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
    off_policy = is_off_policy(resolve_algorithm(config["algorithm"]))
    if off_policy:
        apply_replay_ratio(config, agent_recipe["hyperparameters"], overrides)
    _check_config(config)
    if off_policy:
        check_action_space(config)
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
    elif key in RUN_FLAGS:
        if not isinstance(value, bool):
            raise ValueError(f"--set {key} must be true or false, got {value!r}")
        if value == RUN_FLAGS[key]:
            config.pop(key, None)  # absent means the default
        else:
            config[key] = value
    elif head == "policy_kwargs" and rest.startswith("optimizer_kwargs."):
        _set_optimizer_kwarg(config, key, rest.removeprefix("optimizer_kwargs."), value)
    elif head == "policy_kwargs" and rest:
        if rest not in policy_keys(config["algorithm"], config["policy"]):
            raise ValueError(_unknown_key(key, config))
        config["policy_kwargs"][rest] = value
    elif head == "plasticity" and rest:
        if rest not in plasticity_keys():
            raise ValueError(_unknown_key(key, config))
        config["plasticity"][rest] = value
    elif head == "interventions" and rest:
        index, _, name = rest.partition(".")
        if not index.isdigit() or int(index) >= len(config["interventions"]) or not name or name == "type":
            raise ValueError(_unknown_key(key, config))
        config["interventions"][int(index)][name] = value
    elif key in algorithm_keys(config["algorithm"]):
        config["hyperparameters"][key] = value
    elif key in OFF_POLICY_SETTINGS:
        raise ValueError(_off_policy_only(key, config))
    else:
        raise ValueError(_unknown_key(key, config))


def _unknown_key(key: str, config: Mapping[str, Any]) -> str:
    """The error for a ``--set`` key that does not exist, with the keys it may have meant (the same last part, e.g.
    ``backend`` for ``scenario.backend``, or a close spelling) and every valid key."""
    valid = valid_override_keys(config)
    last = key.rsplit(".", 1)[-1]
    meant = [k for k in valid if k.rsplit(".", 1)[-1] == last] or difflib.get_close_matches(key, valid, n=3)
    hint = f" (did you mean {' or '.join(repr(k) for k in meant)}?)" if meant else ""
    return f"unknown --set key {key!r}{hint}; valid keys: {valid}"


def _set_optimizer_kwarg(config: dict[str, Any], key: str, name: str, value: Any) -> None:
    """``policy_kwargs.optimizer_kwargs.NAME=value``: one argument of the optimizer, merged into the config's
    ``optimizer_kwargs`` (its other keys stay), or where it has none, into the policy's own defaults
    (:func:`policy_optimizer_defaults`)."""
    current = config["policy_kwargs"].get("optimizer_kwargs")
    if current is None:
        current = policy_optimizer_defaults(config)
    accepted = optimizer_keys(config)
    if name not in accepted or not isinstance(current, Mapping):
        raise ValueError(
            f"unknown --set key {key!r}; arguments of the optimizer that policy_kwargs.optimizer_kwargs.KEY may set: "
            f"{accepted}"
        )
    config["policy_kwargs"]["optimizer_kwargs"] = {**current, name: value}


def _off_policy_only(key: str, config: Mapping[str, Any]) -> str:
    return (
        f"{key} is a setting of off-policy agents (SAC, TD3, DQN and their syre and L2 forms); agent "
        f"{config['agent']!r} runs {config['algorithm']}, which learns from rollouts, not from a replay buffer"
    )


def replay_ratio_schedule(replay_ratio: Any, n_envs: int) -> tuple[int, int]:
    """SB3's ``train_freq`` and ``gradient_steps`` for a replay ratio.

    The replay ratio is the number of gradient steps per environment step, counting the steps of all sub-envs. SB3
    trains every ``train_freq`` steps of the vector env (each one step of every sub-env, ``n_envs`` environment
    steps) and then takes ``gradient_steps`` gradient steps, so ``replay_ratio = gradient_steps / (train_freq *
    n_envs)``. The pair is ``replay_ratio * n_envs`` written as the fraction ``gradient_steps / train_freq`` in
    lowest terms: ``train_freq = 1`` and ``gradient_steps = replay_ratio * n_envs`` where that is a whole number
    (ratio 1 with 1 env: 1, 1; ratio 8 with 4 envs: 1, 32; ratio 0.5 with 4 envs: 1, 2), otherwise the smallest
    ``train_freq`` that makes it one (ratio 0.25 with 1 env: 4, 1; ratio 0.3 with 1 env: 10, 3; ratio 0.1 with 4
    envs: 5, 2).

    :param replay_ratio: gradient steps per environment step, a finite number > 0.
    :param n_envs: sub-envs of the run.
    :return: ``(train_freq, gradient_steps)``.
    :raises ValueError: a ratio that is not a number > 0, or one that needs a ``train_freq`` above
        :data:`MAX_TRAIN_FREQ` (e.g. 1e-4 with 1 env).
    """
    ratio = check_real("replay_ratio", replay_ratio, low=0.0, low_open=True)
    n_envs = check_int("n_envs", n_envs, low=1)
    per_call = Fraction(ratio * n_envs).limit_denominator(MAX_TRAIN_FREQ)
    if per_call == 0 or abs(float(per_call) - ratio * n_envs) > 1e-9 * ratio * n_envs:
        raise ValueError(
            f"replay_ratio {replay_ratio!r} with n_envs={n_envs} is not gradient_steps / (train_freq * n_envs) for "
            f"any train_freq <= {MAX_TRAIN_FREQ}; give a ratio such as 0.1, 0.25, 1 or 8"
        )
    return per_call.denominator, per_call.numerator


def apply_replay_ratio(
    config: dict[str, Any], recipe_hyperparameters: Mapping[str, Any], overrides: Mapping[str, Any]
) -> None:
    """Turn an off-policy config's ``replay_ratio`` (gradient steps per environment step) into ``train_freq`` and
    ``gradient_steps`` (:func:`replay_ratio_schedule`, with the run's ``n_envs``), in place.

    A ``replay_ratio`` given with ``--set`` replaces the agent recipe's ``train_freq`` and ``gradient_steps``; one
    given in the agent recipe is used unless ``--set`` gives a ``replay_ratio`` of its own. ``replay_ratio`` given
    together with ``train_freq`` or ``gradient_steps`` at the same level (both in the recipe, both with ``--set``),
    or a recipe's ``replay_ratio`` with ``train_freq`` or ``gradient_steps`` from ``--set``, is refused: the two
    would say different things. The resolved config keeps ``train_freq`` and ``gradient_steps``, which SB3 takes;
    the ratio itself stays in the config's ``agent_recipe`` or ``overrides``.

    :param config: a resolved config whose overrides are applied.
    :param recipe_hyperparameters: the agent recipe's hyperparameters.
    :param overrides: the ``--set`` overrides.
    :raises ValueError: a bad ratio (see :func:`replay_ratio_schedule`) or one of the conflicts above.
    """
    hp = config["hyperparameters"]
    if "replay_ratio" not in hp:
        return
    if "replay_ratio" in overrides:
        where, given = "--set", set(overrides)
    else:
        where, given = "the agent recipe or --set", {*recipe_hyperparameters, *overrides}
    clash = sorted({"train_freq", "gradient_steps"} & given)
    if clash:
        raise ValueError(
            f"replay_ratio sets train_freq and gradient_steps; give either replay_ratio or {' and '.join(clash)}, "
            f"not both ({where})"
        )
    hp["train_freq"], hp["gradient_steps"] = replay_ratio_schedule(hp.pop("replay_ratio"), config["n_envs"])


def _build_action_space(recipe: Mapping[str, Any]) -> Any:
    env = make_scenario_env(recipe, seed=0)
    try:
        return env.action_space
    finally:
        env.close()


@functools.lru_cache(maxsize=64)
def _cached_action_space(recipe_json: str) -> Any:
    return _build_action_space(json.loads(recipe_json))


def scenario_action_space(recipe: Mapping[str, Any]) -> Any:
    """The action space of a scenario recipe's envs, read from one env of the scenario (built once per recipe)."""
    try:
        key = json.dumps(dict(recipe), sort_keys=True)
    except TypeError:  # a recipe holding objects (e.g. a task family instance) is built each time
        return _build_action_space(recipe)
    return _cached_action_space(key)


def check_action_space(config: Mapping[str, Any]) -> None:
    """Refuse an off-policy agent paired with a scenario whose action space it cannot act in: DQN takes
    ``Discrete`` actions only, SAC and TD3 ``Box`` actions only (:func:`~syre_rl.experiments.classes.
    accepted_action_spaces`); any other algorithm is accepted here.

    :param config: a resolved config.
    :raises ValueError: naming the agent, its algorithm, the scenario's action space and the spaces it accepts.
    """
    accepted = accepted_action_spaces(resolve_algorithm(config["algorithm"]))
    if accepted is None:
        return
    space = scenario_action_space(config["scenario_recipe"])
    if isinstance(space, accepted):
        return
    names = [cls.__name__ for cls in accepted]
    examples = [EXAMPLE_SCENARIOS[n] for n in names if EXAMPLE_SCENARIOS.get(n) in list_recipes("envs")]
    hint = f", e.g. {examples[0]!r}" if examples else ""
    raise ValueError(
        f"agent {config['agent']!r} ({config['algorithm']}) acts in {' or '.join(names)} action spaces only, but "
        f"scenario {config['scenario']!r} has the action space {space}; pair it with a scenario whose actions are "
        f"{' or '.join(names)}{hint}"
    )


def check_device(device: Any) -> str:
    """``device`` if it names a device a run can train on: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
    ``"mps"``. Whether it exists on this machine is :func:`check_device_available`'s question.

    :raises ValueError: any other value.
    """
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise ValueError(f"device must be one of {list(DEVICE_TYPES)} or 'cuda:N', got {device!r}")
    return device


def check_device_available(device: str) -> str:
    """``device`` if this machine has it (``"auto"`` and ``"cpu"`` always); imports torch.

    A run asked for on ``cuda`` without a CUDA device is refused here rather than trained on the CPU (which SB3
    would do silently, while the run's ``config.yaml`` says ``cuda``).

    :raises ValueError: a CUDA device (or index) or MPS that this machine does not have.
    """
    device = check_device(device)
    kind, _, index = device.partition(":")
    if kind in ("auto", "cpu"):
        return device
    import torch

    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device!r}: this machine has no CUDA device; use --device cpu or auto")
        if index and int(index) >= count:
            raise ValueError(f"device {device!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r}: MPS is not available on this machine; use --device cpu or auto")
    return device


def _positive_or_callable(name: str, value: Any) -> None:
    if not callable(value):
        check_real(name, value, low=0.0, low_open=True)


def check_hyperparameters(config: Mapping[str, Any]) -> None:
    """Refuse values the algorithm would accept but that are out of range, before anything is built.

    Each check applies to every algorithm that takes an argument of that name (PPO's family in particular):
    ``learning_rate`` > 0 (or a schedule, a callable), ``n_steps`` >= 1, ``batch_size`` >= 2 for on-policy
    algorithms (PPO, A2C and their subclasses; >= 1 otherwise) and at most the rollout size ``n_steps * n_envs`` (a
    rollout size that is not a multiple of it is accepted: SB3 warns and the last mini-batch of each epoch is
    smaller), ``n_epochs`` >= 1, ``gamma`` in (0, 1], ``gae_lambda`` in [0, 1], ``clip_range`` > 0 (or a callable),
    ``clip_range_vf`` None, > 0 or a callable, ``ent_coef`` >= 0 (or ``"auto..."`` where the algorithm's default is
    a string), ``vf_coef`` >= 0, ``max_grad_norm`` > 0, ``target_kl`` None or > 0; off-policy arguments:
    ``buffer_size`` >= 1, ``learning_starts`` >= 0, ``tau`` in (0, 1], ``train_freq`` >= 1 (or ``[n, "step"]`` /
    ``[n, "episode"]``), ``gradient_steps`` >= 1 or -1, ``target_update_interval`` and ``policy_delay`` >= 1,
    ``exploration_fraction``, ``exploration_initial_eps`` and ``exploration_final_eps`` in [0, 1],
    ``target_policy_noise`` and ``target_noise_clip`` >= 0, ``action_noise`` None or ``{type: normal, sigma: S >=
    0, mean: M}``. The anchored decays' settings
    are checked by :class:`syre_rl.decay.DecayConfig`, and ``total_steps``, ``n_envs`` and ``checkpoint_every``
    must be integers >= 1.

    :param config: a resolved config (before or after :func:`resolve_config` fills in ``checkpoint_every``).
    :raises ValueError: the first value out of range, named with what is accepted.
    """
    check_int("total_steps", config["total_steps"], low=1)
    n_envs = check_int("n_envs", config["n_envs"], low=1)
    if config.get("checkpoint_every") is not None:
        check_int("checkpoint_every", config["checkpoint_every"], low=1)
    algorithm = resolve_algorithm(config["algorithm"])
    defaults = argument_defaults(algorithm)
    hp = config["hyperparameters"]

    def value(name: str) -> Any:
        return hp[name] if name in hp else defaults.get(name)

    if "learning_rate" in hp:
        _positive_or_callable("learning_rate", hp["learning_rate"])
    for name in ("n_steps", "n_epochs"):
        if name in hp:
            check_int(name, hp[name], low=1)
    # Off-policy algorithms take an ``n_steps`` too (their n-step return), so the class decides, not the arguments.
    on_policy = _is_on_policy(algorithm)
    if "batch_size" in hp or (on_policy and "n_steps" in hp):
        batch_size = check_int("batch_size", value("batch_size"), low=2 if on_policy else 1)
        if on_policy and isinstance(value("n_steps"), int):
            rollout = value("n_steps") * n_envs
            if batch_size > rollout:
                raise ValueError(
                    f"batch_size must be at most the rollout size n_steps * n_envs = {value('n_steps')} * {n_envs} "
                    f"= {rollout}, got {batch_size}"
                )
    if "gamma" in hp:
        check_real("gamma", hp["gamma"], low=0.0, high=1.0, low_open=True)
    if "gae_lambda" in hp:
        check_fraction("gae_lambda", hp["gae_lambda"])
    if "clip_range" in hp:
        _positive_or_callable("clip_range", hp["clip_range"])
    if hp.get("clip_range_vf") is not None:
        _positive_or_callable("clip_range_vf", hp["clip_range_vf"])
    if "ent_coef" in hp:
        ent_coef = hp["ent_coef"]
        if isinstance(ent_coef, str) and isinstance(defaults.get("ent_coef"), str):
            if not ent_coef.startswith("auto"):
                raise ValueError(f"ent_coef must be a number >= 0 or 'auto' / 'auto_INIT', got {ent_coef!r}")
        else:
            check_real("ent_coef", ent_coef, low=0.0)
    if "vf_coef" in hp:
        check_real("vf_coef", hp["vf_coef"], low=0.0)
    if "max_grad_norm" in hp:
        check_real("max_grad_norm", hp["max_grad_norm"], low=0.0, low_open=True)
    if hp.get("target_kl") is not None:
        check_real("target_kl", hp["target_kl"], low=0.0, low_open=True)
    _check_off_policy(hp)
    _check_decay(algorithm, hp)


def _is_on_policy(algorithm: type) -> bool:
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    return issubclass(algorithm, OnPolicyAlgorithm)


def _check_off_policy(hp: Mapping[str, Any]) -> None:
    """Range checks of the off-policy algorithms' arguments (SAC, TD3, DQN and their syre forms)."""
    if "buffer_size" in hp:
        check_int("buffer_size", hp["buffer_size"], low=1)
    if "learning_starts" in hp:
        check_int("learning_starts", hp["learning_starts"], low=0)
    if "tau" in hp:
        check_real("tau", hp["tau"], low=0.0, high=1.0, low_open=True)
    if "gradient_steps" in hp:
        steps = hp["gradient_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or (steps < 1 and steps != -1):
            raise ValueError(f"gradient_steps must be an integer >= 1 or -1 (as many as env steps), got {steps!r}")
    if "train_freq" in hp:
        _check_train_freq(hp["train_freq"])
    for name in ("target_update_interval", "policy_delay"):
        if name in hp:
            check_int(name, hp[name], low=1)
    for name in ("exploration_fraction", "exploration_initial_eps", "exploration_final_eps"):
        if name in hp:
            check_fraction(name, hp[name])
    if "target_policy_noise" in hp:
        check_real("target_policy_noise", hp["target_policy_noise"], low=0.0)
    if "target_noise_clip" in hp:
        check_real("target_noise_clip", hp["target_noise_clip"], low=0.0)
    if hp.get("action_noise") is not None:
        _check_action_noise(hp["action_noise"])


def _check_action_noise(spec: Any) -> None:
    """``action_noise``: None, ``{type: normal, sigma: S}`` with S >= 0 and an optional ``mean``, or an SB3
    ``ActionNoise`` object."""
    from stable_baselines3.common.noise import ActionNoise

    if isinstance(spec, ActionNoise):
        return
    example = "{type: normal, sigma: 0.1}"
    if not isinstance(spec, Mapping) or "type" not in spec or "sigma" not in spec:
        raise ValueError(f"action_noise must be null or a mapping like {example}, got {spec!r}")
    if not isinstance(spec["type"], str) or spec["type"] not in ACTION_NOISES:
        raise ValueError(f"action_noise type must be one of {sorted(ACTION_NOISES)}, got {spec['type']!r}")
    unknown = sorted(set(spec) - {"type", "sigma", "mean"})
    if unknown:
        raise ValueError(f"action_noise: unknown keys {unknown}; accepted: ['mean', 'sigma', 'type']")
    check_real("action_noise: sigma", spec["sigma"], low=0.0)
    if "mean" in spec:
        check_real("action_noise: mean", spec["mean"])


def _check_train_freq(value: Any) -> None:
    """``train_freq``: an integer >= 1, or ``[n, "step"]`` / ``[n, "episode"]`` with n >= 1."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[1] not in ("step", "episode"):
            raise ValueError(f"train_freq must be an integer >= 1 or [n, 'step' | 'episode'], got {value!r}")
        check_int("train_freq", value[0], low=1)
    else:
        check_int("train_freq", value, low=1)


def _check_decay(algorithm: type, hp: Mapping[str, Any]) -> None:
    from syre_rl.anchored_algorithm import AnchoredDecayAlgorithm

    if not issubclass(algorithm, AnchoredDecayAlgorithm):
        return
    from syre_rl.decay import DecayConfig

    settings = {k: hp[k] for k in DecayConfig.names() if k in hp}
    settings.setdefault("anchor", algorithm.default_anchor)
    if "decay_exclude" in settings and isinstance(settings["decay_exclude"], list):
        settings["decay_exclude"] = tuple(settings["decay_exclude"])
    try:
        DecayConfig(**settings)
    except TypeError as exc:
        raise ValueError(f"decay settings of {algorithm.__name__}: {exc}") from None


def _check_net_arch(net_arch: Any) -> None:
    layers = net_arch
    if isinstance(net_arch, Mapping):
        layers = [size for key in sorted(net_arch) for size in (net_arch[key] or [])]
        bad_keys = sorted(set(net_arch) - {"pi", "vf", "qf"})
        if bad_keys:
            raise ValueError(f"policy_kwargs.net_arch keys must be 'pi', 'vf' or 'qf', got {bad_keys}")
    if not isinstance(layers, (list, tuple)):
        accepted = "a list of layer sizes or {pi: [...], vf: [...]}"
        raise ValueError(f"policy_kwargs.net_arch must be {accepted}, got {net_arch!r}")
    for size in layers:
        check_int("policy_kwargs.net_arch: a layer size", size, low=1)


def _check_config(config: Mapping[str, Any]) -> None:
    for what in ("agent", "scenario"):
        name = config[what]
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"the {what} recipe's name must be letters, digits, '_', '-' or '.' (it names a folder), got {name!r}"
            )
    valid = set(algorithm_keys(config["algorithm"]))
    bad = sorted(set(config["hyperparameters"]) - valid)
    for key in OFF_POLICY_SETTINGS:
        if key in bad:
            raise ValueError(_off_policy_only(key, config))
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
    if "net_arch" in config["policy_kwargs"] and config["policy_kwargs"]["net_arch"] is not None:
        _check_net_arch(config["policy_kwargs"]["net_arch"])
    check_hyperparameters(config)
    if config["plasticity"]:
        from syre_rl.plasticity import PlasticityCallback

        try:
            PlasticityCallback(**config["plasticity"])  # checks the values
        except (TypeError, ValueError) as exc:
            raise ValueError(f"plasticity: {exc}") from None
