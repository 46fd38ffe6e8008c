"""Whether a run's interventions act: how often each one acted (recorded in the run's ``done`` marker), whether a
planned run gives each one a chance to act at all, and the scaling rule for continual backprop's maturity.

Counts, per intervention type (from the callbacks' public state):

* ``cbp``: units replaced (all layers);
* ``redo``: units recycled;
* ``shrink_perturb``: shrink-and-perturb events;
* ``reset_on_switch``, ``reset``: resets;
* ``plasticity_injection``: injections;
* ``parseval``: optimizer steps penalised;
* ``normalize_project``: optimizer steps projected.

A planned run whose intervention can never act (:func:`idle_reasons`): continual backprop whose maturity threshold
is at least the run's gradient steps (no unit ever matures), ReDo checking less often than the run has rollouts (or,
off-policy, gradient steps), periodic resets and shrink-and-perturb whose period exceeds the run, the task-switch
interventions in a run with a single task, and a plasticity injection with neither a switch nor a step in the run.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any

# What each intervention's count counts, for reports.
ACTION_UNITS: dict[str, str] = {
    "cbp": "units replaced",
    "redo": "units recycled",
    "shrink_perturb": "shrink events",
    "reset_on_switch": "resets",
    "reset": "resets",
    "plasticity_injection": "injections",
    "parseval": "steps penalised",
    "normalize_project": "steps projected",
}

# Maturity rule of continual backprop in a study: maturity_threshold = CBP_MATURITY_FRACTION x the gradient steps
# of one task, so that a unit can mature, and then be replaced, within every task. Dohare et al. 2024 protect a new
# unit for 10,000 steps in runs of millions; the fraction keeps that role (a unit is not judged before it had time
# to learn) in runs of a few thousand gradient steps.
CBP_MATURITY_FRACTION = 0.2


def intervention_counts(callbacks: Iterable[Any]) -> list[dict[str, Any]]:
    """How often each intervention callback acted, in recipe order: ``{"type", "acted", "unit"}`` per callback.

    :param callbacks: the run's intervention callbacks.
    """
    from syre_rl.interventions import INTERVENTIONS

    names = {cls: name for name, cls in INTERVENTIONS.items()}
    out = []
    for callback in callbacks:
        name = names.get(type(callback), type(callback).__name__)
        out.append({"type": name, "acted": _acted(callback), "unit": ACTION_UNITS.get(name, "actions")})
    return out


def _acted(callback: Any) -> int:
    state = getattr(callback, "state", None)
    if state is not None and hasattr(state, "stats"):  # continual backprop
        return int(sum(int(stats.replaced) for stats in state.stats.values()))
    for attribute in ("n_recycled", "n_applied", "n_resets", "n_injections", "n_penalised", "n_projections"):
        if hasattr(callback, attribute):
            return int(getattr(callback, attribute))
    return 0


def _value(config: Mapping[str, Any], name: str) -> Any:
    from syre_rl.experiments.classes import argument_defaults, resolve_algorithm

    hp = config["hyperparameters"]
    return hp[name] if name in hp else argument_defaults(resolve_algorithm(config["algorithm"])).get(name)


def _on_policy(config: Mapping[str, Any]) -> bool:
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm

    from syre_rl.experiments.classes import resolve_algorithm

    return issubclass(resolve_algorithm(config["algorithm"]), OnPolicyAlgorithm)


def gradient_steps_per_rollout(config: Mapping[str, Any]) -> int | None:
    """Optimizer steps per rollout of an on-policy config: ``n_epochs x ceil(n_steps x n_envs / batch_size)``;
    None for an off-policy algorithm."""
    if not _on_policy(config):
        return None
    n_steps, batch_size, n_epochs = (_value(config, k) for k in ("n_steps", "batch_size", "n_epochs"))
    if not all(isinstance(v, int) for v in (n_steps, batch_size, n_epochs)):
        return None
    return int(n_epochs) * math.ceil(int(n_steps) * int(config["n_envs"]) / int(batch_size))


def off_policy_gradient_steps(config: Mapping[str, Any]) -> int | None:
    """Gradient steps of a whole off-policy run: ``floor((total_steps - learning_starts) / (train_freq x n_envs))``
    trainings of ``gradient_steps`` each (``-1``: as many as the environment steps of a training interval); None for
    an on-policy algorithm or a ``train_freq`` counted in episodes."""
    if _on_policy(config):
        return None
    learning_starts, train_freq, gradient_steps = (
        _value(config, k) for k in ("learning_starts", "train_freq", "gradient_steps")
    )
    if isinstance(train_freq, list | tuple):
        if len(train_freq) != 2 or str(train_freq[1]) != "step":
            return None
        train_freq = train_freq[0]
    if not all(isinstance(v, int) for v in (learning_starts, train_freq, gradient_steps)):
        return None
    interval = int(train_freq) * int(config["n_envs"])
    per_training = interval if gradient_steps < 0 else int(gradient_steps)
    return max(0, int(config["total_steps"]) - int(learning_starts)) // interval * per_training


def rollouts(config: Mapping[str, Any], steps: int | None = None) -> int | None:
    """Rollouts of an on-policy config in ``steps`` environment steps (default: the whole run); None for an
    off-policy algorithm."""
    n_steps = _value(config, "n_steps")
    if not _on_policy(config) or not isinstance(n_steps, int):
        return None
    steps = int(config["total_steps"]) if steps is None else steps
    return steps // (n_steps * int(config["n_envs"]))


def steps_per_task(config: Mapping[str, Any]) -> int | None:
    """Environment steps of one task for a ``fixed_interval`` schedule (None for other schedules)."""
    schedule = config["scenario_recipe"].get("schedule") or {}
    if schedule.get("type") == "fixed_interval" and isinstance(schedule.get("steps_per_task"), int):
        return int(schedule["steps_per_task"])
    return None


def cbp_maturity(config: Mapping[str, Any], fraction: float = CBP_MATURITY_FRACTION) -> int | None:
    """Continual backprop's maturity threshold by the study rule: ``fraction`` x the gradient steps of one task
    (at least 1); None when the scenario's task length or the gradient steps are not known from the config."""
    per_rollout = gradient_steps_per_rollout(config)
    task = steps_per_task(config)
    if per_rollout is None or task is None:
        return None
    per_task = rollouts(config, task)
    return max(1, int(fraction * (per_task or 0) * per_rollout))


