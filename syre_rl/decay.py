"""One configuration for the three anchored decays (syre, L2, L2-Init), and building it on any torch module.

L2, L2-Init and syre are one operation, weight decay toward a fixed anchor (:class:`syre_rl.syre.AnchoredDecay`),
with three anchors:

=========  ========================================  ======================================================
anchor     the decay pulls the weights toward        method
=========  ========================================  ======================================================
``syre``   a random offset ``theta_0`` added once    syre (Ziyin, Xu and Chuang, ICLR 2025)
``zero``   0                                         L2 weight decay
``init``   the weights at initialisation             L2-Init (Kumar et al. 2023)
=========  ========================================  ======================================================

:class:`DecayConfig` holds their settings under one set of names, the same names everywhere: as arguments of
:class:`syre_rl.SyrePPO` and :class:`syre_rl.AnchoredDecayPPO`, as keyword arguments of the anchored-decay policies,
and as keys of agent recipes and ``--set`` overrides. :func:`build_decay` applies a configuration to a module.
Torch only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from syre_rl.syre import DECAY_MODES, AnchoredDecay, DecayMode, apply_syre, select_parameters
from syre_rl.validation import check_int, check_real

Anchor = Literal["syre", "zero", "init"]
ANCHORS: tuple[str, ...] = ("syre", "zero", "init")


@dataclass(frozen=True)
class DecayConfig:
    """Settings of an anchored decay, checked on construction.

    :param anchor: ``"syre"`` (random offset ``theta_0``), ``"zero"`` (L2) or ``"init"`` (L2-Init). Default ``"syre"``.
    :param weight_decay: gamma >= 0, torch's ``weight_decay`` convention (gradient term ``gamma * (w - anchor)``).
        Default 0.002, the weight decay of the syre paper's RL runs.
    :param decay_mode: ``"coupled"`` (gradient term, where Adam adds its ``weight_decay``; the paper's PPO runs) or
        ``"decoupled"`` (AdamW-style ``w <- w - lr * gamma * (w - anchor)``). Default ``"coupled"``.
    :param sigma_scale: syre only: ``sigma_0 = sigma_scale / sqrt(fan_in)`` per tensor. Default 0.01 (paper).
    :param sigma_0: syre only: one absolute offset std for every tensor instead. Default None.
    :param ar_spread: syre only: syre-ar diagonal spread in [0, 1). Default 0 (basic syre).
    :param offset_seed: syre only: seed of ``theta_0``; None draws one from torch's global generator, so the offset
        follows the algorithm's ``seed``. Default None.
    :param decay_exclude: parameter names (or name suffixes after a dot) left untouched. Default ``("log_std",)``:
        SB3's state-independent Gaussian ``log_std`` is a distribution parameter, not a network weight.
    """

    anchor: Anchor = "syre"
    weight_decay: float = 0.002
    decay_mode: DecayMode = "coupled"
    sigma_scale: float = 0.01
    sigma_0: float | None = None
    ar_spread: float = 0.0
    offset_seed: int | None = None
    decay_exclude: tuple[str, ...] = field(default=("log_std",))

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {ANCHORS}, got {self.anchor!r}")
        if self.decay_mode not in DECAY_MODES:
            raise ValueError(f"decay_mode must be one of {DECAY_MODES}, got {self.decay_mode!r}")
        set_ = object.__setattr__  # frozen dataclass: normalise the values once, here
        set_(self, "weight_decay", check_real("weight_decay", self.weight_decay, low=0.0))
        set_(self, "sigma_scale", check_real("sigma_scale", self.sigma_scale, low=0.0))
        if self.sigma_0 is not None:
            set_(self, "sigma_0", check_real("sigma_0", self.sigma_0, low=0.0))
        set_(self, "ar_spread", check_real("ar_spread", self.ar_spread, low=0.0))
        if self.ar_spread >= 1:
            raise ValueError(f"ar_spread must be in [0, 1) so that every D_ii > 0, got {self.ar_spread!r}")
        if self.offset_seed is not None:
            set_(self, "offset_seed", check_int("offset_seed", self.offset_seed, low=0))
        exclude = self.decay_exclude
        if isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude):
            raise ValueError(f"decay_exclude must be a sequence of parameter names, got {exclude!r}")
        set_(self, "decay_exclude", tuple(exclude))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The setting names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def as_kwargs(self) -> dict[str, Any]:
        """The settings as plain keyword arguments (YAML- and JSON-friendly: ``decay_exclude`` as a list)."""
        out = dataclasses.asdict(self)
        out["decay_exclude"] = list(self.decay_exclude)
        return out

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> DecayConfig:
        """Build from keyword arguments, refusing unknown names (the accepted ones are listed)."""
        unknown = sorted(set(kwargs) - set(cls.names()))
        if unknown:
            raise ValueError(f"unknown decay setting(s) {unknown}; accepted: {list(cls.names())}")
        values = dict(kwargs)
        if "decay_exclude" in values and not isinstance(values["decay_exclude"], str):
            values["decay_exclude"] = tuple(values["decay_exclude"])
        return cls(**values)


def build_decay(
    module: nn.Module,
    config: DecayConfig,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    include: Callable[[str, nn.Parameter], bool] | None = None,
) -> AnchoredDecay:
    """Apply ``config`` to ``module``, after its usual initialisation, and attach the decay to ``optimizers``.

    ``"syre"`` shifts the parameters by ``theta_0`` (:func:`syre_rl.syre.apply_syre`); ``"zero"`` and ``"init"``
    leave them as they are and anchor the decay at 0 or at a copy of their current values.

    :param module: any ``nn.Module``; every trainable parameter takes part except ``config.decay_exclude``.
    :param config: the settings.
    :param optimizers: optimizers that train the module's parameters; each decays the parameters it trains.
    :param include: keep a parameter only if ``include(full_name, param)`` is true. Default: all.
    :return: the :class:`~syre_rl.syre.AnchoredDecay` (a :class:`~syre_rl.syre.Syre` for the syre anchor).
    """
    if config.anchor == "syre":
        return apply_syre(
            module,
            weight_decay=config.weight_decay,
            sigma_scale=config.sigma_scale,
            sigma_0=config.sigma_0,
            mode=config.decay_mode,
            ar_spread=config.ar_spread,
            seed=config.offset_seed,
            include=include,
            exclude=config.decay_exclude,
            optimizer=list(optimizers),
        )
    selected = select_parameters(module, include=include, exclude=config.decay_exclude)
    if not selected:
        raise ValueError(f"no trainable parameters to decay in {type(module).__name__} after excluding")
    params = [(name, param) for name, _, _, param in selected]
    anchors = [torch.zeros_like(p) if config.anchor == "zero" else p.detach().clone() for _, p in params]
    decay = AnchoredDecay(
        params,
        anchors,
        weight_decay=config.weight_decay,
        mode=config.decay_mode,
        reanchor_on_reinit=config.anchor == "init",
    )
    for optimizer in optimizers:
        decay.attach(optimizer)
    return decay
