"""Plasticity injection (Nikishin et al., "Deep Reinforcement Learning with Plasticity Injection", NeurIPS 2023), as a
policy class that can grow new output heads and an SB3 callback that tells it when.

At an injection, each output head ``h_old`` (``action_net``, ``value_net``) is frozen and becomes

    ``h(x) = h_old(x) + (h_new(x) - h_new_frozen(x))``

where ``h_new`` is a fresh head drawn as SB3 draws it (orthogonal init, gain 0.01 for ``action_net``, 1 for
``value_net``) and ``h_new_frozen`` a frozen copy of it. The output is unchanged at the moment of injection, only
``h_new`` learns from then on, and the shared hidden layers keep training (the paper injects into the head and keeps
the encoder trainable). ``log_std`` of a Gaussian policy is a distribution parameter, not a head, and stays trainable.
Each injection wraps the heads once more, so a second one freezes the whole composite head of the first.

The new head's parameters join the policy's optimizer as a new parameter group with the optimizer's settings and the
current learning rate; SB3 sets the learning rate of every group from its schedule at each update, so the schedule
applies to them too.

**Save, load and resume.** The policy's structure after ``k`` injections is rebuilt by the policy class from one
keyword argument, ``n_injections=k``: the constructor builds the policy as SB3 does, then injects ``k`` times, which
recreates the same modules and the same optimizer parameter groups. The callback keeps the algorithm's
``policy_kwargs["n_injections"]`` up to date, so ``model.save`` stores it and ``PPO.load`` (and a run resumed from a
checkpoint) rebuilds the injected policy before loading its weights and optimizer state.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from syre_rl.interventions._init import fresh_module_parameters
from syre_rl.interventions.layernorm import LayerNormActorCriticPolicy
from syre_rl.plasticity.task_switch import TaskSwitchDetector
from syre_rl.policies import find_decay
from syre_rl.validation import check_int

#: The output heads of an SB3 actor-critic policy that an injection treats.
INJECTED_HEADS: tuple[str, ...] = ("action_net", "value_net")


class InjectedHead(nn.Module):
    """``old(x) + new(x) - new_frozen(x)``: a frozen head plus a fresh trainable one, minus its frozen copy.

    :param old: the head before the injection (its parameters are frozen here).
    :param new: the fresh head, trainable.
    :param new_frozen: a frozen copy of ``new`` as it was drawn.
    """

    def __init__(self, old: nn.Module, new: nn.Module, new_frozen: nn.Module) -> None:
        super().__init__()
        self.old = old.requires_grad_(False)
        self.new = new.requires_grad_(True)
        self.new_frozen = new_frozen.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.old(x) + (self.new(x) - self.new_frozen(x))


def _template(head: nn.Module, name: str) -> nn.Linear:
    """The innermost original ``Linear`` of a head (the head itself before the first injection)."""
    for module in head.modules():
        if isinstance(module, nn.Linear):
            return module
    raise ValueError(f"plasticity injection needs a Linear output head; {name} is a {type(head).__name__}")


@torch.no_grad()
def inject_heads(policy: ActorCriticPolicy) -> list[str]:
    """Freeze the policy's output heads and add a fresh trainable head and its frozen copy to each (see the module
    docstring); the new parameters join ``policy.optimizer`` as one new parameter group.

    :param policy: an SB3 actor-critic policy with ``Linear`` heads ``action_net`` and ``value_net``.
    :return: the names of the new trainable parameters.
    :raises ValueError: a head is not built from ``Linear`` layers.
    """
    trainable: list[nn.Parameter] = []
    for name in INJECTED_HEADS:
        head = getattr(policy, name)
        template = _template(head, name)
        fresh = fresh_module_parameters(policy, template)  # drawn with SB3's gain for this head
        new = copy.deepcopy(template)
        for param_name, value in fresh.items():
            getattr(new, param_name).copy_(value)
        new_frozen = copy.deepcopy(new)
        setattr(policy, name, InjectedHead(head, new, new_frozen))
        trainable += list(new.parameters())
    optimizer = getattr(policy, "optimizer", None)
    if isinstance(optimizer, torch.optim.Optimizer):
        optimizer.add_param_group({"params": trainable, "lr": optimizer.param_groups[0]["lr"]})
    ids = {id(p) for p in trainable}
    return [name for name, p in policy.named_parameters() if id(p) in ids]


class InjectionMixin:
    """Mixin for an SB3 actor-critic policy class: the keyword ``n_injections`` (default 0) rebuilds a policy that
    was injected that many times, and :meth:`inject` injects once more. Put it first among the bases."""

    n_injections: int

    def __init__(self, *args: Any, n_injections: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        count = check_int("n_injections", n_injections)
        self.n_injections = 0
        for _ in range(count):
            self.inject()

    def inject(self) -> list[str]:
        """Inject once (:func:`inject_heads`) and count it.

        :return: the names of the new trainable parameters.
        """
        names = inject_heads(self)  # type: ignore[arg-type]  # the mixin is used with ActorCriticPolicy
        self.n_injections += 1
        return names

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data: dict[str, Any] = super()._get_constructor_parameters()  # type: ignore[misc]
        data["n_injections"] = self.n_injections
        return data


class InjectionActorCriticPolicy(InjectionMixin, ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) that plasticity injection can treat; same arguments plus
    ``n_injections`` (number of injections already done, for loading; default 0)."""