def _setting(spec: Mapping[str, Any], name: str) -> Any:
    """An intervention's setting: the recipe's value, else the callback's default."""
    if name in spec:
        return spec[name]
    from syre_rl.interventions import INTERVENTIONS

    return inspect.signature(INTERVENTIONS[spec["type"]]).parameters[name].default


def idle_reasons(config: Mapping[str, Any]) -> list[str]:
    """Why an intervention of a resolved config can never act in the planned run (empty when each can).

    :param config: a resolved config (:func:`syre_rl.experiments.config.resolve_config`).
    :return: one line per intervention that cannot act, naming it, the setting and the run's budget.
    """
    out = []
    run = f"{config['agent']} on {config['scenario']}"
    n_rollouts = rollouts(config)
    task = steps_per_task(config)
    single_task = task is not None and task >= int(config["total_steps"])
    updates = off_policy_gradient_steps(config)
    for i, spec in enumerate(config["interventions"]):
        kind = spec.get("type")
        where = f"{run}: interventions.{i} ({kind})"
        if kind == "cbp":
            per_rollout = gradient_steps_per_rollout(config)
            maturity = int(_setting(spec, "maturity_threshold"))
            if per_rollout is not None and n_rollouts is not None and maturity >= per_rollout * n_rollouts:
                out.append(
                    f"{where} never replaces a unit: maturity_threshold {maturity} >= the run's "
                    f"{per_rollout * n_rollouts} gradient steps"
                )
        elif kind == "redo":
            every = int(_setting(spec, "every_n_rollouts"))
            if n_rollouts is not None and every > n_rollouts:
                out.append(f"{where} never checks: every_n_rollouts {every} > the run's {n_rollouts} rollouts")
            from syre_rl.interventions.redo import DEFAULT_EVERY_N_UPDATES

            every_update = _setting(spec, "every_n_updates") or DEFAULT_EVERY_N_UPDATES
            if updates is not None and int(every_update) > updates:
                out.append(f"{where} never checks: every_n_updates {every_update} > the run's {updates} gradient steps")
        elif kind == "shrink_perturb":
            every = int(_setting(spec, "every_n_rollouts"))
            periodic = every > 0 and (n_rollouts is None or every <= n_rollouts)
            every_update = int(_setting(spec, "every_n_updates"))
            periodic = periodic or (every_update > 0 and (updates is None or every_update <= updates))
            if not periodic and (not _setting(spec, "on_task_switch") or single_task):
                out.append(f"{where} never applies: no task switch in the run and no periodic application")
        elif kind == "reset_on_switch" and single_task:
            out.append(f"{where} never resets: the run has a single task")
        elif kind == "reset" and single_task:
            every_update = int(_setting(spec, "every_n_updates"))
            if not every_update or (updates is not None and every_update > updates):
                out.append(
                    f"{where} never resets: the run has a single task and every_n_updates {every_update} is 0 or "
                    f"more than the run's {updates} gradient steps"
                )
        elif kind == "plasticity_injection":
            at_steps = [int(s) for s in _setting(spec, "at_steps")]
            switches = _setting(spec, "on_task_switch") and not single_task
            if not switches and not any(s <= int(config["total_steps"]) for s in at_steps):
                out.append(f"{where} never injects: no task switch in the run and no at_steps within it")
    return out


def plan_warnings(specs: Iterable[Any]) -> list[str]:
    """:func:`idle_reasons` of every planned agent, variant and scenario (once, not per seed).

    :param specs: planned runs (:class:`~syre_rl.experiments.grid.RunSpec`).
    """
    seen: set[tuple[str, str, str]] = set()
    out: list[str] = []
    for spec in specs:
        key = (spec.agent, spec.scenario, repr(spec.variant))
        if key in seen:
            continue
        seen.add(key)
        config = spec.config()
        if config["interventions"]:
            variant = f" {list(dict(spec.variant).items())}" if spec.variant else ""
            out += [
                line.replace(f"{config['agent']} on", f"{config['agent']}{variant} on", 1)
                for line in idle_reasons(config)
            ]
    return out
