"""Baseline remedies for loss of plasticity, pluggable into SB3 algorithms without touching their training loop.

Policies: :class:`~syre_rl.interventions.layernorm.LayerNormActorCriticPolicy` (LayerNorm hidden layers; with
L2, L2-Init or syre through :class:`syre_rl.AnchoredDecayPPO` / :class:`syre_rl.SyrePPO`, which treat any policy).
L2 and L2-Init themselves are anchored decays like syre: :mod:`syre_rl.decay`.

Callbacks (pass to ``learn(callback=...)``, or name them in an agent recipe's ``interventions`` list):

==========================  =====================================================================
``shrink_perturb``          :class:`~syre_rl.interventions.shrink_perturb.ShrinkAndPerturb`
``redo``                    :class:`~syre_rl.interventions.redo.ReDo`
``cbp``                     :class:`~syre_rl.interventions.cbp.ContinualBackprop`
``reset_on_switch``         :class:`~syre_rl.interventions.reset.ResetOnTaskSwitch`
``reset``                   :class:`~syre_rl.interventions.reset.Reset` (also periodic, off-policy)
``plasticity_injection``    :class:`~syre_rl.interventions.injection.PlasticityInjection`
``parseval``                :class:`~syre_rl.interventions.parseval.ParsevalRegularization`
``normalize_project``       :class:`~syre_rl.interventions.normalize_project.NormalizeAndProject`
==========================  =====================================================================

Policies of the other baselines: :class:`~syre_rl.interventions.injection.InjectionActorCriticPolicy` (needed
by ``plasticity_injection``), :class:`~syre_rl.interventions.activations.CReLUActorCriticPolicy`,
:class:`~syre_rl.interventions.activations.FourierActorCriticPolicy` and
:class:`~syre_rl.interventions.trac.TracActorCriticPolicy` (trained by the TRAC optimizer
:class:`~syre_rl.interventions.trac.TracAdam`, which any policy takes as its ``optimizer_class``).

PSGD Kron, the optimizer of Plasticine's methods, is :class:`~syre_rl.interventions.kron.KronOptimizer` (an
``optimizer_class`` for any policy; needs the optional ``kron-torch`` package, so this package does not import it).

NS-Adam (beta1 = beta2 = 0.99) needs no code: ``policy_kwargs: {optimizer_kwargs: {betas: [0.99, 0.99], eps: 1e-5}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.interventions.activations import CReLUActorCriticPolicy, FourierActorCriticPolicy
from syre_rl.interventions.cbp import ContinualBackprop
from syre_rl.interventions.injection import InjectionActorCriticPolicy, PlasticityInjection
from syre_rl.interventions.layernorm import LayerNormActorCriticPolicy, LayerNormMlpExtractor
from syre_rl.interventions.normalize_project import NormalizeAndProject
from syre_rl.interventions.parseval import ParsevalRegularization
from syre_rl.interventions.redo import ReDo
from syre_rl.interventions.reset import Reset, ResetOnTaskSwitch
from syre_rl.interventions.shrink_perturb import ShrinkAndPerturb
from syre_rl.validation import build_from_spec

INTERVENTIONS: dict[str, type[BaseCallback]] = {
    "shrink_perturb": ShrinkAndPerturb,
    "redo": ReDo,
    "cbp": ContinualBackprop,
    "reset_on_switch": ResetOnTaskSwitch,
    "reset": Reset,
    "plasticity_injection": PlasticityInjection,
    "parseval": ParsevalRegularization,
    "normalize_project": NormalizeAndProject,
}


def build_intervention(spec: Mapping[str, Any], where: str = "intervention spec") -> BaseCallback:
    """One callback from a recipe entry ``{type: NAME, **kwargs}`` (see :func:`syre_rl.validation.build_from_spec`).

    :param where: where the entry comes from, in front of error messages. Default ``"intervention spec"``.
    :raises ValueError: no ``type``, unknown ``type`` (the valid names are listed) or unknown keyword (the accepted
        ones are listed).
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: an intervention must be a mapping with a 'type' key, got {spec!r}")
    return build_from_spec(INTERVENTIONS, spec, "intervention", where=where)


def build_interventions(specs: list[Mapping[str, Any]] | None) -> list[BaseCallback]:
    """Callbacks from a recipe's ``interventions`` list (None or empty gives ``[]``)."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise ValueError(f"interventions must be a list of {{type: NAME, ...}} mappings, got {specs!r}")
    return [build_intervention(spec, where=f"interventions[{i}]") for i, spec in enumerate(specs)]


__all__ = [
    "INTERVENTIONS",
    "CReLUActorCriticPolicy",
    "ContinualBackprop",
    "FourierActorCriticPolicy",
    "InjectionActorCriticPolicy",
    "LayerNormActorCriticPolicy",
    "LayerNormMlpExtractor",
    "NormalizeAndProject",
    "ParsevalRegularization",
    "PlasticityInjection",
    "ReDo",
    "Reset",
    "ResetOnTaskSwitch",
    "ShrinkAndPerturb",
    "build_intervention",
    "build_interventions",
]
