"""Hidden units of a policy, for interventions that act unit by unit (ReDo, continual backprop).

Layers are found by :func:`syre_rl.plasticity.capture.find_hidden_layers` (traced data flow, actor/critic tags), the
same discovery the plasticity metrics use. A hidden unit ``i`` is produced by entry ``i`` on dim 0 of its
producing weight layer (a ``Linear`` row or a convolution's output channel, with its bias), optionally passes a
per-unit ``LayerNorm`` entry, then the activation, and is consumed by slice ``i`` on dim 1 of each consuming weight
layer (a ``Linear`` column, a convolution's input channel, or a block of columns after a flatten).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from syre_rl.plasticity.capture import HiddenLayer, find_hidden_layers
from syre_rl.syre import AnchoredDecay


def _weight_of(module: nn.Module) -> torch.Tensor:
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"{type(module).__name__} has no weight tensor")
    return weight


@dataclass(eq=False)
class UnitLayer:
    """One hidden layer with the parameters that belong to its units.

    :param name: dotted name of the activation module in the policy (as in the plasticity metrics).
    :param network: ``"actor"``, ``"critic"`` or ``"shared"``.
    :param in_layer: the weight layer producing the units (unit ``i`` owns ``weight[i]`` and ``bias[i]``).
    :param norm: a per-unit ``LayerNorm`` between ``in_layer`` and the activation, or None.
    :param module: the activation module whose output is the units' activity (the hook point, as in
        :class:`syre_rl.plasticity.capture.HiddenLayer`, so :func:`~syre_rl.plasticity.capture.capture_activations`
        accepts these layers).
    :param out_layers: the weight layers consuming the units.
    """

    name: str
    network: str
    in_layer: nn.Module
    norm: nn.LayerNorm | None
    module: nn.Module
    out_layers: list[nn.Module]

    @property
    def width(self) -> int:
        return int(self.in_weight.shape[0])

    @property
    def in_weight(self) -> torch.Tensor:
        """The weight of ``in_layer`` (unit ``i`` owns row ``i``)."""
        return _weight_of(self.in_layer)

    @property
    def out_weights(self) -> list[torch.Tensor]:
        """The weights of the consuming layers."""
        return [_weight_of(m) for m in self.out_layers]

    def unit_view(self, tensor: torch.Tensor) -> torch.Tensor:
        """A consumer's weight-shaped tensor viewed as ``(out, width, -1)``: unit ``i`` owns ``view[:, i]``."""
        return tensor.view(tensor.shape[0], self.width, -1)

    def row_params(self) -> list[torch.Tensor]:
        """The tensors whose entries ``[i]`` belong to unit ``i``: incoming weight, bias, per-unit LayerNorm entries."""
        rows = [self.in_weight, getattr(self.in_layer, "bias", None)]
        if self.norm is not None and self.norm.elementwise_affine:
            rows += [self.norm.weight, self.norm.bias]
        return [p for p in rows if isinstance(p, torch.Tensor)]

    def column_mask(self, param: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the entries of a consumer's weight-shaped ``param`` that belong to ``units``."""
        mask = torch.zeros_like(param, dtype=torch.bool)
        self.unit_view(mask)[:, units] = True
        return mask

    def outgoing_magnitude(self) -> torch.Tensor:
        """Mean absolute outgoing weight of each unit over all its consumers, ``(width,)``."""
        views = [self.unit_view(w.detach()).abs() for w in self.out_weights]
        parts = [v.transpose(0, 1).reshape(self.width, -1) for v in views]
        return torch.cat(parts, dim=1).mean(dim=1)


def _norm_between(modules: dict[str, nn.Module], layer: HiddenLayer) -> nn.LayerNorm | None:
    parent, _, act_key = layer.name.rpartition(".")
    in_parent, _, in_key = (layer.in_name or "").rpartition(".")
    container = modules.get(parent)
    if in_parent != parent or not isinstance(container, nn.Sequential):
        return None
    keys = list(container._modules)
    if in_key not in keys or act_key not in keys:
        return None
    for key in keys[keys.index(in_key) + 1 : keys.index(act_key)]:
        module = container._modules[key]
        if isinstance(module, nn.LayerNorm) and tuple(module.normalized_shape) == (layer.n_units,):
            return module
    return None


def unit_layers(policy: nn.Module) -> list[UnitLayer]:
    """The hidden layers of ``policy`` that have a producing and at least one consuming weight layer.

    :raises ValueError: when there is none.
    """
    modules = dict(policy.named_modules())
    layers = [
        UnitLayer(
            name=h.name,
            network=h.network,
            in_layer=h.in_layer,
            norm=_norm_between(modules, h),
            module=h.module,
            out_layers=list(h.out_layers),
        )
        for h in find_hidden_layers(policy)
        if h.in_layer is not None and h.out_layers and h.module is not h.in_layer
    ]
    if not layers:
        raise ValueError(f"found no hidden layer with incoming and outgoing weights in {type(policy).__name__}")
    return layers


@torch.no_grad()
def reinitialise_units(
    layer: UnitLayer,
    units: torch.Tensor,
    fresh_in_weight: torch.Tensor,
    optimizers: Sequence[torch.optim.Optimizer] = (),
    decay: AnchoredDecay | None = None,
) -> None:
    """Re-initialise ``units`` of ``layer``: incoming weights from ``fresh_in_weight``, bias 0, norm entries at their
    init (scale 1, shift 0), outgoing weights 0, and the optimizer state of all those entries 0.

    Under an anchored decay (``decay``) the re-initialised entries are routed through it
    (:meth:`~syre_rl.syre.AnchoredDecay.reinitialised_entries`):

    * syre (``w = theta + theta_0``): the incoming weights, bias and norm entries are a fresh initialisation, i.e. a
      new ``theta``, so ``w = theta_fresh + theta_0``; the outgoing weights are set to ``w = 0`` (``theta =
      -theta_0``), so that the recycled unit leaves the network's output unchanged, as ReDo and continual backprop
      intend; ``theta_0`` is never redrawn;
    * L2-Init: the anchor of every re-initialised entry moves to its new value (the fresh row, 0 bias and outgoing
      weights, norm entries 1 and 0);
    * L2: nothing changes (anchor 0).

    :param layer: the hidden layer.
    :param units: 1-D long tensor of unit indices.
    :param fresh_in_weight: a fresh initial value of the whole ``in_layer.weight`` (entries ``units`` are used).
    :param optimizers: optimizers whose per-element state (Adam's ``exp_avg``, ``exp_avg_sq``, ...) is zeroed for
        the re-initialised entries; scalar state such as Adam's ``step`` is shared by a whole tensor and kept.
    :param decay: the policy's anchored decay (``syre_rl.policies.find_decay(policy)``); None: none.
    """
    if units.numel() == 0:
        return
    w_in = layer.in_weight
    w_in[units] = fresh_in_weight[units].to(w_in.device, w_in.dtype)
    bias = getattr(layer.in_layer, "bias", None)
    if bias is not None:
        bias[units] = 0.0
    if layer.norm is not None and layer.norm.elementwise_affine:
        layer.norm.weight[units] = 1.0
        if layer.norm.bias is not None:
            layer.norm.bias[units] = 0.0
    rows = layer.row_params()  # tensors whose entries [units] belong to the units
    columns = layer.out_weights  # tensors whose entries [:, units] belong to the units
    for w_out in columns:
        layer.unit_view(w_out)[:, units] = 0.0
    if decay is not None:
        for param in rows:
            decay.reinitialised_entries(param, _row_mask(param, units), fresh=True)
        for param in columns:
            decay.reinitialised_entries(param, layer.column_mask(param, units), fresh=False)
    for optimizer in optimizers:
        for params, is_column in ((rows, False), (columns, True)):
            for param in params:
                for value in optimizer.state.get(param, {}).values():
                    if not isinstance(value, torch.Tensor) or value.shape != param.shape:
                        continue  # e.g. Adam's scalar step count
                    if is_column:
                        layer.unit_view(value)[:, units] = 0.0
                    else:
                        value[units] = 0.0


def _row_mask(param: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros_like(param, dtype=torch.bool)
    mask[units] = True
    return mask
