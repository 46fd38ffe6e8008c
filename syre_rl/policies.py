"""Anchored decays (syre, L2, L2-Init) on Stable-Baselines3 policies: on any policy, or built in by a policy class.

:func:`install_decay` treats any SB3 policy, once built and initialised as SB3 builds it, with a
:class:`~syre_rl.decay.DecayConfig`: syre shifts the weights by the random offset ``theta_0``, and the decay is
attached to the policy's optimizer(s), which then decay the weights toward the anchor. The forward pass is SB3's own
and ``policy.state_dict()`` has SB3's keys, so trained weights load strictly into the plain SB3 policy of the same
class. The anchors travel in the optimizer's state, which SB3 saves and restores in ``save``/``load``. The decay is
kept on the policy as ``policy.anchored_decay``.

The algorithms :class:`syre_rl.SyrePPO` and :class:`syre_rl.AnchoredDecayPPO` call :func:`install_decay` on
whatever policy class they are given. For SB3's own algorithms, the policy classes below build the decay themselves
from the same settings passed as ``policy_kwargs``: ``PPO(SyreActorCriticPolicy, env, policy_kwargs={...})``.

An optimizer that decays toward 0 by itself (``optimizer_kwargs={"weight_decay": ...}``, or AdamW's default) is
refused: it would add plain L2 on top of the anchored decay, silently turning syre and L2-Init into something else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from syre_rl.decay import Anchor, DecayConfig, build_decay
from syre_rl.plasticity.grad_norms import policy_optimizers
from syre_rl.syre import AnchoredDecay, DecayMode, Syre

# Attribute of a policy that holds its AnchoredDecay.
DECAY_ATTRIBUTE = "anchored_decay"


def reject_optimizer_weight_decay(optimizer: th.optim.Optimizer) -> None:
    """Refuse an optimizer that decays toward 0 by itself (e.g. AdamW's default), on top of an anchored decay."""
    for group in optimizer.param_groups:
        if group.get("weight_decay", 0.0):
            raise ValueError(
                f"optimizer weight_decay={group['weight_decay']!r} would decay the weights toward 0 on top of the "
                "anchored decay; set the decay's weight_decay instead and leave the optimizer's weight_decay at 0"
            )


def find_decay(policy: nn.Module) -> AnchoredDecay | None:
    """The anchored decay installed on ``policy``, or None."""
    decay = getattr(policy, DECAY_ATTRIBUTE, None)
    return decay if isinstance(decay, AnchoredDecay) else None


def install_decay(policy: nn.Module, config: DecayConfig) -> AnchoredDecay:
    """Treat an SB3 policy, built and initialised, with an anchored decay; works for any policy class.

    The decay treats the parameters that the policy's optimizers train (less ``config.decay_exclude``), so target
    networks, which SB3 updates by Polyak averaging and no optimizer trains, are left out; they are then set to the
    shifted online networks, so they too hold ``w = theta + theta_0`` from the start.

    :param policy: the policy; its optimizer(s) must exist (SB3 builds them in the policy's constructor).
    :param config: the decay settings.
    :return: the decay, also kept as ``policy.anchored_decay``.
    :raises ValueError: the policy already has an anchored decay or no optimizer, or an optimizer decays by itself.
    """
    if find_decay(policy) is not None:
        raise ValueError(f"{type(policy).__name__} already has an anchored decay")
    optimizers = policy_optimizers(policy)
    if not optimizers:
        raise ValueError(f"{type(policy).__name__} has no optimizer to attach the anchored decay to")
    for optimizer in optimizers:
        reject_optimizer_weight_decay(optimizer)
    trained = {id(p) for optimizer in optimizers for group in optimizer.param_groups for p in group["params"]}
    decay = build_decay(policy, config, optimizers, include=lambda name, param: id(param) in trained)
    sync_target_networks(policy)
    setattr(policy, DECAY_ATTRIBUTE, decay)
    return decay


@th.no_grad()
def sync_target_networks(policy: nn.Module) -> list[str]:
    """Copy each online network into its target (``critic`` -> ``critic_target``, ``q_net`` -> ``q_net_target``,
    ...), as SB3 does when it builds an off-policy policy.

    :return: the names of the target networks that were set.
    """
    synced = []
    for name, target in policy.named_children():
        online = getattr(policy, name.removesuffix("_target"), None) if name.endswith("_target") else None
        if isinstance(online, nn.Module):
            target.load_state_dict(online.state_dict())
            synced.append(name)
    return synced


class AnchoredDecayActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) that builds an anchored decay after SB3's own build and init.

    Takes every argument of :class:`stable_baselines3.common.policies.ActorCriticPolicy`, plus the settings of
    :class:`~syre_rl.decay.DecayConfig` (``anchor`` defaults to ``"zero"`` here, i.e. L2). The settings are saved
    with the policy, so ``policy.save``/``load`` rebuild the same decay.

    :param anchor: ``"zero"`` (L2, default), ``"init"`` (L2-Init) or ``"syre"``.
    :param weight_decay: gamma >= 0 (torch convention). Default 0.002.
    :param decay_mode: ``"coupled"`` (default) or ``"decoupled"``.
    :param sigma_scale: syre: ``sigma_0 = sigma_scale / sqrt(fan_in)``. Default 0.01.
    :param sigma_0: syre: one absolute offset std instead. Default None.
    :param ar_spread: syre-ar spread in [0, 1). Default 0.
    :param offset_seed: syre: seed of ``theta_0``; None follows torch's global generator. Default None.
    :param decay_exclude: parameter names left untouched. Default ``("log_std",)``.
    """

    #: The attached decay (set by :func:`install_decay`).
    anchored_decay: AnchoredDecay
    #: The settings it was built with (the offset seed filled in), saved with the policy.
    decay_config: DecayConfig

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        anchor: Anchor = "zero",
        weight_decay: float = 0.002,
        decay_mode: DecayMode = "coupled",
        sigma_scale: float = 0.01,
        sigma_0: float | None = None,
        ar_spread: float = 0.0,
        offset_seed: int | None = None,
        decay_exclude: Sequence[str] = ("log_std",),
        **kwargs: Any,
    ) -> None:
        config = DecayConfig(  # checked before the network is built
            anchor, weight_decay, decay_mode, sigma_scale, sigma_0, ar_spread, offset_seed, tuple(decay_exclude)
        )
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
        decay = install_decay(self, config)
        # The drawn offset seed is saved, so a policy rebuilt from its constructor parameters gets the same theta_0
        # even where the optimizer state (which also holds theta_0) is not loaded.
        self.decay_config = dataclasses.replace(config, offset_seed=decay.seed) if isinstance(decay, Syre) else config

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self.decay_config.as_kwargs())
        return data


class SyreActorCriticPolicy(AnchoredDecayActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) with syre-treated networks: :class:`AnchoredDecayActorCriticPolicy`
    with the anchor ``"syre"`` (the only one it accepts); same arguments otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        anchor = kwargs.pop("anchor", "syre")
        if anchor != "syre":
            raise ValueError(f"{type(self).__name__} is syre (anchor 'syre'), got anchor={anchor!r}")
        super().__init__(*args, anchor="syre", **kwargs)

    @property
    def syre(self) -> Syre:
        """The :class:`~syre_rl.syre.Syre` object: ``theta_0`` and the decay toward it."""
        return self.anchored_decay  # type: ignore[return-value]  # the syre anchor builds a Syre


class AnchoredDecayActorCriticCnnPolicy(AnchoredDecayActorCriticPolicy):
    """SB3's ``ActorCriticCnnPolicy`` (NatureCNN features) with an anchored decay."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class AnchoredDecayMultiInputActorCriticPolicy(AnchoredDecayActorCriticPolicy):
    """SB3's ``MultiInputActorCriticPolicy`` (Dict observations) with an anchored decay."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class SyreActorCriticCnnPolicy(SyreActorCriticPolicy):
    """SB3's ``ActorCriticCnnPolicy`` (CnnPolicy, NatureCNN features) with syre."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class SyreMultiInputActorCriticPolicy(SyreActorCriticPolicy):
    """SB3's ``MultiInputActorCriticPolicy`` (MultiInputPolicy, Dict observations) with syre."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)
