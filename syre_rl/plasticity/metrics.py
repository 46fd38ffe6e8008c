"""Plasticity metrics: pure functions on tensors (torch only, any device).

Conventions
    ``h`` is a batch of one hidden layer's activations, shape ``(batch, units)`` for dense layers or
    ``(batch, channels, *spatial)`` for convolutional ones. A *unit* is a neuron of a dense layer or a channel of a
    convolutional layer; unit statistics of conv layers average over the spatial positions first (as ReDo does).
    Activation and weight metrics return 0-dim float tensors on the input's device, so a caller can compute many of
    them and synchronise once; the probe and the collapse statistics, which synchronise anyway, return floats.

Sources
    tau-dormant ratio: Sokar et al. 2023 (ReDo). Dead units: Dohare et al. 2024 (continual backprop). srank: Kumar et
    al. 2021. Effective rank: Roy and Vetterli 2007. Plasticity probe: Lyle et al. 2023. Symmetry collapse: the fixed
    points removed by syre (Ziyin, Xu, Chuang, ICLR 2025), measured here directly.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from syre_rl.validation import check_choice, check_fraction, check_int, check_real

# Activation kinds understood by :func:`active_mask`. Units of the "positive" kinds are active where h > 0.
POSITIVE_KINDS = ("relu", "leaky_relu", "elu", "gelu", "silu", "mish", "selu", "celu")
ACTIVATION_KINDS = (*POSITIVE_KINDS, "tanh", "sigmoid", "linear")
# Saturation margins of the reference definitions: tanh is saturated where |h| > 0.99, sigmoid outside [0.01, 0.99].
TANH_SATURATION = 0.99
SIGMOID_MARGIN = 0.01


def _check_batch(h: torch.Tensor) -> torch.Tensor:
    if not isinstance(h, torch.Tensor) or h.dim() < 2 or h.shape[0] == 0 or h.shape[1] == 0:
        shape = tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
        raise ValueError(f"expected activations of shape (batch, units, ...) with batch, units >= 1, got {shape}")
    return h.detach().float()


def unit_activations(h: torch.Tensor) -> torch.Tensor:
    """Activations as a ``(batch, units)`` matrix: conv channels averaged over their spatial positions."""
    h = _check_batch(h)
    return h if h.dim() == 2 else h.flatten(2).mean(dim=2)


# ---------------------------------------------------------------------------------------------------- unit activity
def unit_activity(h: torch.Tensor) -> torch.Tensor:
    """Mean absolute activation ``E|h_i|`` of each unit over the batch (and the spatial positions of conv channels).

    :param h: activations ``(batch, units, ...)``.
    :return: ``(units,)``.
    """
    h = _check_batch(h).abs()
    return h.transpose(0, 1).reshape(h.shape[1], -1).mean(dim=1)


def unit_scores(h: torch.Tensor) -> torch.Tensor:
    """ReDo's per-unit dormancy score ``s_i = E|h_i| / mean_k E|h_k|`` (Sokar et al. 2023), see :func:`unit_activity`.

    The one score of the package: :func:`dormant_ratio` counts units with a low score and ReDo recycles them.

    :param h: activations ``(batch, units, ...)``.
    :return: ``(units,)``, averaging to 1; all zeros when every unit is silent on the batch.
    """
    mean_abs = unit_activity(h)
    layer_mean = mean_abs.mean()
    return mean_abs / layer_mean if layer_mean > 0 else torch.zeros_like(mean_abs)


def dormant_ratio(h: torch.Tensor, tau: float = 0.025) -> torch.Tensor:
    """Fraction of tau-dormant units (Sokar et al. 2023): units with score ``s_i <= tau`` (see :func:`unit_scores`).

    :param h: activations ``(batch, units, ...)``.
    :param tau: threshold, unitless, in [0, 1). Default 0.025; ``tau = 0`` counts units that are exactly 0 on the
        whole batch. Common values: 0, 0.025, 0.1.
    :return: fraction in [0, 1].
    """
    tau = check_fraction("tau", tau, high_open=True)
    return (unit_scores(h) <= tau).float().mean()


def active_mask(h: torch.Tensor, kind: str = "relu") -> torch.Tensor:
    """Boolean mask, same shape as ``h``, of the entries where the unit is active (not off and not saturated).

    ``relu`` and other rectifier-like kinds (``leaky_relu, elu, gelu, silu, mish, selu, celu``): ``h > 0``, the
    region where the unit passes gradient at slope about 1. ``tanh``: ``|h| <= 0.99``. ``sigmoid``:
    ``0.01 <= h <= 0.99``. ``linear`` (no or unknown activation): ``h != 0``.
    """
    check_choice("activation kind", kind, ACTIVATION_KINDS)
    h = _check_batch(h)
    if kind in POSITIVE_KINDS:
        return h > 0
    if kind == "tanh":
        return h.abs() <= TANH_SATURATION
    if kind == "sigmoid":
        return (h >= SIGMOID_MARGIN) & (h <= 1 - SIGMOID_MARGIN)
    return h != 0


def active_fraction(h: torch.Tensor, kind: str = "relu") -> torch.Tensor:
    """Fraction of (input, unit) entries that are active, per :func:`active_mask`. For ReLU: ``1 - frac(h == 0)``."""
    return active_mask(h, kind).float().mean()


def dead_fraction(h: torch.Tensor, kind: str = "relu", max_active: float = 0.01) -> torch.Tensor:
    """Fraction of dead units (Dohare et al. 2024): units active on at most ``max_active`` of the window of inputs.

    :param h: activations on the window (the batch), ``(batch, units, ...)``; conv channels pool their positions.
    :param kind: activation kind, see :func:`active_mask`.
    :param max_active: largest active fraction of a dead unit, in [0, 1). Default 0.01 (1% of the window).
    :return: fraction in [0, 1].
    """
    max_active = check_fraction("max_active", max_active, high_open=True)
    mask = active_mask(h, kind).float()
    per_unit = mask.transpose(0, 1).flatten(1).mean(dim=1)
    return (per_unit <= max_active).float().mean()


# ---------------------------------------------------------------------------------------------------- feature ranks
def singular_values(features: torch.Tensor) -> torch.Tensor:
    """Singular values, descending, of the ``(batch, units)`` feature matrix (conv channels spatially averaged)."""
    return torch.linalg.svdvals(unit_activations(features))


def _check_sv(sv: torch.Tensor) -> torch.Tensor:
    if sv.dim() != 1:
        raise ValueError(f"singular values must be a 1-D tensor, got shape {tuple(sv.shape)}")
    return sv.float().clamp_min(0)


def srank_from_singular_values(sv: torch.Tensor, delta: float = 0.01) -> torch.Tensor:
    """srank (Kumar et al. 2021): smallest ``k`` with ``sum_{i<=k} s_i / sum_i s_i >= 1 - delta``; 0 if all s = 0."""
    delta = check_fraction("delta", delta, high_open=True)
    sv = _check_sv(sv)
    total = sv.sum()
    if total <= 0:
        return torch.zeros((), device=sv.device)
    # A relative tolerance keeps exactly-reached thresholds (equal singular values) from failing on rounding.
    cumulative = torch.cumsum(sv, 0) / total
    return (cumulative < (1 - delta) - 1e-6).sum().float() + 1


def effective_rank_from_singular_values(sv: torch.Tensor) -> torch.Tensor:
    """Effective rank (Roy and Vetterli 2007): ``exp(-sum p_i log p_i)`` with ``p_i = s_i / sum s``; 0 if all s = 0."""
    sv = _check_sv(sv)
    total = sv.sum()
    if total <= 0:
        return torch.zeros((), device=sv.device)
    p = sv / total
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum())


def approximate_rank_from_singular_values(sv: torch.Tensor, energy: float = 0.99) -> torch.Tensor:
    """Approximate rank: the smallest ``k`` with ``sum_{i<=k} s_i^2 >= energy * sum_i s_i^2``; 0 if all s = 0."""
    energy = check_fraction("energy", energy, low_open=True)
    sv = _check_sv(sv)
    sq = sv.square()
    total = sq.sum()
    if total <= 0:
        return torch.zeros((), device=sv.device)
    cumulative = torch.cumsum(sq, 0) / total
    return (cumulative < energy - 1e-6).sum().float() + 1


def srank(features: torch.Tensor, delta: float = 0.01) -> torch.Tensor:
    """srank of a feature matrix ``(batch, units)``; see :func:`srank_from_singular_values`. Default delta 0.01."""
    return srank_from_singular_values(singular_values(features), delta)


def effective_rank(features: torch.Tensor) -> torch.Tensor:
    """Effective rank of a feature matrix; see :func:`effective_rank_from_singular_values`."""
    return effective_rank_from_singular_values(singular_values(features))


def approximate_rank(features: torch.Tensor, energy: float = 0.99) -> torch.Tensor:
    """Approximate rank of a feature matrix (99% of the squared singular values by default)."""
    return approximate_rank_from_singular_values(singular_values(features), energy)


def feature_ranks(features: torch.Tensor, delta: float = 0.01, energy: float = 0.99) -> dict[str, torch.Tensor]:
    """``srank``, ``effective_rank`` and ``approx_rank`` of one feature matrix from a single SVD."""
    sv = singular_values(features)
    return {
        "srank": srank_from_singular_values(sv, delta),
        "effective_rank": effective_rank_from_singular_values(sv),
        "approx_rank": approximate_rank_from_singular_values(sv, energy),
    }


def feature_norm(h: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the L2 norm of each input's whole activation vector (all units and positions)."""
    return _check_batch(h).flatten(1).norm(dim=1).mean()


