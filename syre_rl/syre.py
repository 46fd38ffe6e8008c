"""syre: remove parameter symmetries with a fixed random offset and re-centred weight decay.

The method (Ziyin, Xu, Chuang, "Remove Symmetries to Control Model Expressivity and Improve Optimization",
ICLR 2025) trains a network whose every parameter is used as ``w = theta + theta_0``:

* ``theta_0`` is a fixed random offset, drawn once elementwise from ``N(0, sigma_0^2)`` and never trained;
* ``theta`` is the trainable part, initialised by the network's usual initialiser;
* the objective is ``l(theta + theta_0) + (gamma / 2) * ||theta||^2``, i.e. weight decay acts on ``theta``.

The random anchor breaks every countable reflection symmetry of the loss with probability one (permutations of
identical units, dead units with zero in- and out-weights, sign flips), so the collapsed low-capacity states that
weight decay otherwise pulls training into are no longer fixed points.

Equivalence used here
    Writing the network in terms of ``w`` makes the objective ``l(w) + (gamma / 2) * ||w - theta_0||^2``. So instead
    of reparametrising the forward pass, the network's own parameters hold ``w``: they are shifted by ``theta_0`` once
    after the usual initialisation, and weight decay is re-centred from 0 onto ``theta_0``. Training is exactly the
    same as with the explicit ``f(x; theta + theta_0)``, the forward pass costs nothing extra, and the state_dict
    keys are those of the plain network, so a trained network deploys without this module.

The same operation with other anchors gives the classic baselines (see :class:`AnchoredDecay`):
anchor 0 is L2 weight decay, anchor ``w_init`` is L2-Init (Kumar et al.), anchor ``theta_0`` is syre.

Decay modes (``gamma`` follows torch's ``weight_decay`` convention: the gradient term is ``gamma * (w - anchor)``)
    ``"coupled"``: add ``gamma * (w - anchor)`` to each gradient just before the optimizer steps, exactly where
    ``torch.optim.Adam(weight_decay=gamma)`` adds ``gamma * w`` (so after any gradient clipping done before
    ``optimizer.step()``). With anchor 0 this reproduces Adam's own weight decay bit for bit. This is what the
    paper's PPO experiments used.
    ``"decoupled"``: before the step, ``w <- w - lr * gamma * (w - anchor)``, AdamW-style, with each parameter
    group's current learning rate.

syre-ar (rotation-type symmetries)
    ``ar_spread = eps > 0`` replaces the isotropic decay by ``(gamma / 2) * theta^T D theta`` with a fixed diagonal
    ``D_ii ~ U(1 - eps, 1 + eps)``. The paper used eps = 0 in every experiment, which is the default.

Defaults and their sources
    ``sigma_0 = sigma_scale / sqrt(fan_in)`` with ``sigma_scale = 0.01``: the paper's rule "0.01 / sqrt(d) where
    1/d is the usual init variance", i.e. about 1% of the default init std. ``fan_in`` of a tensor with two or more
    dimensions is ``numel / shape[0]`` (Linear: in_features; Conv: in_channels / groups * kernel size). A 1-D tensor
    (a bias, a LayerNorm scale) uses the fan-in of the weight of the same module when that module has a weight of
    two or more dimensions, and fan-in 1 otherwise (so sigma_0 = sigma_scale for a LayerNorm's scale and shift).
    ``gamma = 0.002``: the weight decay of the paper's RL experiments (PPO + weight decay and PPO + syre).
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Literal

import torch
from torch import nn

from syre_rl.validation import check_real

DecayMode = Literal["coupled", "decoupled"]
DECAY_MODES: tuple[str, ...] = ("coupled", "decoupled")
# Key under which an attached AnchoredDecay stores itself in its optimizer's state_dict.
OPTIMIZER_STATE_KEY = "anchored_decay"
# Exclusions that may match nothing: SB3's log_std exists only in Gaussian policies.
OPTIONAL_EXCLUDES: frozenset[str] = frozenset({"log_std"})
# Parameters already shifted by a theta_0 (id -> weak reference): shifting twice would silently double the offset.
_SHIFTED: dict[int, weakref.ref[torch.Tensor]] = {}


def _mark_shifted(param: torch.Tensor) -> None:
    key = id(param)
    _SHIFTED[key] = weakref.ref(param, lambda _: _SHIFTED.pop(key, None))


def _is_shifted(param: torch.Tensor) -> bool:
    ref = _SHIFTED.get(id(param))
    return ref is not None and ref() is param


class AnchoredDecay:
    """Weight decay toward a fixed anchor per parameter: the gradient term is ``gamma * D * (w - anchor)``.

    One mechanism for three methods, which differ only in the anchor: zeros (L2), the initial weights (L2-Init),
    a random offset ``theta_0`` (syre). It is not an ``nn.Module`` and holds no parameters of the network, so the
    network's ``state_dict`` is untouched. Attach it to the optimizer(s) that train the parameters with
    :meth:`attach`; the anchors then also travel inside the optimizer's ``state_dict`` (key ``"anchored_decay"``),
    so any checkpoint that saves the optimizer restores them bit-exactly.

    :param named_parameters: ``(name, parameter)`` pairs to decay; names identify them in the saved state.
    :param anchors: one tensor per parameter, same shape; copied.
    :param weight_decay: ``gamma >= 0``, torch's weight_decay convention. Default 0.002 (paper's RL setting).
    :param mode: ``"coupled"`` (gradient term, like Adam's weight_decay) or ``"decoupled"`` (AdamW-style).
    :param scales: optional per-element factors ``D`` (syre-ar), one tensor per parameter; ``None`` means 1.
    :param reanchor_on_reinit: the anchor is the initial weights (L2-Init): :meth:`reinitialised` moves it to the
        fresh weights. Default False (the anchor stays, as for L2).
    """

    def __init__(
        self,
        named_parameters: Iterable[tuple[str, nn.Parameter]],
        anchors: Sequence[torch.Tensor],
        weight_decay: float = 0.002,
        mode: DecayMode = "coupled",
        scales: Sequence[torch.Tensor] | None = None,
        reanchor_on_reinit: bool = False,
    ) -> None:
        named = list(named_parameters)
        if not named:
            raise ValueError("AnchoredDecay needs at least one parameter, got none (check the include/exclude filter)")
        if mode not in DECAY_MODES:
            raise ValueError(f"mode must be one of {DECAY_MODES}, got {mode!r}")
        if len(anchors) != len(named):
            raise ValueError(f"got {len(anchors)} anchors for {len(named)} parameters")
        if scales is not None and len(scales) != len(named):
            raise ValueError(f"got {len(scales)} scale tensors for {len(named)} parameters")
        self.weight_decay = check_real("weight_decay", weight_decay, low=0.0)
        self.mode: DecayMode = mode
        self.names = [name for name, _ in named]
        self.params: list[torch.Tensor] = [param for _, param in named]
        self._index = {id(param): i for i, param in enumerate(self.params)}
        for name, param, anchor in zip(self.names, self.params, anchors):
            if anchor.shape != param.shape:
                raise ValueError(f"anchor of {name!r} has shape {tuple(anchor.shape)}, parameter {tuple(param.shape)}")
        self.anchors = [a.detach().to(p.device, p.dtype).clone() for a, p in zip(anchors, self.params)]
        self.scales = (
            None if scales is None else [s.detach().to(p.device, p.dtype).clone() for s, p in zip(scales, self.params)]
        )
        self.reanchor_on_reinit = reanchor_on_reinit
        self._optimizers: list[torch.optim.Optimizer] = []
        self._handles: list[Any] = []

    # ------------------------------------------------------------------ the operation
    def _sync_devices(self) -> None:
        """Follow the parameters when the network was moved (``module.to(device)``) after the anchors were made."""
        p, a = self.params[0], self.anchors[0]
        if a.device != p.device or a.dtype != p.dtype:
            self.anchors = [a.to(p.device, p.dtype) for a, p in zip(self.anchors, self.params)]
            if self.scales is not None:
                self.scales = [s.to(p.device, p.dtype) for s, p in zip(self.scales, self.params)]

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer) -> None:
        """Apply one step's decay to the parameters this optimizer trains (called before ``optimizer.step()``)."""
        if self.weight_decay == 0.0:
            return
        self._sync_devices()
        for group in optimizer.param_groups:
            # like torch optimizers, parameters without a gradient are left alone
            found = (self._index.get(id(p)) for p in group["params"] if p.grad is not None)
            idx = [i for i in found if i is not None]
            if not idx:
                continue
            params = [self.params[i] for i in idx]
            anchors = [self.anchors[i] for i in idx]
            pull = torch._foreach_sub(params, anchors)  # w - anchor, one fused call
            if self.scales is not None:
                torch._foreach_mul_(pull, [self.scales[i] for i in idx])
            if self.mode == "coupled":
                grads = [p.grad for p in params if p.grad is not None]  # all of them: filtered above
                # a maximizing optimizer ascends the gradient, so the decay term enters it with the opposite sign
                sign = -1.0 if group.get("maximize", False) else 1.0
                torch._foreach_add_(grads, pull, alpha=sign * self.weight_decay)
            else:
                torch._foreach_add_(params, pull, alpha=-group["lr"] * self.weight_decay)

    @torch.no_grad()
    def reinitialised(self, names: Collection[str]) -> None:
        """Follow a re-initialisation of the named parameters, whose fresh values are already written (e.g. a reset
        at a task switch): L2-Init re-anchors on the fresh weights; a fixed anchor (L2) stays."""
        if not self.reanchor_on_reinit:
            return
        for name, param, anchor in zip(self.names, self.params, self.anchors):
            if name in names:
                anchor.copy_(param)

    @torch.no_grad()
    def reinitialised_entries(self, param: torch.Tensor, mask: torch.Tensor, fresh: bool = True) -> None:
        """Follow a re-initialisation of the entries ``param[mask]`` (one unit's row or column: ReDo, continual
        backprop), whose new values are already written. L2-Init moves their anchor to the new values; L2 keeps 0.

        :param param: a parameter of the network; one the decay does not treat is left alone.
        :param mask: boolean tensor of ``param``'s shape, True at the re-initialised entries.
        :param fresh: the new values are a fresh initialisation (incoming weights, bias, norm entries); False: they
            are the weights to hold as written (ReDo's zero outgoing weights, which keep the output unchanged).
            Only syre tells the two apart (see :meth:`Syre.reinitialised_entries`).
        """
        i = self._index.get(id(param))
        if i is not None and self.reanchor_on_reinit:
            self._sync_devices()
            self.anchors[i][mask] = param[mask]

    def offset(self, param: torch.Tensor) -> torch.Tensor | None:
        """The fixed part of ``param`` in ``w = theta + offset`` (syre's ``theta_0``); None for L2 and L2-Init,
        whose weights are all trainable, and for a parameter the decay does not treat."""
        return None

    def attach(self, optimizer: torch.optim.Optimizer) -> AnchoredDecay:
        """Run :meth:`apply` before every ``optimizer.step()`` and keep the anchors in the optimizer's state_dict.

        Can be called for several optimizers (e.g. separate actor and critic optimizers); each then decays only
        the parameters it trains. Returns ``self``.

        :raises ValueError: the optimizer trains none of the decayed parameters (the decay would never act).
        """
        _check_trains_some(optimizer, self.names, self.params)
        self._hook(optimizer)
        self._optimizers.append(optimizer)
        return self

    def _hook(self, optimizer: torch.optim.Optimizer) -> None:
        self._handles.append(optimizer.register_step_pre_hook(self._before_step))
        self._handles.append(optimizer.register_state_dict_post_hook(self._add_to_optimizer_state))
        self._handles.append(optimizer.register_load_state_dict_pre_hook(self._take_from_optimizer_state))

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.apply(optimizer)

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimizers this decay is attached to."""
        return list(self._optimizers)

    def reattach(self, optimizer: torch.optim.Optimizer) -> AnchoredDecay:
        """Attach to this optimizer instead of the ones attached so far (e.g. a copy made without this decay)."""
        self.detach()
        return self.attach(optimizer)

    # torch copies and pickles optimizers without their hooks. A decay copied or unpickled together with its
    # network and optimizers (e.g. ``copy.deepcopy(policy)``) therefore indexes the copied parameters and hooks
    # itself onto the copied optimizers again, so the copy keeps decaying.
    def __deepcopy__(self, memo: dict[int, Any]) -> AnchoredDecay:
        new = copy.copy(self)
        memo[id(self)] = new
        new.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return new

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key not in ("_handles", "_index")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._index = {id(param): i for i, param in enumerate(self.params)}
        self._handles = []
        for optimizer in self._optimizers:
            self._hook(optimizer)

    def detach(self) -> None:
        """Remove every hook installed by :meth:`attach`; the parameters keep their current values."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._optimizers.clear()

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        """Anchors, scales and settings as tensors and plain values (``torch.load(weights_only=True)`` reads it)."""
        return {
            "names": list(self.names),
            "anchors": [a.clone() for a in self.anchors],
            "scales": None if self.scales is None else [s.clone() for s in self.scales],
            "weight_decay": self.weight_decay,
            "mode": self.mode,
        }

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Restore anchors and settings saved by :meth:`state_dict` (``strict`` is accepted for SB3's loader)."""
        if list(state["names"]) != self.names:
            raise ValueError(f"saved anchors are for parameters {state['names']}, this network has {self.names}")
        for name, param, anchor in zip(self.names, self.params, state["anchors"]):
            if anchor.shape != param.shape:
                raise ValueError(
                    f"saved anchor of {name!r} has shape {tuple(anchor.shape)}, parameter {tuple(param.shape)}"
                )
        if state["mode"] not in DECAY_MODES:
            raise ValueError(f"saved mode must be one of {DECAY_MODES}, got {state['mode']!r}")
        self.weight_decay = check_real("weight_decay", state["weight_decay"], low=0.0)
        self.mode = state["mode"]
        self.anchors = [a.detach().to(p.device, p.dtype).clone() for a, p in zip(state["anchors"], self.params)]
        scales = state.get("scales")
        self.scales = (
            None if scales is None else [s.detach().to(p.device, p.dtype).clone() for s, p in zip(scales, self.params)]
        )

    def _add_to_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
        state[OPTIMIZER_STATE_KEY] = self.state_dict()
        return state

    def _take_from_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> dict[str, Any]:
        saved = state.pop(OPTIMIZER_STATE_KEY, None)
        if saved is not None:
            self.load_state_dict(saved)
        return state

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(parameters={len(self.params)}, weight_decay={self.weight_decay}, mode={self.mode!r})"


class Syre(AnchoredDecay):
    """:class:`AnchoredDecay` whose anchors are the random offset ``theta_0`` (built by :func:`apply_syre`).

    :attr:`theta_0` is the offset (the anchors); :meth:`theta` gives the trainable part ``w - theta_0``.
    """

    def __init__(self, *args: Any, seed: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for param in self.params:  # a copied network holds w = theta + theta_0 too
            _mark_shifted(param)

    @property
    def theta_0(self) -> list[torch.Tensor]:
        return self.anchors

    def theta(self) -> dict[str, torch.Tensor]:
        """The trainable part ``theta = w - theta_0`` of every treated parameter, by name."""
        self._sync_devices()
        return {n: p.detach() - a for n, p, a in zip(self.names, self.params, self.anchors)}

    @torch.no_grad()
    def reinitialised(self, names: Collection[str]) -> None:
        """syre builds ``w = theta + theta_0``: fresh values of the named parameters are a new ``theta``, so
        ``theta_0`` (kept) is added to them."""
        self._sync_devices()
        for name, param, anchor in zip(self.names, self.params, self.anchors):
            if name in names:
                param.add_(anchor)

    @torch.no_grad()
    def reinitialised_entries(self, param: torch.Tensor, mask: torch.Tensor, fresh: bool = True) -> None:
        """Follow a re-initialisation of the entries ``param[mask]``: fresh values are a new ``theta``, so
        ``theta_0`` (kept) is added to them (``w = theta_fresh + theta_0``); values written as weights
        (``fresh=False``) stay, so ReDo's zero outgoing weight is ``w = 0``, i.e. ``theta = -theta_0``: a recycled
        unit then leaves the network's output unchanged, as ReDo intends, and the decay pulls ``w`` toward
        ``theta_0`` from there (0 is no special point of syre's objective, so no symmetry is restored)."""
        i = self._index.get(id(param))
        if i is not None and fresh:
            self._sync_devices()
            param[mask] += self.anchors[i][mask]

    def offset(self, param: torch.Tensor) -> torch.Tensor | None:
        """``theta_0`` of ``param`` (None for a parameter syre does not treat)."""
        i = self._index.get(id(param))
        if i is None:
            return None
        self._sync_devices()
        return self.anchors[i]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state, strict)
        self.seed = int(state.get("seed", self.seed))


def _check_trains_some(optimizer: torch.optim.Optimizer, names: list[str], params: Sequence[torch.Tensor]) -> None:
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not any(id(p) in trained for p in params):
        raise ValueError(
            f"{type(optimizer).__name__} trains none of the {len(params)} decayed parameters ({names[:3]}...): "
            "attach the decay to the optimizer of the same network"
        )


def fan_in_of(module: nn.Module, param_name: str, param: torch.Tensor) -> int:
    """The fan-in that sets ``sigma_0`` for one parameter (rule in the module docstring)."""
    if param.dim() >= 2:
        return max(1, param.numel() // param.shape[0])
    weight = getattr(module, "weight", None)
    if param_name != "weight" and isinstance(weight, torch.Tensor) and weight.dim() >= 2:
        return max(1, weight.numel() // weight.shape[0])
    return 1


def select_parameters(
    module: nn.Module,
    include: Callable[[str, nn.Parameter], bool] | None = None,
    exclude: Sequence[str] = (),
) -> list[tuple[str, nn.Module, str, nn.Parameter]]:
    """Trainable parameters of ``module`` as ``(full_name, owner_module, local_name, param)``, shared ones once.

    :param include: keep a parameter only if ``include(full_name, param)`` is true; default keeps all.
    :param exclude: drop parameters whose full name equals one of these or ends with ``"." + it``.
    :raises ValueError: a name of ``exclude`` matches no parameter (a misspelt exclusion would silently exclude
        nothing), except those of :data:`OPTIONAL_EXCLUDES`.
    """
    names = [name for name, param in module.named_parameters() if param.requires_grad]
    unmatched = [
        e for e in exclude if e not in OPTIONAL_EXCLUDES and not any(n == e or n.endswith("." + e) for n in names)
    ]
    if unmatched:
        raise ValueError(f"exclude names {unmatched} match no trainable parameter of {type(module).__name__}: {names}")
    selected, seen = [], set()
    for owner_name, owner in module.named_modules():
        for local_name, param in owner.named_parameters(recurse=False):
            full_name = f"{owner_name}.{local_name}" if owner_name else local_name
            if id(param) in seen or not param.requires_grad:
                continue
            if any(full_name == e or full_name.endswith("." + e) for e in exclude):
                continue
            if include is not None and not include(full_name, param):
                continue
            seen.add(id(param))
            selected.append((full_name, owner, local_name, param))
    return selected


@torch.no_grad()
def apply_syre(
    module: nn.Module,
    weight_decay: float = 0.002,
    sigma_scale: float = 0.01,
    sigma_0: float | None = None,
    mode: DecayMode = "coupled",
    ar_spread: float = 0.0,
    seed: int | None = None,
    include: Callable[[str, nn.Parameter], bool] | None = None,
    exclude: Sequence[str] = (),
    optimizer: torch.optim.Optimizer | Sequence[torch.optim.Optimizer] | None = None,
) -> Syre:
    """Treat ``module`` with syre: draw ``theta_0``, shift the parameters by it, and decay toward it.

    Call it after the network's usual initialisation. Works on any ``nn.Module`` and needs no knowledge of its
    symmetries. The parameters are changed in place (same ``Parameter`` objects), so an optimizer built before or
    after the call trains them; pass it as ``optimizer`` (or call ``.attach(opt)`` later) to switch the decay on.

    :param module: the network; every trainable parameter takes part unless filtered by ``include``/``exclude``.
    :param weight_decay: ``gamma >= 0`` (torch convention, gradient term ``gamma * (w - theta_0)``). Default 0.002.
    :param sigma_scale: ``sigma_0 = sigma_scale / sqrt(fan_in)`` per tensor when ``sigma_0`` is None. Default 0.01.
    :param sigma_0: one absolute offset std for every tensor instead of the per-tensor rule. Default None.
    :param mode: ``"coupled"`` (default) or ``"decoupled"``.
    :param ar_spread: syre-ar diagonal spread eps in [0, 1): ``D_ii ~ U(1 - eps, 1 + eps)``. Default 0 (basic syre).
    :param seed: seed of the generator that draws ``theta_0`` (and ``D``). None draws one from torch's global RNG,
        so the offset follows ``torch.manual_seed``. Offsets are drawn on the CPU in float32, so a seed gives the
        same ``theta_0`` on every device.
    :param include: keep a parameter only if ``include(full_name, param)`` is true.
    :param exclude: full names (or name suffixes after a dot) of parameters left untouched.
    :param optimizer: optimizer(s) to attach the decay to now.
    :return: the :class:`Syre` object holding ``theta_0``.
    """
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    sigma_scale = check_real("sigma_scale", sigma_scale, low=0.0)
    if sigma_0 is not None:
        sigma_0 = check_real("sigma_0", sigma_0, low=0.0)
    ar_spread = check_real("ar_spread", ar_spread, low=0.0)
    if ar_spread >= 1:
        raise ValueError(f"ar_spread must be in [0, 1) so that every D_ii > 0, got {ar_spread!r}")
    if mode not in DECAY_MODES:
        raise ValueError(f"mode must be one of {DECAY_MODES}, got {mode!r}")
    selected = select_parameters(module, include, exclude)
    if not selected:
        raise ValueError(f"apply_syre found no trainable parameters in {type(module).__name__} after filtering")
    twice = [name for name, _, _, param in selected if _is_shifted(param)]
    if twice:
        raise ValueError(f"parameters {twice[:3]} are already shifted by a theta_0; apply syre once per module")
    optimizers = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else list(optimizer or [])
    for opt in optimizers:  # checked before anything is shifted
        _check_trains_some(opt, [name for name, *_ in selected], [param for *_, param in selected])
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    generator = torch.Generator(device="cpu").manual_seed(int(seed))

    offsets, scales = [], []
    for _, owner, local_name, param in selected:
        std = sigma_0 if sigma_0 is not None else sigma_scale / math.sqrt(fan_in_of(owner, local_name, param))
        offset = torch.randn(param.shape, generator=generator, dtype=torch.float32) * std
        offset = offset.to(param.device, param.dtype)
        param.add_(offset)  # w = theta + theta_0, theta being the usual initialisation
        _mark_shifted(param)
        offsets.append(offset)
        if ar_spread > 0:
            u = torch.rand(param.shape, generator=generator, dtype=torch.float32)
            scales.append(1.0 - ar_spread + 2.0 * ar_spread * u)

    syre = Syre(
        [(name, param) for name, _, _, param in selected],
        offsets,
        weight_decay=weight_decay,
        mode=mode,
        scales=scales if ar_spread > 0 else None,
        seed=int(seed),
    )
    for opt in optimizers:
        syre.attach(opt)
    return syre
