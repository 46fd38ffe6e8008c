"""Per-element Adam step counts on top of torch's ``Adam``/``AdamW``, for methods that restart single entries.

torch's Adam keeps one step count ``t`` per tensor, so an entry whose moments are zeroed mid-training (a unit replaced
by continual backprop) takes its next update with the bias corrections of step ``t``: about
``(1 - beta1) / sqrt(1 - beta2)`` times the learning rate (3.2x at SB3's betas 0.9/0.999), where Adam on a fresh
parameter moves by 1x. Dohare et al.'s ``AdamGnT`` instead keeps a step count per element and restarts it with the
moments. :class:`ElementwiseAdamSteps` gives torch's optimizer the same behaviour without replacing it (so every hook
attached to it, such as syre's decay, stays in place): it keeps a local count ``s`` for the restarted entries and,
after each optimizer step, swaps the update torch applied with bias corrections of ``t`` for the one with corrections
of ``s``:

    ``p <- p + u(t) - u(s)``,  ``u(k) = lr / (1 - beta1^k) * m / (sqrt(v) / sqrt(1 - beta2^k) + eps)``

with the moments ``m``, ``v`` the step just wrote. Entries with ``s = t`` are left bit-for-bit alone. A tensor is
dropped from the bookkeeping once ``beta^s`` is negligible for all its entries (below 1e-12, under float32
resolution), so the cost stays with the few tensors that hold recent restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

_NEGLIGIBLE = 1e-12
_SUPPORTED = (torch.optim.Adam, torch.optim.AdamW)


def check_adam(optimizer: torch.optim.Optimizer) -> None:
    """:raises ValueError: ``optimizer`` is not a torch ``Adam``/``AdamW`` without AMSGrad."""
    if not isinstance(optimizer, _SUPPORTED):
        raise ValueError(
            f"per-element Adam steps need torch.optim.Adam or AdamW, got {type(optimizer).__name__}; use "
            "optimizer_state='zero_moments' or 'keep' for other optimizers"
        )
    if any(group.get("amsgrad", False) for group in optimizer.param_groups):
        raise ValueError("per-element Adam steps do not support amsgrad=True; use optimizer_state='zero_moments'")


class ElementwiseAdamSteps:
    """Local step counts of restarted entries of one Adam/AdamW optimizer (see the module docstring).

    :param optimizer: the optimizer; checked by :func:`check_adam`.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        check_adam(optimizer)
        self.optimizer = optimizer
        self.local: dict[torch.Tensor, torch.Tensor] = {}  # parameter -> local step count per entry (float64)
        self._group = {p: group for group in optimizer.param_groups for p in group["params"]}

    def _global_step(self, param: torch.Tensor) -> float | None:
        step = self.optimizer.state.get(param, {}).get("step")
        return None if step is None else float(step)

    @torch.no_grad()
    def restart(self, param: torch.Tensor, index: Any) -> None:
        """Restart the step count of ``param[index]`` (its moments are zeroed by the caller).

        :param index: anything a tensor accepts as an index (``units``, ``(slice(None), units)``, a mask).
        """
        t = self._global_step(param)
        if t is None:
            return  # no step taken yet: Adam starts this tensor from step 0 anyway
        local = self.local.get(param)
        if local is None:
            local = torch.full(param.shape, t, dtype=torch.float64, device=param.device)
            self.local[param] = local
        local[index] = 0.0

    @torch.no_grad()
    def after_step(self) -> None:
        """Correct the step just taken for every restarted entry; call right after ``optimizer.step()``."""
        for param, local in list(self.local.items()):
            t = self._global_step(param)
            if param.grad is None or t is None:
                continue  # not stepped this time
            local.add_(1.0)
            if t < float(local.max()):  # the optimizer dropped and restarted this tensor's state (e.g. a reset)
                del self.local[param]
                continue
            group = self._group[param]
            beta1, beta2 = (float(b) for b in group["betas"])
            state = self.optimizer.state[param]
            m, v = state["exp_avg"].double(), state["exp_avg_sq"].double()
            u_t = self._update(m, v, torch.full_like(local, t), beta1, beta2, group)
            u_s = self._update(m, v, local, beta1, beta2, group)
            delta = torch.where(local == t, torch.zeros_like(u_t), u_t - u_s)
            param.add_(delta.to(param.dtype))
            if max(beta1, beta2) ** float(local.min()) < _NEGLIGIBLE:
                del self.local[param]

    @staticmethod
    def _update(
        m: torch.Tensor, v: torch.Tensor, steps: torch.Tensor, beta1: float, beta2: float, group: dict[str, Any]
    ) -> torch.Tensor:
        bc1 = 1.0 - beta1**steps
        bc2 = 1.0 - beta2**steps
        return float(group["lr"]) / bc1 * m / (v.sqrt() / bc2.sqrt() + float(group["eps"]))

    def state_dict(self, names: Mapping[torch.Tensor, str]) -> dict[str, torch.Tensor]:
        """The local step counts by parameter name (CPU copies).

        :param names: the name of each parameter (e.g. from ``named_parameters``).
        """
        return {names[p]: local.detach().cpu().clone() for p, local in self.local.items()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> None:
        """Continue from a :meth:`state_dict`.

        :param params: the parameters by name.
        :raises ValueError: an unknown name or a shape that differs.
        """
        self.local = {}
        for name, local in state.items():
            param = params.get(name)
            if param is None or tuple(param.shape) != tuple(local.shape):
                raise ValueError(f"per-element Adam steps saved for {name!r} {tuple(local.shape)} do not fit")
            self.local[param] = local.to(device=param.device, dtype=torch.float64).clone()
