"""Gradient norms before clipping, per network, over the minibatches of one update (torch only).

Hooks on the parameters take each gradient's norm as soon as backward has accumulated it, and an optimizer step
pre-hook closes each minibatch: an algorithm that clips between the two (PPO) is measured before clipping.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

# A metric row: network, layer, metric, value (a float or a 0-dim tensor).
Row = tuple[str, str, str, Any]


def policy_optimizers(policy: nn.Module) -> list[torch.optim.Optimizer]:
    """The distinct optimizers of an SB3 policy (``optimizer``, and those of ``actor``, ``critic``, ``q_net``)."""
    found = [getattr(policy, "optimizer", None)]
    found += [getattr(getattr(policy, name, None), "optimizer", None) for name in ("actor", "critic", "q_net")]
    unique: dict[int, torch.optim.Optimizer] = {}
    for opt in found:
        if isinstance(opt, torch.optim.Optimizer):
            unique.setdefault(id(opt), opt)
    return list(unique.values())


class GradNormWatcher:
    """Watch one update for the gradient norm of each network and of all parameters together.

    :meth:`install` before the update, :meth:`flush` after it: the rows are the mean and the max over the update's
    minibatches (``grad_norm``, ``grad_norm_max``, layer ``"all"``), per network and for network ``"all"``.
    """

    def __init__(self) -> None:
        #: Wall time spent in the hooks, in seconds.
        self.overhead_seconds = 0.0
        self._handles: list[Any] = []
        self._parts: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._norms: dict[str, list[torch.Tensor]] = defaultdict(list)

    @property
    def installed(self) -> bool:
        return bool(self._handles)

    def state_dict(self) -> dict[str, Any]:
        """The norms of the minibatches closed so far in the watched update (CPU copies, picklable) and whether hooks
        are installed; the hooks themselves are not state: :meth:`install` them again after :meth:`load_state_dict`.
        A minibatch is closed by its optimizer step, so between updates nothing else is pending."""
        return {
            "installed": self.installed,
            "norms": {network: [n.detach().cpu().clone() for n in norms] for network, norms in self._norms.items()},
            "overhead_seconds": self.overhead_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` (the norms of the watched update; hooks are not installed here)."""
        self._norms = defaultdict(list, {network: list(norms) for network, norms in state["norms"].items()})
        self.overhead_seconds = float(state["overhead_seconds"])

    def install(
        self, policy: nn.Module, network_of: Mapping[int, str], optimizers: Sequence[torch.optim.Optimizer]
    ) -> None:
        """Hook every trainable parameter of ``policy`` and the step of each optimizer.

        :param network_of: network name by parameter ``id``; others count as ``"actor"`` (``log_std``) or ``"other"``.
        :param optimizers: the optimizers whose steps close a minibatch.
        """
        for name, param in policy.named_parameters():
            if not param.requires_grad:
                continue
            network = network_of.get(id(param), "actor" if "log_std" in name else "other")
            self._handles.append(param.register_post_accumulate_grad_hook(partial(self._add_grad, network)))
        for optimizer in optimizers:
            self._handles.append(optimizer.register_step_pre_hook(self._close_minibatch))

    def _add_grad(self, network: str, param: torch.Tensor) -> None:
        start = time.perf_counter()
        if param.grad is not None:
            self._parts[network].append(torch.linalg.vector_norm(param.grad.detach()))
        self.overhead_seconds += time.perf_counter() - start

    def _close_minibatch(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._parts:
            return
        start = time.perf_counter()
        everything = []
        for network, parts in self._parts.items():
            stacked = torch.stack(parts)
            self._norms[network].append(torch.linalg.vector_norm(stacked))
            everything.append(stacked)
        self._norms["all"].append(torch.linalg.vector_norm(torch.cat(everything)))
        self._parts = defaultdict(list)
        self.overhead_seconds += time.perf_counter() - start

    def flush(self) -> list[Row]:
        """Remove the hooks and return the rows of the watched update (empty if no minibatch was closed)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._parts = defaultdict(list)
        rows: list[Row] = []
        for network, norms in self._norms.items():
            # Norms restored from a checkpoint are on the CPU; those of this session on the policy's device.
            stacked = torch.stack([n.to(norms[-1].device) for n in norms])
            rows.append((network, "all", "grad_norm", stacked.mean()))
            rows.append((network, "all", "grad_norm_max", stacked.max()))
        self._norms = defaultdict(list)
        return rows
