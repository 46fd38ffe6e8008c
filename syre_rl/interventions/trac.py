"""TRAC (Muppidi, Zhang, Yang, "Fast TRAC: A Parameter-Free Optimizer for Lifelong Reinforcement Learning", NeurIPS
2024): a parameter-free scale tuner around Adam, as an optimizer class (:class:`TracAdam`: pass it as any SB3
policy's ``optimizer_class``) and an actor-critic policy that uses it by default (:class:`TracActorCriticPolicy`,
the one the ``ppo_trac`` recipe names).

TRAC keeps the parameters as ``theta_t = theta_ref + max(S_{t-1}, 0) * Delta_t``: ``theta_ref`` the parameters at
the first step, ``Delta`` the sum of Adam's updates, and ``S`` a learned scale that pulls the whole trajectory back
toward ``theta_ref`` when the gradients stop agreeing with it. At each step, with gradient ``g_t`` at ``theta_t``:

1. ``u_t`` = Adam's update of ``theta_t`` with ``g_t``;
2. ``h_t = <Delta_t, g_t>`` (summed over all parameters), then ``Delta_{t+1} = Delta_t + u_t``;
3. for each discount ``beta_j``: ``v_j <- beta_j^2 v_j + h_t^2``, ``sigma_j <- beta_j sigma_j - h_t`` and
   ``s_j = s_init / erfi(1/sqrt 2) * erfi(sigma_j / (sqrt 2 * sqrt(v_j) + eps))``;
4. ``S_t = sum_j s_j`` and ``theta_{t+1} = theta_ref + max(S_t, 0) * Delta_{t+1}``.

The state starts at ``Delta_1 = 0``, ``s_j = 0``, ``v_j = 0``, ``sigma_j = 1e-8``; defaults ``beta = (0.9, 0.99, ...,
0.999999)``, ``s_init = 1e-8``, ``eps = 1e-8`` are the paper's. ``Delta`` is kept as a state of its own (one tensor
per parameter): the authors' public code recovers it at each step as ``(theta_t - theta_ref) / (S_{t-1} + eps)``,
which is the same in exact arithmetic while ``S > 0`` but loses it to float32 rounding while the scale is tiny (as it
is at the start, ``S ~ 1e-7``: a step of ``1e-3 * S`` vanishes next to a weight of 0.1) and sets it to 0 whenever
``S <= 0``. Parameters without a gradient at a step are left out of that step, as Adam leaves them. The tuner's state
travels in :meth:`TracAdam.state_dict`, so SB3's ``save`` and ``load`` keep it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from stable_baselines3.common.policies import ActorCriticPolicy

#: Beyond this |x|, erfi(x) exceeds the largest float64.
ERFI_LIMIT = 26.0
#: The paper's discount factors of the scale tuners.
TRAC_BETAS: tuple[float, ...] = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)


def erfi(x: float) -> float:
    """The imaginary error function ``erfi(x) = 2/sqrt(pi) * sum_n x^(2n+1) / (n! (2n+1))`` of a real ``x``, in
    float64 (every term of the series has the sign of ``x``, so the sum is accurate); ``+-inf`` beyond
    :data:`ERFI_LIMIT`, NaN for NaN."""
    if math.isnan(x):
        return math.nan
    ax = abs(x)
    if ax > ERFI_LIMIT:
        return math.copysign(math.inf, x)
    x2 = ax * ax
    power, total, n = ax, ax, 0  # power = ax^(2n+1) / n!
    while True:
        n += 1
        power *= x2 / n
        term = power / (2 * n + 1)
        total += term
        if n > x2 and term <= 1e-17 * total:
            break
    return math.copysign(2.0 / math.sqrt(math.pi) * total, x)


def _adam_step(optimizer: torch.optim.Adam) -> None:
    """Adam's own step, without the optimizer hooks (they run once, around :meth:`TracAdam.step`)."""
    step = torch.optim.Adam.step
    if getattr(step, "hooked", False):  # torch wraps a class's step with the hook runner once an instance exists
        step = step.__wrapped__  # type: ignore[attr-defined]
    step(optimizer)


