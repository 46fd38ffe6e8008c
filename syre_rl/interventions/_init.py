"""Fresh initial values for the parameters of an SB3 actor-critic policy, drawn the way SB3 draws them.

Shrink and perturb, ReDo, continual backprop and resets all need "a fresh initialisation" of some layers. These
helpers re-run the policy's own initialiser on a copy of each layer, so the live network is never touched while
drawing: PyTorch's default ``reset_parameters`` first, then, when the policy uses ``ortho_init``, SB3's orthogonal
init with the gain SB3 gives that part of the network (features extractors and ``mlp_extractor`` sqrt(2),
``action_net`` 0.01, ``value_net`` 1). ``log_std`` restarts at the policy's ``log_std_init``. Random draws come from
torch's global generator, so they follow the algorithm's ``seed``.
"""

from __future__ import annotations

import copy
import math

import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

# SB3's orthogonal-init gains by attribute of ActorCriticPolicy (see ActorCriticPolicy._build).
_SB3_GAINS: tuple[tuple[str, float], ...] = (
    ("features_extractor", math.sqrt(2)),
    ("pi_features_extractor", math.sqrt(2)),
    ("vf_features_extractor", math.sqrt(2)),
    ("mlp_extractor", math.sqrt(2)),
    ("action_net", 0.01),
    ("value_net", 1.0),
)
# Parameters held directly by the policy and restarted at a constant.
_POLICY_CONSTANTS = ("log_std",)


def init_gain(policy: nn.Module, module: nn.Module) -> float | None:
    """SB3's orthogonal-init gain for ``module`` inside ``policy``; None when SB3 does not re-initialise it.

    :param policy: an SB3 ``ActorCriticPolicy`` (other policies give None: PyTorch's default init only).
    :param module: a sub-module of ``policy``.
    """
    if not isinstance(policy, ActorCriticPolicy) or not policy.ortho_init:
        return None
    for attr, gain in _SB3_GAINS:
        part = getattr(policy, attr, None)
        if isinstance(part, nn.Module) and any(m is module for m in part.modules()):
            return gain
    return None


def _reinit_in_place(module: nn.Module, gain: float | None) -> None:
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
    if gain is not None:
        ActorCriticPolicy.init_weights(module, gain=gain)


@torch.no_grad()
def fresh_module_parameters(policy: nn.Module, module: nn.Module) -> dict[str, torch.Tensor]:
    """A fresh initial value of each parameter held directly by ``module`` (not its children), by local name.

    Drawn on a copy of the module (children removed), so the live module keeps its values.

    :raises ValueError: when ``module`` has parameters but no initialiser (no ``reset_parameters`` and no SB3 init).
    """
    own = dict(module.named_parameters(recurse=False))
    if not own:
        return {}
    if module is policy:
        return {name: _policy_constant(policy, name, param) for name, param in own.items()}
    shell = copy.copy(module)  # shallow: share nothing we write to
    shell._parameters = {name: nn.Parameter(p.detach().clone(), p.requires_grad) for name, p in own.items()}
    shell._modules = {}
    gain = init_gain(policy, module)
    if not callable(getattr(shell, "reset_parameters", None)) and gain is None:
        raise ValueError(
            f"cannot draw a fresh initialisation for {type(module).__name__}: it has no reset_parameters() and SB3 "
            "does not initialise it"
        )
    _reinit_in_place(shell, gain)
    return {name: p.detach() for name, p in shell._parameters.items() if p is not None}


def _policy_constant(policy: nn.Module, name: str, param: torch.Tensor) -> torch.Tensor:
    if name in _POLICY_CONSTANTS:
        return torch.full_like(param, float(getattr(policy, "log_std_init", 0.0)))
    raise ValueError(f"cannot draw a fresh initialisation for the policy's own parameter {name!r}")


def fresh_parameters(policy: nn.Module, modules: list[nn.Module] | None = None) -> dict[str, torch.Tensor]:
    """Fresh initial values for the parameters of ``policy`` (or of the listed sub-modules), by full name.

    :param policy: the policy.
    :param modules: restrict to parameters held directly by these modules; None takes every module.
    """
    wanted = None if modules is None else {id(m) for m in modules}
    fresh: dict[str, torch.Tensor] = {}
    for owner_name, owner in policy.named_modules():
        if wanted is not None and id(owner) not in wanted:
            continue
        for local_name, value in fresh_module_parameters(policy, owner).items():
            fresh[f"{owner_name}.{local_name}" if owner_name else local_name] = value
    return fresh


def target_networks(policy: nn.Module) -> dict[str, str]:
    """The target networks of an SB3 off-policy policy: online child name -> target child name (``"critic"`` ->
    ``"critic_target"``, ``"q_net"`` -> ``"q_net_target"``, ...); empty for policies without targets (PPO)."""
    return {
        name.removesuffix("_target"): name
        for name, child in policy.named_children()
        if name.endswith("_target") and isinstance(getattr(policy, name.removesuffix("_target"), None), nn.Module)
    }


def online_modules(policy: nn.Module) -> list[nn.Module]:
    """Every module of ``policy`` outside its target networks (the policy itself included)."""
    targets = [getattr(policy, name) for name in target_networks(policy).values()]
    inside = {id(m) for target in targets for m in target.modules()}
    return [m for m in policy.modules() if id(m) not in inside]


def target_name(policy: nn.Module, name: str) -> str | None:
    """The name of the target-network parameter that follows the online parameter ``name`` (``"critic.qf0.0.weight"``
    -> ``"critic_target.qf0.0.weight"``), or None when it has none."""
    head, _, rest = name.partition(".")
    target = target_networks(policy).get(head)
    return None if target is None or not rest else f"{target}.{rest}"
