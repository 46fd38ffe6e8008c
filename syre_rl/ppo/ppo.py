"""SyrePPO and AnchoredDecayPPO: Stable-Baselines3's PPO with an anchored decay on its policy, of any class."""

from __future__ import annotations

from typing import ClassVar

from stable_baselines3 import PPO
from stable_baselines3.common.policies import BasePolicy

from syre_rl.anchored_algorithm import AnchoredDecayAlgorithm, SyreAlgorithm
from syre_rl.decay import Anchor
from syre_rl.policies import (
    AnchoredDecayActorCriticCnnPolicy,
    AnchoredDecayActorCriticPolicy,
    AnchoredDecayMultiInputActorCriticPolicy,
    SyreActorCriticCnnPolicy,
    SyreActorCriticPolicy,
    SyreMultiInputActorCriticPolicy,
)


class AnchoredDecayPPO(AnchoredDecayAlgorithm, PPO):
    """PPO (Schulman et al. 2017) with weight decay toward an anchor: L2 (``anchor="zero"``, the default), L2-Init
    (``"init"``) or syre (``"syre"``, as :class:`SyrePPO`).

    Same arguments as :class:`stable_baselines3.PPO`, plus the decay settings of
    :class:`~syre_rl.anchored_algorithm.AnchoredDecayAlgorithm`; same training loop and ``save``/``load``.
    ``policy`` is ``"MlpPolicy"``, ``"CnnPolicy"``, ``"MultiInputPolicy"`` or any ``ActorCriticPolicy`` subclass.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": AnchoredDecayActorCriticPolicy,
        "CnnPolicy": AnchoredDecayActorCriticCnnPolicy,
        "MultiInputPolicy": AnchoredDecayMultiInputActorCriticPolicy,
    }
    default_anchor: ClassVar[Anchor] = "zero"


class SyrePPO(SyreAlgorithm, AnchoredDecayPPO):
    """PPO whose networks are trained as ``theta + theta_0`` with weight decay on ``theta`` (syre).

    A drop-in replacement for :class:`stable_baselines3.PPO`: same arguments, same training loop (PPO's own, not a
    copy), same ``save``/``load``; ``policy`` may be any ``ActorCriticPolicy`` subclass, which is treated with syre
    after its own build and initialisation. The syre settings (see :class:`~syre_rl.decay.DecayConfig`):

    :param weight_decay: gamma, decay of ``theta = w - theta_0``. Default 0.002 (paper's RL setting).
    :param sigma_scale: ``sigma_0 = sigma_scale / sqrt(fan_in)``. Default 0.01 (paper).
    :param sigma_0: absolute offset std for every tensor instead. Default None.
    :param decay_mode: ``"coupled"`` (default, the paper's PPO runs) or ``"decoupled"``.
    :param ar_spread: syre-ar diagonal spread in [0, 1). Default 0.
    :param offset_seed: seed of ``theta_0``; None follows ``seed``.
    :param decay_exclude: parameter names left untouched. Default ``("log_std",)``.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": SyreActorCriticPolicy,
        "CnnPolicy": SyreActorCriticCnnPolicy,
        "MultiInputPolicy": SyreMultiInputActorCriticPolicy,
    }
