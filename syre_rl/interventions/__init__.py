"""Baseline remedies for loss of plasticity, pluggable into SB3 algorithms without touching their training loop.

Policies (pass as ``policy``; L2, L2-Init and syre share :class:`syre_rl.syre.AnchoredDecay`):

* :class:`~syre_rl.interventions.anchored.AnchoredDecayActorCriticPolicy`: L2 (``decay_anchor="zero"``) and
  L2-Init (``decay_anchor="init"``);
* :mod:`syre_rl.interventions.layernorm`: LayerNorm hidden layers, alone, with L2 / L2-Init, or with syre.

Callbacks (pass to ``learn(callback=...)``, or name them in an agent recipe's ``interventions`` list):

===================  ==========================================================================
``shrink_perturb``   :class:`~syre_rl.interventions.shrink_perturb.ShrinkAndPerturb`
``redo``             :class:`~syre_rl.interventions.redo.ReDo`
``cbp``              :class:`~syre_rl.interventions.cbp.ContinualBackprop`
``reset_on_switch``  :class:`~syre_rl.interventions.reset.ResetOnTaskSwitch`
===================  ==========================================================================

NS-Adam (beta1 = beta2 = 0.99) needs no code: ``policy_kwargs: {optimizer_kwargs: {betas: [0.99, 0.99], eps: 1e-5}}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.interventions.anchored import (
    AnchoredDecayActorCriticCnnPolicy,
    AnchoredDecayActorCriticPolicy,
    AnchoredDecayMultiInputActorCriticPolicy,
    build_anchored_decay,
)
from syre_rl.interventions.cbp import ContinualBackprop
from syre_rl.interventions.layernorm import (
    AnchoredDecayLayerNormActorCriticPolicy,
    LayerNormActorCriticPolicy,
    LayerNormMlpExtractor,
    SyreLayerNormActorCriticPolicy,
)
from syre_rl.interventions.redo import ReDo
from syre_rl.interventions.reset import ResetOnTaskSwitch
from syre_rl.interventions.shrink_perturb import ShrinkAndPerturb

INTERVENTIONS: dict[str, type[BaseCallback]] = {
    "shrink_perturb": ShrinkAndPerturb,
    "redo": ReDo,
    "cbp": ContinualBackprop,
    "reset_on_switch": ResetOnTaskSwitch,
}


def _accepted_kwargs(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def build_intervention(spec: Mapping[str, Any]) -> BaseCallback:
    """One callback from a recipe entry ``{type: NAME, **kwargs}``.

    :raises ValueError: unknown ``type`` (the valid names are listed) or unknown keyword (the accepted ones are listed).
    """
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ValueError(
            f"an intervention must be a mapping with a 'type' key (one of {sorted(INTERVENTIONS)}), got {spec!r}"
        )
    kwargs = dict(spec)
    name = kwargs.pop("type")
    if name not in INTERVENTIONS:
        raise ValueError(f"unknown intervention type {name!r}; valid types: {sorted(INTERVENTIONS)}")
    cls = INTERVENTIONS[name]
    accepted = _accepted_kwargs(cls)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"intervention {name!r} got unknown argument(s) {unknown}; it accepts {accepted}")
    return cls(**kwargs)


def build_interventions(specs: list[Mapping[str, Any]] | None) -> list[BaseCallback]:
    """Callbacks from a recipe's ``interventions`` list (None or empty gives ``[]``)."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise ValueError(f"interventions must be a list of {{type: NAME, ...}} mappings, got {specs!r}")
    return [build_intervention(spec) for spec in specs]


__all__ = [
    "INTERVENTIONS",
    "AnchoredDecayActorCriticCnnPolicy",
    "AnchoredDecayActorCriticPolicy",
    "AnchoredDecayLayerNormActorCriticPolicy",
    "AnchoredDecayMultiInputActorCriticPolicy",
    "ContinualBackprop",
    "LayerNormActorCriticPolicy",
    "LayerNormMlpExtractor",
    "ReDo",
    "ResetOnTaskSwitch",
    "ShrinkAndPerturb",
    "SyreLayerNormActorCriticPolicy",
    "build_anchored_decay",
    "build_intervention",
    "build_interventions",
]
