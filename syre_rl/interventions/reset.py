"""Resets (Nikishin et al., "The Primacy Bias in Deep Reinforcement Learning", ICML 2022) as an SB3 callback, for
on-policy (PPO) and off-policy (DQN, SAC, TD3) algorithms.

At the first step whose infos announce a new task (``info["task_switch"]``), and/or every ``every_n_updates``
gradient steps (off-policy), the policy is re-initialised as SB3 would build it (PyTorch default init, then, for
actor-critic policies, SB3's orthogonal init with SB3's gains, ``log_std`` back to ``log_std_init``), in one of three
scopes:

* ``"all"``: the whole agent (actor, critics or Q-network, and SAC's learned entropy coefficient, see
  ``reset_ent_coef``);
* ``"heads"``: the output layers (PPO: ``action_net``, ``value_net``, ``log_std``; off-policy: the last weight layer
  of each network, as ``"last_layers"`` with one layer);
* ``"last_layers"``: the last ``n_layers`` weight layers of every network, counted back from its outputs (parallel
  heads such as SAC's ``mu`` and ``log_std`` count as one layer), plus PPO's ``log_std`` (layer reset, the Plasticine
  method; Nikishin et al. reset the last layers of their agents).

The optimizer starts afresh for the reset parameters: their state (Adam's moments and step count) is dropped in
place, so the algorithm's reference to its optimizers and every hook attached to them (syre, L2, L2-Init, continual
backprop) stay valid. Target networks (``critic_target``, ``actor_target``, ``q_net_target``) get the fresh online
weights of the reset parameters; their other parameters keep following by the algorithm's own update. The replay
buffer is kept. Anchored decays follow the new network: syre's ``theta_0`` is kept and added to the fresh weights
(``w = theta + theta_0``, as syre builds a network), L2-Init re-anchors on the fresh weights, L2's anchor is 0 anyway.

A reset at a task switch happens mid-rollout, at the step where the switch is seen; the rest of that rollout is
collected by the fresh network (for PPO, the update that follows treats the earlier part like any off-policy data
PPO's clipping limits). A periodic reset happens at the first rollout end (just before the next ``train()``) at which
the algorithm's gradient-step count ``_n_updates`` has reached the next multiple of ``every_n_updates``.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from torch import nn

from syre_rl.interventions._init import fresh_parameters, online_modules, target_name, target_networks
from syre_rl.plasticity.capture import find_layers
from syre_rl.plasticity.grad_norms import policy_optimizers
from syre_rl.plasticity.task_switch import TaskSwitchDetector
from syre_rl.policies import find_decay
from syre_rl.validation import check_int

ResetScope = Literal["all", "heads", "last_layers"]
RESET_SCOPES: tuple[str, ...] = ("all", "heads", "last_layers")
_HEADS = ("action_net", "value_net")


def last_layers(policy: nn.Module, n_layers: int = 1) -> list[nn.Module]:
    """The weight layers (Linear, convolution) of ``policy`` within ``n_layers`` of an output: depth 0 for a layer
    that feeds no hidden layer (an output head), ``1 + min(depth of its consumers)`` otherwise. Target networks are
    left out (see :func:`syre_rl.plasticity.capture.find_layers`).

    :param n_layers: how many layers back from the outputs, >= 1. Default 1 (the output heads).
    """
    n_layers = check_int("n_layers", n_layers, low=1)
    hidden, weights = find_layers(policy)
    consumers: dict[int, list[nn.Module]] = {}
    for layer in hidden:
        if layer.in_layer is not None:
            consumers.setdefault(id(layer.in_layer), []).extend(layer.out_layers)
    depths: dict[int, int] = {}

    def depth(module: nn.Module) -> int:
        if id(module) not in depths:
            outs = [m for m in consumers.get(id(module), []) if m is not module]
            depths[id(module)] = 1 + min(depth(m) for m in outs) if outs else 0
        return depths[id(module)]

    return [w.module for w in weights if depth(w.module) < n_layers]


@torch.no_grad()
def reset_policy(policy: nn.Module, scope: ResetScope = "all", n_layers: int = 1) -> list[str]:
    """Re-initialise ``policy`` (or its last layers) as SB3 builds it and drop the optimizer state of the reset
    parameters; target networks take the fresh online values of the reset parameters.

    :param scope: ``"all"``, ``"heads"`` or ``"last_layers"`` (see the module docstring). Default ``"all"``.
    :param n_layers: for ``"last_layers"``: how many weight layers back from the outputs, >= 1. Default 1.
    :return: the names of the reset online parameters.
    """
    if scope not in RESET_SCOPES:
        raise ValueError(f"reset scope must be one of {RESET_SCOPES}, got {scope!r}")
    targets = target_networks(policy)
    modules: list[nn.Module] | None
    if scope == "all":
        modules = online_modules(policy) if targets else None
    elif scope == "heads" and any(isinstance(getattr(policy, name, None), nn.Module) for name in _HEADS):
        heads = [getattr(policy, name) for name in _HEADS if isinstance(getattr(policy, name, None), nn.Module)]
        modules = [policy] + [m for head in heads for m in head.modules()]
    else:
        layers = last_layers(policy, 1 if scope == "heads" else n_layers)
        modules = [policy] + [m for layer in layers for m in layer.modules()]
    fresh = fresh_parameters(policy, modules)
    params = dict(policy.named_parameters())
    for name, value in fresh.items():
        params[name].copy_(value)
    decay = find_decay(policy)
    if decay is not None:
        decay.reinitialised(fresh.keys())
    for name in fresh:
        follower = target_name(policy, name) if targets else None
        if follower is not None and follower in params:
            params[follower].copy_(params[name])
    reset = {id(params[name]) for name in fresh}
    for optimizer in policy_optimizers(policy):
        for param in [p for p in optimizer.state if id(p) in reset]:
            del optimizer.state[param]
    return sorted(fresh)


@torch.no_grad()
def reset_entropy_coefficient(model: Any) -> bool:
    """Put SAC's learned entropy coefficient back at its initial value (``ent_coef="auto"``: 1, ``"auto_0.1"``: 0.1)
    and drop its optimizer state, in place.

    :return: True if the model has a learned entropy coefficient (and it was reset), False otherwise.
    """
    log_ent_coef = getattr(model, "log_ent_coef", None)
    optimizer = getattr(model, "ent_coef_optimizer", None)
    if not isinstance(log_ent_coef, torch.Tensor) or not isinstance(optimizer, torch.optim.Optimizer):
        return False
    ent_coef = str(getattr(model, "ent_coef", "auto"))
    init_value = float(ent_coef.split("_")[1]) if "_" in ent_coef else 1.0
    log_ent_coef.copy_(torch.log(torch.ones_like(log_ent_coef) * init_value))  # as SAC._setup_model computes it
    optimizer.state.pop(log_ent_coef, None)
    return True


class Reset(BaseCallback):
    """Re-initialise the policy (or its last layers) and its optimizer state at every task switch and/or every
    ``every_n_updates`` gradient steps (off-policy), keeping the replay buffer.

    :param scope: ``"all"`` (whole agent, default), ``"heads"`` (output layers) or ``"last_layers"``.
    :param n_layers: for ``"last_layers"``: the number of weight layers back from the outputs, >= 1; None: 1.
        Refused with another scope.
    :param on_task_switch: reset at the first step of each new task (``info["task_switch"]``). Default True.
    :param every_n_updates: off-policy: also reset every n gradient steps; 0: never. Default 0. Refused for
        on-policy algorithms.
    :param reset_ent_coef: also reset SAC's learned entropy coefficient; None: with scope ``"all"`` only (it is part
        of the agent). Default None.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self,
        scope: ResetScope = "all",
        n_layers: int | None = None,
        on_task_switch: bool = True,
        every_n_updates: int = 0,
        reset_ent_coef: bool | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if scope not in RESET_SCOPES:
            raise ValueError(f"reset scope must be one of {RESET_SCOPES}, got {scope!r}")
        if n_layers is not None and scope != "last_layers":
            raise ValueError(f"n_layers={n_layers!r} applies to scope 'last_layers' only, got scope {scope!r}")
        self.scope: ResetScope = scope
        self.n_layers = 1 if n_layers is None else check_int("n_layers", n_layers, low=1)
        self.every_n_updates = check_int("every_n_updates", every_n_updates)
        if not on_task_switch and self.every_n_updates == 0:
            raise ValueError("Reset never fires: set on_task_switch=True or every_n_updates > 0")
        self.on_task_switch = bool(on_task_switch)
        if reset_ent_coef is not None and not isinstance(reset_ent_coef, bool):
            raise ValueError(f"reset_ent_coef must be true, false or null, got {reset_ent_coef!r}")
        self.reset_ent_coef = scope == "all" if reset_ent_coef is None else reset_ent_coef
        self._ent_coef_asked = reset_ent_coef is True
        self.n_resets = 0
        self.reset_steps: list[int] = []
        self._switch = TaskSwitchDetector()
        self._next_update_check = self.every_n_updates

    def state_dict(self) -> dict[str, Any]:
        """Counters, reset steps and the task-switch detector (picklable), for an exact resume. The fresh draws come
        from torch's global generator, which the run's checkpoint saves."""
        return {
            "n_resets": self.n_resets,
            "reset_steps": list(self.reset_steps),
            "switch": copy.deepcopy(self._switch),
            "next_update_check": self._next_update_check,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.n_resets = int(state["n_resets"])
        self.reset_steps = [int(step) for step in state["reset_steps"]]
        self._switch = copy.deepcopy(state["switch"])
        self._next_update_check = int(state.get("next_update_check", self.every_n_updates))

    def _on_training_start(self) -> None:
        name = type(self.model).__name__
        if self.every_n_updates and not isinstance(self.model, OffPolicyAlgorithm):
            raise ValueError(
                f"Reset every_n_updates={self.every_n_updates} counts gradient steps of off-policy algorithms; "
                f"{name} is on-policy: reset on task switches instead"
            )
        if self._ent_coef_asked and not isinstance(getattr(self.model, "log_ent_coef", None), torch.Tensor):
            raise ValueError(f"reset_ent_coef=True needs a learned entropy coefficient (SAC, ent_coef='auto'); {name}")

    def reset(self) -> None:
        """Reset the model's policy (and entropy coefficient) now."""
        reset_policy(self.model.policy, self.scope, self.n_layers)
        if self.reset_ent_coef:
            reset_entropy_coefficient(self.model)
        self.n_resets += 1
        self.reset_steps.append(int(self.num_timesteps))
        self.logger.record("interventions/resets", self.n_resets)

    def _on_step(self) -> bool:
        if self.on_task_switch and self._switch(self.locals.get("infos")):
            self.reset()
            if self.verbose:
                print(f"reset ({self.scope}) at step {self.num_timesteps}, task {self._switch.task_id}")
        return True

    def _on_rollout_end(self) -> None:
        if not self.every_n_updates or not isinstance(self.model, OffPolicyAlgorithm):
            return
        updates = int(self.model._n_updates)
        if updates >= self._next_update_check:
            self._next_update_check = (updates // self.every_n_updates + 1) * self.every_n_updates
            self.reset()
            if self.verbose:
                print(f"reset ({self.scope}) at step {self.num_timesteps}, after {updates} gradient steps")


class ResetOnTaskSwitch(Reset):
    """:class:`Reset`, by default at every task switch only: the name the PPO recipes use (``reset_on_switch``).

    Same arguments as :class:`Reset`.
    """
