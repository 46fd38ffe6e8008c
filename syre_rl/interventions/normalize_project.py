"""Normalize-and-project (NaP; Lyle et al., "Normalization and effective learning rates in reinforcement learning",
NeurIPS 2024): normalization layers before each nonlinearity, and every weight matrix projected back to its initial
norm after every optimizer step.

The normalization is a policy (:class:`~syre_rl.interventions.layernorm.LayerNormActorCriticPolicy`: ``Linear ->
LayerNorm -> activation``); the projection is this callback: a step post-hook on the policy's optimizer rescales
each ``Linear`` and convolution weight ``W`` to ``W * ||W_0||_F / ||W||_F``, ``||W_0||_F`` being its Frobenius norm
when training started (kept by the callback's state, so a resumed run projects to the same norms). Because
LayerNorm makes a layer's output invariant to the scale of its weight, fixing the norm keeps the effective learning
rate from decaying as the weights grow. Biases and LayerNorm scales and shifts are left alone. By default the output
heads are projected too (``scope="all"``, as in Plasticine); ``scope="hidden"`` leaves them out.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from syre_rl.interventions._hooks import HookedCallback
from syre_rl.interventions.parseval import hidden_weights
from syre_rl.plasticity.grad_norms import policy_optimizers
from syre_rl.validation import check_choice

NAP_SCOPES: tuple[str, ...] = ("all", "hidden")


def projected_weights(policy: nn.Module, scope: str = "all") -> dict[str, torch.Tensor]:
    """The weights normalize-and-project keeps at their norm, by name.

    :param scope: ``"all"`` (every ``Linear`` and convolution weight, heads included; default) or ``"hidden"``
        (outside ``action_net`` and ``value_net``).
    """
    check_choice("scope", scope, NAP_SCOPES)
    return hidden_weights(policy, heads=() if scope == "all" else ("action_net", "value_net"))


@torch.no_grad()
def project_to_norms(weights: dict[str, torch.Tensor], norms: dict[str, float]) -> int:
    """Rescale each weight to its target Frobenius norm in place (a zero weight is left as it is).

    :return: the number of weights rescaled.
    """
    done = 0
    for name, weight in weights.items():
        norm = torch.linalg.vector_norm(weight)
        if norm > 0:
            weight.mul_(norms[name] / norm)
            done += 1
    return done


class NormalizeAndProject(HookedCallback):
    """After each optimizer step, project every treated weight matrix back to its norm when training started.

    :param scope: ``"all"`` (default) or ``"hidden"``; see :func:`projected_weights`.
    :param verbose: SB3 verbosity.
    """

    def __init__(self, scope: str = "all", verbose: int = 0) -> None:
        super().__init__(verbose)
        self.scope = check_choice("scope", scope, NAP_SCOPES)
        #: Optimizer steps after which the weights were projected.
        self.n_projections = 0
        #: Target Frobenius norm of each treated weight, by name (taken when training first starts).
        self.norms: dict[str, float] = {}
        self._weights: dict[str, torch.Tensor] = {}

    def state_dict(self) -> dict[str, Any]:
        """The target norms and the counter (picklable), for an exact resume."""
        return {"n_projections": self.n_projections, "norms": dict(self.norms)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.n_projections = int(state["n_projections"])
        self.norms = {str(k): float(v) for k, v in state["norms"].items()}

    def _on_training_start(self) -> None:
        self._remove_hooks()
        self._weights = projected_weights(self.model.policy, self.scope)
        if not self._weights:
            raise ValueError(f"normalize-and-project found no weight matrix in {type(self.model.policy).__name__}")
        if not self.norms:
            self.norms = {name: float(torch.linalg.vector_norm(w.detach())) for name, w in self._weights.items()}
        elif set(self.norms) != set(self._weights):
            raise ValueError(
                f"normalize-and-project: the saved norms are for {sorted(self.norms)}, the policy has "
                f"{sorted(self._weights)}"
            )
        for optimizer in policy_optimizers(self.model.policy):
            self._handles.append(optimizer.register_step_post_hook(lambda *_: self._post_step()))

    def _post_step(self) -> None:
        project_to_norms(self._weights, self.norms)
        self.n_projections += 1
        self.logger.record("interventions/nap_projections", self.n_projections)