def feature_variance(h: torch.Tensor) -> torch.Tensor:
    """Mean over activation entries (units and positions) of their variance across the batch (population variance)."""
    return _check_batch(h).flatten(1).var(dim=0, unbiased=False).mean()


# ---------------------------------------------------------------------------------------------------- weights
def _flat(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    parts = [t.detach().float().reshape(-1) for t in tensors]
    if not parts or sum(p.numel() for p in parts) == 0:
        raise ValueError("expected at least one non-empty tensor, got none")
    return torch.cat(parts)


def weight_magnitude(params: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Magnitude of a layer's parameters taken together: ``mean_abs = sum|w| / N`` and ``rms = sqrt(sum w^2 / N)``."""
    w = _flat(params)
    return {"mean_abs": w.abs().mean(), "rms": w.square().mean().sqrt()}


def distance_to_init(params: Iterable[torch.Tensor], init_params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Root-mean-square distance to the initial values: ``sqrt(sum (w - w_init)^2 / N)`` (same units as ``w``)."""
    w, w0 = _flat(params), _flat(init_params)
    if w.shape != w0.shape:
        raise ValueError(f"params have {w.numel()} elements but init_params {w0.numel()}")
    return (w - w0.to(w.device)).square().mean().sqrt()


def grad_norm(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Global L2 norm of the gradients present (what ``clip_grad_norm_`` compares with its threshold); 0 if none."""
    grads = [p.grad.detach().float().reshape(-1) for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.cat(grads).norm()


# ---------------------------------------------------------------------------------------------------- policy
def mean_entropy(distribution: Any) -> torch.Tensor:
    """Mean over the batch of the entropy of an action distribution, in nats.

    Accepts a ``torch.distributions.Distribution`` or an SB3 ``Distribution`` (both have ``entropy()``). SB3's
    diagonal Gaussian sums the entropy over action dimensions. Returns NaN when the distribution has no closed-form
    entropy (SB3's squashed Gaussian returns None).
    """
    entropy = distribution.entropy()
    if entropy is None:
        return torch.tensor(float("nan"))
    return entropy.detach().float().mean()


# ---------------------------------------------------------------------------------------------------- probe
@dataclass(frozen=True)
class ProbeResult:
    """Outcome of :func:`plasticity_probe`: mean squared errors before and after fitting, and the reduction."""

    initial_loss: float
    final_loss: float

    @property
    def loss_reduction(self) -> float:
        """``1 - final_loss / initial_loss``: 0 for no progress, 1 for a perfect fit."""
        return 1.0 - self.final_loss / self.initial_loss if self.initial_loss > 0 else 0.0


def _flatten_inputs(inputs: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    if isinstance(inputs, dict):
        return torch.cat([inputs[k].detach().float().flatten(1) for k in sorted(inputs)], dim=1)
    return inputs.detach().float().flatten(1)


def random_targets(inputs: torch.Tensor | dict[str, torch.Tensor], n_targets: int = 8, seed: int = 0) -> torch.Tensor:
    """Smooth random regression targets of the inputs: standardised random Fourier features.

    ``y = standardise(sin(x_hat @ W + b))``, with ``x_hat`` the inputs flattened and standardised per column over the
    batch, ``W ~ N(0, 1/d)`` of shape ``(d, n_targets)`` and ``b ~ U(0, 2 pi)``; each target column then has mean 0
    and variance 1 over the batch. Drawn from a generator seeded with ``seed``, so every call gives the same function.
    """
    x = _flatten_inputs(inputs)
    x = (x - x.mean(0)) / (x.std(0, unbiased=False) + 1e-6)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    d = x.shape[1]
    w = (torch.randn(d, n_targets, generator=gen) / math.sqrt(d)).to(x.device)
    b = (torch.rand(n_targets, generator=gen) * 2 * math.pi).to(x.device)
    y = torch.sin(x @ w + b)
    return (y - y.mean(0)) / (y.std(0, unbiased=False) + 1e-6)


def plasticity_probe(
    model: nn.Module,
    inputs: torch.Tensor | dict[str, torch.Tensor],
    targets: torch.Tensor | None = None,
    steps: int = 100,
    lr: float = 1e-3,
    n_targets: int = 8,
    seed: int = 0,
) -> ProbeResult:
    """How trainable a network still is (Lyle et al. 2023): fit a copy of it to random targets and see the loss fall.

    A deep copy of ``model`` gets a fresh zero-initialised linear head on its (flattened) output, and the copy and
    head are trained together with Adam on the full batch for ``steps`` steps on the mean squared error. The original
    model is not touched. A network that can still learn reduces the loss a lot; one with dead or saturated units
    barely reduces it (with a zero head the initial prediction is 0, so the first loss is the targets' mean square).

    :param model: maps ``inputs`` to features (any module; e.g. a policy's feature path).
    :param inputs: a batch of inputs (tensor or dict of tensors, as ``model`` takes them).
    :param targets: ``(batch, n)`` regression targets; default :func:`random_targets` of the inputs (seeded).
    :param steps: number of Adam steps. Default 100.
    :param lr: Adam learning rate. Default 1e-3.
    :param n_targets: number of random target functions when ``targets`` is None. Default 8.
    :param seed: seed of the random targets. Default 0.
    """
    steps = check_int("steps", steps, low=1)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    y = random_targets(inputs, n_targets, seed) if targets is None else targets.detach().float()
    if y.dim() == 1:
        y = y.unsqueeze(1)
    probe = copy.deepcopy(model)
    probe.train()
    for param in probe.parameters():
        param.requires_grad_(True)
    with torch.enable_grad():
        with torch.no_grad():
            width = probe(inputs).flatten(1).shape[1]
        device = next(probe.parameters(), y).device
        # The head is made from zeros directly: building an nn.Linear would draw from torch's global generator and
        # so change the training run being measured.
        head_weight = torch.zeros(y.shape[1], width, device=device, requires_grad=True)
        head_bias = torch.zeros(y.shape[1], device=device, requires_grad=True)
        y = y.to(device)
        optimizer = torch.optim.Adam([*probe.parameters(), head_weight, head_bias], lr=lr)

        def loss_fn() -> torch.Tensor:
            return (probe(inputs).flatten(1) @ head_weight.T + head_bias - y).square().mean()

        with torch.no_grad():
            initial = float(loss_fn())
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            final = float(loss_fn())
    return ProbeResult(initial_loss=initial, final_loss=final)


# ---------------------------------------------------------------------------------------------------- collapse
@dataclass(frozen=True)
class CollapseStats:
    """Symmetry collapse of one layer (see :func:`symmetry_collapse`); fractions of the layer's ``n_units``."""

    n_units: int
    dead: float
    duplicate: float
    collapsed: float


def incoming_vectors(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """One row per unit: the unit's incoming weights (flattened for conv kernels) followed by its bias."""
    rows = weight.detach().float().reshape(weight.shape[0], -1)
    if bias is not None:
        rows = torch.cat([rows, bias.detach().float().reshape(-1, 1)], dim=1)
    return rows


def outgoing_norms(weights: Sequence[torch.Tensor], n_units: int) -> torch.Tensor:
    """L2 norm of each unit's outgoing weights over all consuming layers.

    Each consumer's ``weight`` has the units on dimension 1: ``(out, n_units)`` for a Linear, ``(out, n_units, *k)``
    for a conv, or ``(out, n_units * p)`` for a Linear after flattening a conv output (each channel owns ``p``
    consecutive columns).
    """
    total = None
    for w in weights:
        w = w.detach().float()
        if w.dim() < 2 or w.shape[1] % n_units != 0:
            raise ValueError(f"outgoing weight of shape {tuple(w.shape)} does not consume {n_units} units on dim 1")
        w = w.reshape(w.shape[0], n_units, -1)
        sq = w.square().sum(dim=(0, 2))
        total = sq if total is None else total + sq.to(total.device)
    if total is None:
        raise ValueError("expected at least one outgoing weight tensor, got none")
    return total.sqrt()


def typical_norm(norms: torch.Tensor) -> torch.Tensor:
    """A layer's typical unit norm: the root mean square of its units' norms."""
    return norms.float().square().mean().sqrt()


def symmetry_collapse(
    in_weight: torch.Tensor,
    in_bias: torch.Tensor | None = None,
    out_weights: Sequence[torch.Tensor] = (),
    in_scale: float | torch.Tensor | None = None,
    out_scale: float | torch.Tensor | None = None,
    dead_tol: float = 0.005,
    duplicate_tol: float = 0.01,
) -> CollapseStats:
    """Units of one layer sitting at a symmetry-induced fixed point, the collapse that syre removes.

    Definitions, with ``v_i = [incoming weight row of unit i, bias_i]`` and ``u_i`` the unit's outgoing weights:

    * **dead** (rescaling/sign symmetry): ``||v_i|| <= dead_tol * in_scale`` and ``||u_i|| <= dead_tol * out_scale``.
      Without consumers (``out_weights`` empty) only the incoming condition is used.
    * **duplicate** (permutation symmetry): unit ``i`` belongs to a pair ``(i, j)`` of non-dead units with
      ``||v_i - v_j|| <= duplicate_tol * in_scale``; such units compute the same function of the input.
    * **collapsed**: dead or duplicate.

    ``in_scale`` and ``out_scale`` are the layer's typical incoming and outgoing unit norms (norms scale with the
    layer's fan-in and fan-out, so tolerances are relative). Pass the values at initialisation (what the training
    callback does) so that a layer that collapsed as a whole is still recognised; by default the current layer's
    :func:`typical_norm` is used. Defaults: ``dead_tol = 0.005``, below syre's anchor scale (``sigma_0 = 0.01 /
    sqrt(fan_in)`` per weight, about 0.7-3% of a typical incoming norm) so that a unit resting on its syre anchor,
    which is not a fixed point, is not counted, and above the residual ``~lr`` per-weight jitter of a unit that
    weight decay drove to 0 under Adam; ``duplicate_tol = 0.01``, while two random units at initialisation lie about
    ``sqrt(2)`` typical norms apart. Cost: ``O(n^2 d)`` for ``n`` units of fan-in ``d``.

    :param in_weight: producing layer's weight, units on dim 0 (Linear ``(n, d)``, conv ``(n, c, *k)``).
    :param in_bias: producing layer's bias ``(n,)`` or None.
    :param out_weights: consuming layers' weights, see :func:`outgoing_norms`.
    """
    dead, duplicate = collapse_masks(in_weight, in_bias, out_weights, in_scale, out_scale, dead_tol, duplicate_tol)
    return CollapseStats(
        n_units=int(dead.numel()),
        dead=float(dead.float().mean()),
        duplicate=float(duplicate.float().mean()),
        collapsed=float((dead | duplicate).float().mean()),
    )


def collapse_masks(
    in_weight: torch.Tensor,
    in_bias: torch.Tensor | None = None,
    out_weights: Sequence[torch.Tensor] = (),
    in_scale: float | torch.Tensor | None = None,
    out_scale: float | torch.Tensor | None = None,
    dead_tol: float = 0.005,
    duplicate_tol: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The units of :func:`symmetry_collapse`, one by one: boolean masks ``(dead, duplicate)`` of shape ``(n,)``,
    same arguments and definitions."""
    dead_tol = check_fraction("dead_tol", dead_tol, high_open=True)
    duplicate_tol = check_fraction("duplicate_tol", duplicate_tol, high_open=True)
    v = incoming_vectors(in_weight, in_bias)
    n = v.shape[0]
    in_norms = v.norm(dim=1)
    in_ref = typical_norm(in_norms) if in_scale is None else torch.as_tensor(in_scale, dtype=torch.float32)
    in_ref = in_ref.to(v.device)
    dead = in_norms <= dead_tol * in_ref
    if out_weights:
        out_norms = outgoing_norms(out_weights, n).to(v.device)
        out_ref = typical_norm(out_norms) if out_scale is None else torch.as_tensor(out_scale, dtype=torch.float32)
        dead = dead & (out_norms <= dead_tol * out_ref.to(v.device))
    live = ~(in_norms <= dead_tol * in_ref)
    duplicate = torch.zeros(n, dtype=torch.bool, device=v.device)
    idx = torch.nonzero(live).flatten()
    if idx.numel() > 1:
        # float64: the matrix-product form of cdist loses precision on near-identical rows in float32.
        rows = v[idx].to("cpu" if v.device.type == "mps" else v.device, torch.float64)  # no float64 on MPS
        dist = torch.cdist(rows, rows)
        dist.fill_diagonal_(float("inf"))
        duplicate[idx] = (dist <= duplicate_tol * float(in_ref)).any(dim=1).to(v.device)
    return dead, duplicate
