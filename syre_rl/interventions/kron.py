"""PSGD Kron (Li 2018; the ``kron-torch`` package by Evan Walters), the one optimizer of Plasticine's method set, as
an optimizer class any SB3 policy can take (``policy_kwargs: {optimizer_class:
syre_rl.interventions.kron.KronOptimizer}``, as the ``ppo_kron`` recipe does).

:class:`KronOptimizer` is ``kron_torch.Kron`` with the same updates and three changes that let a run stop and resume
as if it never stopped, and one that runs it eagerly:

- The whole state travels in :meth:`~KronOptimizer.state_dict`. ``kron_torch.Kron`` keeps its step counter, its
  preconditioner-update counter and the random generator that picks when to balance the preconditioners outside its
  ``state_dict``, so a loaded optimizer restarted them.
- :meth:`~KronOptimizer.load_state_dict` keeps the einsum expressions of each parameter's state. torch's
  ``Optimizer.load_state_dict`` walks every iterable in the state and rebuilds strings as text of a generator, which
  left a loaded ``kron_torch.Kron`` unable to step.
- The default preconditioner-update probability, Kron's schedule (1 for the first 500 steps, then
  ``exp(-0.001 (n - 500))`` down to 0.03), is computed here in float32 as Kron computes it, but outside the param
  groups and without ``torch.compile``, so a saved state holds only plain values: SB3 loads optimizer states with
  ``torch.load(weights_only=True)``.
- Kron's helpers are wrapped in ``torch.compile``; here they run eagerly (``torch.compiler.set_stance("force_eager")``
  around each step): the same operations without a compilation per parameter shape, which on a CPU took tens of
  seconds and needs a C++ compiler. Kron's report of its buffer sizes at the first step is not printed.

``kron-torch`` is an optional dependency (``pip install "syre-rl[kron]"``; it lists ``triton`` among its
requirements, which only its GPU compilation uses: on a CPU-only machine ``pip install --no-deps kron-torch
opt_einsum`` is enough, which is what ``make setup`` does).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

try:
    from kron_torch import Kron
except ImportError as err:  # pragma: no cover - the message is the point
    raise ImportError(
        "syre_rl.interventions.kron needs the kron-torch package: pip install 'syre-rl[kron]' (or, CPU only, "
        "pip install --no-deps kron-torch opt_einsum)"
    ) from err

#: Kron's default preconditioner-update schedule: probability 1 for ``flat_start`` steps, then an exponential
#: anneal at rate ``decay`` per step down to ``min_prob``.
SCHEDULE = {"max_prob": 1.0, "min_prob": 0.03, "decay": 0.001, "flat_start": 500.0}
_SCHEDULE_F32 = tuple(
    torch.tensor(SCHEDULE[k], dtype=torch.float32) for k in ("max_prob", "min_prob", "decay", "flat_start")
)


def update_probability(step: int) -> torch.Tensor:
    """Kron's default probability of updating the preconditioners at optimizer step ``step`` (0-based), as a float32
    scalar tensor: ``clamp(max_prob * exp(-decay * (step - flat_start)), min_prob, max_prob)``, computed in float32
    in the same order of operations as ``kron_torch``."""
    max_prob, min_prob, decay, flat_start = _SCHEDULE_F32
    n = torch.tensor(step, dtype=torch.int32).to(dtype=torch.float32)
    return (max_prob * torch.exp(-decay * (n - flat_start))).clamp_(min=min_prob, max=max_prob)


class KronOptimizer(Kron):
    """PSGD Kron whose complete state is in :meth:`state_dict` and survives :meth:`load_state_dict`.

    The arguments are ``kron_torch.Kron``'s, with its defaults:

    :param params: parameters or parameter groups.
    :param lr: learning rate (default 3e-4; SB3 passes the algorithm's).
    :param b1: momentum (default 0.9).
    :param weight_decay: decay of the weights of tensors with 2 or more dimensions, toward 0 (default 0).
    :param preconditioner_update_probability: a fixed probability in (0, 1], or None (default) for Kron's schedule
        (:func:`update_probability`).
    :param max_size_triangular: largest dimension with a full (triangular) preconditioner (default 8192).
    :param min_ndim_triangular: fewest dimensions a tensor needs for triangular preconditioners (default 2).
    :param memory_save_mode: None, ``"smart_one_diag"``, ``"one_diag"`` or ``"all_diag"`` (default None).
    :param momentum_into_precond_update: update the preconditioner with the momentum, not the raw gradient
        (default True).
    :param precond_lr: learning rate of the preconditioner (default 0.1).
    :param precond_init_scale: initial scale of the preconditioner (default 1.0).
    :param merge_dims: view tensors with more than 2 dimensions as matrices (default True).
    :param mu_dtype: dtype of the momentum (default None: the parameter's).
    :param precond_dtype: dtype of the preconditioner (default None: float32).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.0003,
        b1: float = 0.9,
        weight_decay: float = 0.0,
        preconditioner_update_probability: float | None = None,
        max_size_triangular: int = 8192,
        min_ndim_triangular: int = 2,
        memory_save_mode: str | None = None,
        momentum_into_precond_update: bool = True,
        precond_lr: float = 0.1,
        precond_init_scale: float = 1.0,
        merge_dims: bool = True,
        mu_dtype: torch.dtype | None = None,
        precond_dtype: torch.dtype | None = None,
    ) -> None:
        fixed = preconditioner_update_probability
        if fixed is not None and (isinstance(fixed, bool) or not isinstance(fixed, int | float) or not 0 < fixed <= 1):
            raise ValueError(f"preconditioner_update_probability must be None or in (0, 1], got {fixed!r}")
        if memory_save_mode not in (None, "smart_one_diag", "one_diag", "all_diag"):
            raise ValueError(
                f"memory_save_mode must be None, 'smart_one_diag', 'one_diag' or 'all_diag', got {memory_save_mode!r}"
            )
        super().__init__(
            params,
            lr=lr,
            b1=b1,
            weight_decay=weight_decay,
            preconditioner_update_probability=1.0,  # a float: Kron's own schedule object would be compiled
            max_size_triangular=max_size_triangular,
            min_ndim_triangular=min_ndim_triangular,
            memory_save_mode=memory_save_mode,
            momentum_into_precond_update=momentum_into_precond_update,
            precond_lr=precond_lr,
            precond_init_scale=precond_init_scale,
            merge_dims=merge_dims,
            mu_dtype=mu_dtype,
            precond_dtype=precond_dtype,
        )
        for group in self.param_groups:
            group["preconditioner_update_probability"] = None if fixed is None else float(fixed)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One Kron step; with the default schedule, the probability of this step comes from
        :func:`update_probability` (Kron reads the first group's)."""
        group = self.param_groups[0]
        fixed = group["preconditioner_update_probability"]
        group["preconditioner_update_probability"] = (
            update_probability(int(self._prob_step)) if fixed is None else fixed
        )
        quiet = contextlib.redirect_stdout(io.StringIO()) if not self.state else contextlib.nullcontext()
        try:
            with torch.compiler.set_stance("force_eager"), quiet:
                return super().step(closure)
        finally:
            group["preconditioner_update_probability"] = fixed

    def state_dict(self) -> dict[str, Any]:
        """torch's optimizer state plus ``kron``: the step and update counters and the balancing generator's state
        (ints and tuples only, so ``torch.load(weights_only=True)`` reads it)."""
        out = super().state_dict()
        out["state"] = {
            key: {**state, "merged_shape": [int(n) for n in state["merged_shape"]]}
            if "merged_shape" in state
            else state
            for key, state in out["state"].items()
        }
        out["kron"] = {
            "prob_step": int(self._prob_step),
            "update_counter": int(self._update_counter),
            "rng_state": self.rng.getstate(),
        }
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Load a :meth:`state_dict` (one of ``kron_torch.Kron`` too: its counters then start over), keeping each
        parameter's einsum expressions as they were saved."""
        state_dict = dict(state_dict)
        counters = state_dict.pop("kron", None)
        exprs = {key: state.get("exprs") for key, state in state_dict["state"].items()}
        super().load_state_dict(state_dict)
        for key, param in zip(
            (i for group in state_dict["param_groups"] for i in group["params"]),
            (p for group in self.param_groups for p in group["params"]),
            strict=True,
        ):
            if exprs.get(key) is not None:
                self.state[param]["exprs"] = exprs[key]
        if counters is not None:
            self._prob_step = torch.tensor(counters["prob_step"], dtype=torch.int32)
            self._update_counter = torch.tensor(counters["update_counter"], dtype=torch.int32)
            self.rng.setstate(counters["rng_state"])
