"""Stable-Baselines3 actor-critic policies whose networks are treated with syre.

Each class is SB3's own policy, built exactly as SB3 builds it (orthogonal init, Adam with eps=1e-5), then treated
with :func:`syre_rl.syre.apply_syre`: the weights are shifted by the random offset ``theta_0`` and the policy's
optimizer decays them toward ``theta_0``. Inference is SB3's unchanged forward pass, and ``policy.state_dict()`` has
SB3's keys, so the trained weights load strictly into a plain SB3 policy. ``theta_0`` is saved with the optimizer's
state, which SB3 saves and restores in ``save``/``load``.

SB3's ``log_std`` (the state-independent std of Gaussian actions) is excluded by default: it is a distribution
parameter, not a network weight, carries no symmetry of the network, and decaying it would pull the exploration noise
toward ``exp(theta_0) ~ 1``. Pass ``syre_exclude=()`` to include it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import Schedule

from syre_rl.syre import AnchoredDecay, DecayMode, Syre, apply_syre


def reject_optimizer_weight_decay(optimizer: th.optim.Optimizer, setting: str) -> None:
    """Refuse an optimizer that decays toward 0 by itself (e.g. AdamW's default), on top of an anchored decay.

    :param setting: the argument to use instead, named in the error.
    """
    for group in optimizer.param_groups:
        if group.get("weight_decay", 0.0):
            raise ValueError(
                f"optimizer weight_decay={group['weight_decay']!r} would decay the weights toward 0 on top of the "
                f"anchored decay; set {setting} instead and leave the optimizer's weight_decay at 0"
            )


class AnchoredDecayPolicyBase(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` whose optimizer carries an :class:`~syre_rl.syre.AnchoredDecay` (syre, L2,
    L2-Init): the plumbing they share. A subclass builds SB3's policy, then calls :meth:`_install_decay`.

    :attr:`decay` is the attached decay; :attr:`decay_settings` are the subclass's own constructor arguments, saved
    with the policy so that ``policy.save``/``load`` rebuild it.
    """

    decay: AnchoredDecay
    decay_settings: dict[str, Any]

    def _install_decay(self, settings: dict[str, Any], weight_decay_setting: str, decay: AnchoredDecay) -> None:
        """Check the optimizer, keep the settings and attach ``decay`` to ``self.optimizer``."""
        reject_optimizer_weight_decay(self.optimizer, weight_decay_setting)
        self.decay_settings = settings
        self.decay = decay.attach(self.optimizer)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.decay.reattach(self.optimizer)  # copy.deepcopy and pickle drop the optimizer's hooks

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(self.decay_settings)
        return data


class SyreActorCriticPolicy(AnchoredDecayPolicyBase):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) with syre-treated networks.

    Takes every argument of :class:`stable_baselines3.common.policies.ActorCriticPolicy`, plus:

    :param syre_weight_decay: gamma >= 0, decay of ``theta = w - theta_0`` (torch weight_decay convention).
        Default 0.002, the paper's RL setting.
    :param syre_sigma_scale: ``sigma_0 = syre_sigma_scale / sqrt(fan_in)`` per tensor. Default 0.01 (paper).
    :param syre_sigma_0: one absolute offset std for every tensor instead of the per-tensor rule. Default None.
    :param syre_mode: ``"coupled"`` (gradient term, like Adam's weight_decay; paper's PPO runs) or ``"decoupled"``.
    :param syre_ar_spread: syre-ar diagonal spread in [0, 1). Default 0 (basic syre).
    :param syre_seed: seed for ``theta_0``; None follows torch's global RNG (and so the algorithm's ``seed``).
    :param syre_exclude: parameter names left untouched. Default ``("log_std",)``.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        syre_weight_decay: float = 0.002,
        syre_sigma_scale: float = 0.01,
        syre_sigma_0: float | None = None,
        syre_mode: DecayMode = "coupled",
        syre_ar_spread: float = 0.0,
        syre_seed: int | None = None,
        syre_exclude: Sequence[str] = ("log_std",),
        **kwargs: Any,
    ) -> None:
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
        settings = dict(
            syre_weight_decay=syre_weight_decay,
            syre_sigma_scale=syre_sigma_scale,
            syre_sigma_0=syre_sigma_0,
            syre_mode=syre_mode,
            syre_ar_spread=syre_ar_spread,
            syre_seed=syre_seed,
            syre_exclude=tuple(syre_exclude),
        )
        syre = apply_syre(
            self,
            weight_decay=syre_weight_decay,
            sigma_scale=syre_sigma_scale,
            sigma_0=syre_sigma_0,
            mode=syre_mode,
            ar_spread=syre_ar_spread,
            seed=syre_seed,
            exclude=tuple(syre_exclude),
        )
        # The drawn seed is saved, so that a policy rebuilt from its constructor parameters gets the same theta_0
        # even where the optimizer state (which also holds theta_0) is not loaded.
        self._install_decay({**settings, "syre_seed": syre.seed}, "syre_weight_decay", syre)

    @property
    def syre(self) -> Syre:
        """The :class:`~syre_rl.syre.Syre` object: ``theta_0`` and the decay toward it."""
        return self.decay  # type: ignore[return-value]


class SyreActorCriticCnnPolicy(SyreActorCriticPolicy):
    """SB3's ``ActorCriticCnnPolicy`` (CnnPolicy, NatureCNN features) with syre; arguments as
    :class:`SyreActorCriticPolicy`."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class SyreMultiInputActorCriticPolicy(SyreActorCriticPolicy):
    """SB3's ``MultiInputActorCriticPolicy`` (MultiInputPolicy, Dict observations) with syre; arguments as
    :class:`SyreActorCriticPolicy`."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


# SB3 aliases, used by SyrePPO.policy_aliases.
MlpPolicy = SyreActorCriticPolicy
CnnPolicy = SyreActorCriticCnnPolicy
MultiInputPolicy = SyreMultiInputActorCriticPolicy
