"""L2 and L2-Init as SB3 policies: weight decay toward a fixed anchor, sharing :class:`syre_rl.syre.AnchoredDecay`.

L2 (anchor 0), L2-Init (Kumar et al., "Maintaining Plasticity in Continual Learning via Regenerative
Regularization", 2023: anchor = the initial weights, squared penalty) and syre (anchor = a random ``theta_0``) are one
operation with different anchors. :class:`AnchoredDecayActorCriticPolicy` builds SB3's policy as usual, then decays
the selected parameters toward zeros or toward a copy of their initial values, with the same parameter selection
(``log_std`` excluded) and the same coupled mode as :class:`syre_rl.policies.SyreActorCriticPolicy`, so ``ppo_l2``,
``ppo_l2_init`` and ``syre_ppo`` differ only in the anchor. The anchors live in the optimizer's ``state_dict``, so
SB3's ``save``/``load`` restore them bit-exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from syre_rl.policies import AnchoredDecayPolicyBase
from syre_rl.syre import DECAY_MODES, AnchoredDecay, DecayMode, select_parameters

AnchorKind = Literal["zero", "init"]
ANCHOR_KINDS: tuple[str, ...] = ("zero", "init")


def build_anchored_decay(
    module: nn.Module,
    anchor: AnchorKind,
    weight_decay: float = 0.002,
    mode: DecayMode = "coupled",
    exclude: Sequence[str] = ("log_std",),
    optimizer: torch.optim.Optimizer | None = None,
) -> AnchoredDecay:
    """Decay the trainable parameters of ``module`` toward zeros (``"zero"``, L2) or their current values (``"init"``,
    L2-Init; call it right after initialisation).

    :param anchor: ``"zero"`` or ``"init"``.
    :param weight_decay: gamma >= 0, torch convention (gradient term ``gamma * (w - anchor)``). Default 0.002.
    :param mode: ``"coupled"`` (default) or ``"decoupled"``.
    :param exclude: parameter names (or suffixes after a dot) left undecayed. Default ``("log_std",)``.
    :param optimizer: optimizer to attach the decay to now.
    """
    if anchor not in ANCHOR_KINDS:
        raise ValueError(f"decay anchor must be one of {ANCHOR_KINDS}, got {anchor!r}")
    if mode not in DECAY_MODES:
        raise ValueError(f"decay mode must be one of {DECAY_MODES}, got {mode!r}")
    selected = select_parameters(module, exclude=tuple(exclude))
    params = [(name, param) for name, _, _, param in selected]
    anchors = [torch.zeros_like(p) if anchor == "zero" else p.detach().clone() for _, p in params]
    decay = AnchoredDecay(params, anchors, weight_decay=weight_decay, mode=mode, reanchor_on_reinit=anchor == "init")
    if optimizer is not None:
        decay.attach(optimizer)
    return decay


class AnchoredDecayActorCriticPolicy(AnchoredDecayPolicyBase):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) with weight decay toward zeros (L2) or the initial weights (L2-Init).

    Takes every argument of :class:`stable_baselines3.common.policies.ActorCriticPolicy`, plus:

    :param decay_anchor: ``"zero"`` (L2) or ``"init"`` (L2-Init). Default ``"zero"``.
    :param decay_weight_decay: gamma >= 0 (torch weight_decay convention). Default 0.002, as syre's.
    :param decay_mode: ``"coupled"`` (like Adam's weight_decay; default) or ``"decoupled"`` (AdamW-style).
    :param decay_exclude: parameter names left undecayed. Default ``("log_std",)``.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        decay_anchor: AnchorKind = "zero",
        decay_weight_decay: float = 0.002,
        decay_mode: DecayMode = "coupled",
        decay_exclude: Sequence[str] = ("log_std",),
        **kwargs: Any,
    ) -> None:
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)
        settings = dict(
            decay_anchor=decay_anchor,
            decay_weight_decay=decay_weight_decay,
            decay_mode=decay_mode,
            decay_exclude=tuple(decay_exclude),
        )
        decay = build_anchored_decay(self, decay_anchor, decay_weight_decay, decay_mode, decay_exclude)
        self._install_decay(settings, "decay_weight_decay", decay)

    @property
    def anchored_decay(self) -> AnchoredDecay:
        """The attached :class:`~syre_rl.syre.AnchoredDecay` (anchors: zeros or the initial weights)."""
        return self.decay


class AnchoredDecayActorCriticCnnPolicy(AnchoredDecayActorCriticPolicy):
    """SB3's ``ActorCriticCnnPolicy`` with anchored decay; arguments as :class:`AnchoredDecayActorCriticPolicy`."""

    def __init__(self, *args: Any, features_extractor_class: type = NatureCNN, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class AnchoredDecayMultiInputActorCriticPolicy(AnchoredDecayActorCriticPolicy):
    """SB3's ``MultiInputActorCriticPolicy`` with anchored decay; arguments as
    :class:`AnchoredDecayActorCriticPolicy`."""

    def __init__(self, *args: Any, features_extractor_class: type = CombinedExtractor, **kwargs: Any) -> None:
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)