class TracAdam(torch.optim.Adam):
    """Adam wrapped by TRAC (see the module docstring); Adam's arguments plus the tuner's.

    :param params: the parameters (or parameter groups) to optimise.
    :param trac_betas: discount factors of the scale tuners, each in (0, 1). Default :data:`TRAC_BETAS`.
    :param s_init: initial scale ``s_init`` > 0. Default 1e-8.
    :param trac_eps: ``eps`` > 0 of the tuner (not Adam's ``eps``). Default 1e-8.
    :param kwargs: Adam's arguments (``lr``, ``betas``, ``eps``, ...).
    """

    def __init__(
        self,
        params: Iterable[Any],
        trac_betas: Sequence[float] = TRAC_BETAS,
        s_init: float = 1e-8,
        trac_eps: float = 1e-8,
        **kwargs: Any,
    ) -> None:
        super().__init__(params, **kwargs)
        betas = [float(b) for b in trac_betas]
        if not betas or not all(0.0 < b < 1.0 for b in betas):
            raise ValueError(f"trac_betas must be a non-empty list of numbers in (0, 1), got {trac_betas!r}")
        if not (math.isfinite(s_init) and s_init > 0) or not (math.isfinite(trac_eps) and trac_eps > 0):
            raise ValueError(f"s_init and trac_eps must be finite numbers > 0, got {s_init!r} and {trac_eps!r}")
        self.trac_betas = betas
        self.s_init = float(s_init)
        self.trac_eps = float(trac_eps)
        self._tuner: dict[str, Any] = {
            "s": [0.0] * len(betas),
            "variance": [0.0] * len(betas),
            "sigma": [1e-8] * len(betas),
            "steps": 0,
        }

    @property
    def scale(self) -> float:
        """The scale ``S_t = sum_j s_j`` of the last step (0 before the first); the parameters use ``max(S, 0)``."""
        return float(sum(self._tuner["s"]))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One TRAC step around one Adam step.

        :param closure: re-evaluates the model and returns the loss (optional, as for Adam).
        :return: the closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
        before = [p.detach().clone() for p in params]
        grads = [p.grad.detach().clone() for p in params if p.grad is not None]
        _adam_step(self)

        tuner = self._tuner
        h = 0.0
        deltas = []
        for param, theta, grad in zip(params, before, grads):
            state = self.state[param]
            if "trac_ref" not in state:  # added after Adam's step: Adam initialises a parameter's state when empty
                state["trac_ref"] = theta.clone()
                state["trac_delta"] = torch.zeros_like(theta)
            delta = state["trac_delta"]
            h += float(torch.dot(delta.flatten().double(), grad.flatten().double()))
            delta.add_(param - theta)
            deltas.append(delta)

        for j, beta in enumerate(self.trac_betas):
            tuner["variance"][j] = beta * beta * tuner["variance"][j] + h * h
            tuner["sigma"][j] = beta * tuner["sigma"][j] - h
            ratio = tuner["sigma"][j] / (math.sqrt(2.0) * math.sqrt(tuner["variance"][j]) + self.trac_eps)
            tuner["s"][j] = self.s_init / erfi(1.0 / math.sqrt(2.0)) * erfi(ratio)
        tuner["steps"] += 1
        total = sum(tuner["s"])
        if not math.isfinite(total):
            raise ValueError(f"TRAC's scale is {total} at step {tuner['steps']} (h = {h}); the tuner overflowed")
        scale = max(total, 0.0)
        for param, delta in zip(params, deltas):
            param.copy_(self.state[param]["trac_ref"] + delta * scale)
        return loss

    def state_dict(self) -> dict[str, Any]:
        """Adam's state dict (each parameter's state with its ``trac_ref`` and ``trac_delta``) plus the tuner's state
        under ``"trac"``."""
        data = super().state_dict()
        data["trac"] = {key: list(value) if isinstance(value, list) else value for key, value in self._tuner.items()}
        return data

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a :meth:`state_dict` (a plain Adam state dict starts the tuner afresh)."""
        state_dict = dict(state_dict)
        tuner = state_dict.pop("trac", None)
        super().load_state_dict(state_dict)
        if tuner is not None:
            if len(tuner["s"]) != len(self.trac_betas):
                raise ValueError(
                    f"the saved TRAC state has {len(tuner['s'])} tuners, this optimizer {len(self.trac_betas)}"
                )
            self._tuner = {key: list(value) if isinstance(value, list) else value for key, value in tuner.items()}


class TracActorCriticPolicy(ActorCriticPolicy):
    """SB3's ``ActorCriticPolicy`` (MlpPolicy) trained by :class:`TracAdam`; same arguments, with
    ``optimizer_class`` defaulting to :class:`TracAdam` (``optimizer_kwargs`` go to it: Adam's and the tuner's).

    SB3 gives its default Adam ``eps = 1e-5``, and only that class; pass ``optimizer_kwargs={"eps": 1e-5}`` for the
    same here (the ``ppo_trac`` recipe does).
    """

    def __init__(self, *args: Any, optimizer_class: type[torch.optim.Optimizer] = TracAdam, **kwargs: Any) -> None:
        kwargs["optimizer_class"] = optimizer_class
        super().__init__(*args, **kwargs)
