"""Parseval regularisation (Chung, Cobb, Ghosh, "Parseval Regularization for Continual Reinforcement Learning",
NeurIPS 2024) as an SB3 callback.

Each hidden weight matrix ``W`` (``out x in``; a convolution's kernel viewed as ``out x (in * kh * kw)``) is pushed
toward orthogonal rows by the penalty

    ``lambda * ||W W^T - s I||_F^2``,  with gradient  ``4 * lambda * (W W^T - s I) W``.

The gradient is added analytically to ``W.grad`` by a step pre-hook on the policy's optimizer, just before every
optimizer step, so SB3's loss and training loop are untouched. Hidden matrices are every ``Linear`` and convolution
weight outside the output heads (``action_net``, ``value_net``), as in the paper (all layers but the last). The
penalty's gradient is added after SB3 clips the loss gradient (``max_grad_norm``), like a coupled weight decay. The
paper's optional extras (learnable per-unit scales, input scaling) are not added.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from syre_rl.interventions._hooks import HookedCallback
from syre_rl.plasticity.grad_norms import policy_optimizers
from syre_rl.validation import check_real

#: Output heads of SB3 policies, left out of hidden-layer regularisers.
OUTPUT_HEADS: tuple[str, ...] = ("action_net", "value_net")
_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def hidden_weights(policy: nn.Module, heads: tuple[str, ...] = OUTPUT_HEADS) -> dict[str, torch.Tensor]:
    """The weight matrices of the ``Linear`` and convolution layers of ``policy`` outside its output heads, by name.

    :param heads: attribute names of the output heads left out. Default ``("action_net", "value_net")``.
    """
    excluded = {
        id(m)
        for name in heads
        if isinstance(getattr(policy, name, None), nn.Module)
        for m in getattr(policy, name).modules()
    }
    return {
        f"{name}.weight": module.weight
        for name, module in policy.named_modules()
        if isinstance(module, _WEIGHT_LAYERS) and id(module) not in excluded
    }


def _gram_residual(weight: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    matrix = weight.reshape(weight.shape[0], -1)
    eye = torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
    return matrix, matrix @ matrix.T - scale * eye


def parseval_penalty(weight: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``||W W^T - s I||_F^2`` for one weight (rows: dim 0, the rest flattened); differentiable.

    :param scale: ``s``, the target squared singular value. Default 1.
    """
    _, residual = _gram_residual(weight, scale)
    return (residual**2).sum()


@torch.no_grad()
def parseval_gradient(weight: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The gradient of :func:`parseval_penalty` with respect to ``weight``: ``4 (W W^T - s I) W``, in its shape."""
    matrix, residual = _gram_residual(weight, scale)
    return (4.0 * residual @ matrix).reshape(weight.shape)


class ParsevalRegularization(HookedCallback):
    """Add the gradient of ``coef * ||W W^T - s I||_F^2`` for every hidden weight matrix at every optimizer step.

    :param coef: lambda >= 0, the penalty's weight. Default 1e-3 (the paper's and Plasticine's value).
    :param scale: s > 0, the target squared singular value. Default 1.
    :param verbose: SB3 verbosity.
    """

    def __init__(self, coef: float = 1e-3, scale: float = 1.0, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.coef = check_real("coef", coef, low=0.0)
        self.scale = check_real("scale", scale, low=0.0, low_open=True)
        #: Optimizer steps whose gradients got the penalty's gradient.
        self.n_penalised = 0
        #: The penalty ``coef * sum ||W W^T - s I||^2`` at the last optimizer step.
        self.last_penalty = 0.0
        self._weights: dict[str, torch.Tensor] = {}

    def state_dict(self) -> dict[str, Any]:
        """The counter (picklable), for a resume that keeps counting."""
        return {"n_penalised": self.n_penalised, "last_penalty": self.last_penalty}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.n_penalised = int(state["n_penalised"])
        self.last_penalty = float(state["last_penalty"])

    @torch.no_grad()
    def apply(self) -> float:
        """Add the penalty's gradient to the gradients of the hidden weights that have one; count the step.

        :return: the penalty (``coef`` included) before the step.
        """
        total = 0.0
        for weight in self._weights.values():
            if weight.grad is None:
                continue
            matrix, residual = _gram_residual(weight, self.scale)
            total += float((residual**2).sum())
            weight.grad.add_((residual @ matrix).reshape(weight.shape), alpha=4.0 * self.coef)
        self.n_penalised += 1
        self.last_penalty = self.coef * total
        return self.last_penalty

    def _on_training_start(self) -> None:
        self._remove_hooks()
        self._weights = hidden_weights(self.model.policy)
        if not self._weights:
            raise ValueError(
                f"Parseval regularisation found no hidden weight matrix in {type(self.model.policy).__name__}"
            )
        for optimizer in policy_optimizers(self.model.policy):
            self._handles.append(optimizer.register_step_pre_hook(lambda *_: self._pre_step()))

    def _pre_step(self) -> None:
        self.apply()
        self.logger.record("interventions/parseval_penalty", self.last_penalty)
        self.logger.record("interventions/parseval_steps", self.n_penalised)