class InjectionLayerNormPolicy(InjectionMixin, LayerNormActorCriticPolicy):
    """:class:`~syre_rl.interventions.layernorm.LayerNormActorCriticPolicy` that plasticity injection can treat;
    same arguments plus ``n_injections``."""


class PlasticityInjection(BaseCallback):
    """Inject plasticity into the policy's output heads at each task switch and/or at given steps.

    The policy must be built by a class with :class:`InjectionMixin` (e.g. :class:`InjectionActorCriticPolicy`) so
    that a saved model loads with its injected structure; an anchored decay (syre, L2, L2-Init) on the same policy is
    refused, since it would keep changing the frozen heads.

    :param on_task_switch: inject at the first step whose infos announce a new task (``info["task_switch"]``).
        Default True.
    :param at_steps: environment steps (all sub-envs together, each >= 1) at which to inject too: at the first step
        where the step count reaches each. Default none.
    :param verbose: SB3 verbosity.
    """

    def __init__(self, on_task_switch: bool = True, at_steps: Sequence[int] = (), verbose: int = 0) -> None:
        super().__init__(verbose)
        if not isinstance(on_task_switch, bool):
            raise ValueError(f"on_task_switch must be true or false, got {on_task_switch!r}")
        if isinstance(at_steps, (str, bytes)) or not isinstance(at_steps, Sequence):
            raise ValueError(f"at_steps must be a list of positive ints, got {at_steps!r}")
        self.on_task_switch = on_task_switch
        self.at_steps = sorted(check_int(f"at_steps[{i}]", s, low=1) for i, s in enumerate(at_steps))
        self.n_injections = 0
        self.injection_steps: list[int] = []
        self._next_at = 0
        self._switch = TaskSwitchDetector()

    def state_dict(self) -> dict[str, Any]:
        """Counters, injection steps and the task-switch detector (picklable), for an exact resume. The injected
        structure itself travels with the model (``policy_kwargs["n_injections"]``)."""
        return {
            "n_injections": self.n_injections,
            "injection_steps": list(self.injection_steps),
            "next_at": self._next_at,
            "switch": copy.deepcopy(self._switch),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.n_injections = int(state["n_injections"])
        self.injection_steps = [int(step) for step in state["injection_steps"]]
        self._next_at = int(state["next_at"])
        self._switch = copy.deepcopy(state["switch"])

    def _on_training_start(self) -> None:
        policy = self.model.policy
        if not isinstance(policy, InjectionMixin):
            raise ValueError(
                f"plasticity injection needs a policy class with InjectionMixin, got {type(policy).__name__}; "
                "accepted: syre_rl.interventions.injection.InjectionActorCriticPolicy, InjectionLayerNormPolicy "
                "or a class of your own with InjectionMixin first among its bases"
            )
        if find_decay(policy) is not None:
            raise ValueError("plasticity injection cannot be combined with an anchored decay (syre, L2, L2-Init)")

    def _on_step(self) -> bool:
        switched = self.on_task_switch and self._switch(self.locals.get("infos"))
        due = False
        while self._next_at < len(self.at_steps) and self.num_timesteps >= self.at_steps[self._next_at]:
            self._next_at += 1
            due = True
        if switched or due:
            self._inject()
        return True

    def _inject(self) -> None:
        policy = self.model.policy
        assert isinstance(policy, InjectionMixin)  # checked at training start
        policy.inject()
        # SB3 saves policy_kwargs with the model and builds the policy from them on load.
        self.model.policy_kwargs = {**self.model.policy_kwargs, "n_injections": policy.n_injections}
        self.n_injections += 1
        self.injection_steps.append(int(self.num_timesteps))
        self.logger.record("interventions/injections", self.n_injections)
        if self.verbose:
            print(f"plasticity injection at step {self.num_timesteps} ({policy.n_injections} so far)")
