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

with the moments ``m``, ``v`` the step just wrote, on the restarted entries only; the others (``s = t``) are left
bit-for-bit alone. Only the restarted entries are kept (flat indices and their counts), and a tensor is dropped from
the bookkeeping once ``beta^s`` is negligible for all of them (below 1e-12, under float32 resolution), so the cost
stays with the few entries of recent restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

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


class RestartedEntries(NamedTuple):
    """The restarted entries of one tensor: flat indices, their local step counts (float64), and the optimizer's
    step count of the tensor when they were last brought up to date."""

    flat_index: torch.Tensor
    steps: torch.Tensor
    global_step: float


class ElementwiseAdamSteps:
    """Local step counts of restarted entries of one Adam/AdamW optimizer (see the module docstring).

    :param optimizer: the optimizer; checked by :func:`check_adam`.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        check_adam(optimizer)
        self.optimizer = optimizer
        self.entries: dict[torch.Tensor, RestartedEntries] = {}
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
        mask = torch.zeros(param.shape, dtype=torch.bool, device=param.device)
        mask[index] = True
        new = mask.flatten().nonzero().flatten()
        old = self.entries.get(param)
        if old is None:
            index_, steps = new, torch.zeros(len(new), dtype=torch.float64, device=param.device)
        else:
            keep = ~torch.isin(old.flat_index, new)
            index_ = torch.cat((old.flat_index[keep], new))
            steps = torch.cat((old.steps[keep], torch.zeros(len(new), dtype=torch.float64, device=param.device)))
        self.entries[param] = RestartedEntries(index_, steps, t)

    @torch.no_grad()
    def after_step(self) -> None:
        """Correct the step just taken for every restarted entry; call right after ``optimizer.step()``. Entries of
        tensors that share a parameter group and a step count are corrected in one batch of tensor operations."""
        buckets: dict[tuple[int, float], list[torch.Tensor]] = {}
        for param, entry in list(self.entries.items()):
            t = self._global_step(param)
            if param.grad is None or t is None:
                continue  # not stepped this time
            if t != entry.global_step + 1:  # the optimizer dropped and restarted this tensor's state (e.g. a reset)
                del self.entries[param]
                continue
            entry.steps.add_(1.0)
            self.entries[param] = entry._replace(global_step=t)
            buckets.setdefault((id(self._group[param]), t), []).append(param)
        for (_, t), params in buckets.items():
            group = self._group[params[0]]
            beta1, beta2 = (float(b) for b in group["betas"])
            entries = [self.entries[p] for p in params]
            states = [self.optimizer.state[p] for p in params]
            m = torch.cat([st["exp_avg"].reshape(-1)[e.flat_index] for st, e in zip(states, entries)]).double()
            v = torch.cat([st["exp_avg_sq"].reshape(-1)[e.flat_index] for st, e in zip(states, entries)]).double()
            s = torch.cat([e.steps for e in entries])
            delta = self._update(m, v, torch.full_like(s, t), beta1, beta2, group) - self._update(
                m, v, s, beta1, beta2, group
            )
            for param, entry, part in zip(params, entries, delta.split([len(e.steps) for e in entries])):
                param.view(-1).index_add_(0, entry.flat_index, part.to(param.dtype))
            for param, entry in zip(params, entries):
                if max(beta1, beta2) ** float(entry.steps.min()) < _NEGLIGIBLE:
                    del self.entries[param]

    @staticmethod
    def _update(
        m: torch.Tensor, v: torch.Tensor, steps: torch.Tensor, beta1: float, beta2: float, group: dict[str, Any]
    ) -> torch.Tensor:
        bc1 = 1.0 - beta1**steps
        bc2 = 1.0 - beta2**steps
        return float(group["lr"]) / bc1 * m / (v.sqrt() / bc2.sqrt() + float(group["eps"]))

    def state_dict(self, names: Mapping[torch.Tensor, str]) -> dict[str, dict[str, Any]]:
        """The restarted entries by parameter name (CPU copies).

        :param names: the name of each parameter (e.g. from ``named_parameters``).
        """
        return {
            names[p]: {"index": index.cpu().clone(), "steps": steps.cpu().clone(), "global_step": t}
            for p, (index, steps, t) in self.entries.items()
        }

    def load_state_dict(self, state: Mapping[str, Mapping[str, Any]], params: Mapping[str, torch.Tensor]) -> None:
        """Continue from a :meth:`state_dict`.

        :param params: the parameters by name.
        :raises ValueError: an unknown name or an index outside the parameter.
        """
        self.entries = {}
        for name, saved in state.items():
            param = params.get(name)
            index = saved["index"]
            if param is None or (len(index) and int(index.max()) >= param.numel()):
                raise ValueError(f"per-element Adam steps saved for {name!r} do not fit the policy")
            self.entries[param] = RestartedEntries(
                index.to(param.device),
                saved["steps"].to(device=param.device, dtype=torch.float64).clone(),
                float(saved["global_step"]),
            )
