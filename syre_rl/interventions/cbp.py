"""Continual backprop (Dohare et al., "Loss of plasticity in deep continual learning", Nature 2024) as an SB3 callback.

After every optimizer step, for every hidden layer of actor and critic:

* each unit's age grows by 1 and its contribution utility is tracked as
  ``u_i <- eta * u_i + (1 - eta) * mean_k |w_out[k, i]| * mean_batch |h_i|``;
* units older than ``maturity_threshold`` steps are eligible; ``replacement_rate * n_eligible`` is added to a running
  count, and when it reaches 1 the ``floor(count)`` eligible units with the lowest bias-corrected utility
  ``u_i / (1 - eta ** age_i)`` are replaced: incoming weights redrawn from the layer's initialiser, bias 0, outgoing
  weights 0, utility and age 0. Immature units are never replaced.

The optimizer state of a replaced unit (``optimizer_state``):

* ``"per_element_step"`` (default): its Adam moments are zeroed and its step count restarts, as ``AdamGnT`` in
  Dohare et al.'s code keeps one step count per element; the unit's first update is then 1x the learning rate, where
  zeroed moments under torch's per-tensor step give about 3.2x (see :mod:`syre_rl.interventions.adam_steps`).
  Needs torch's ``Adam``/``AdamW`` (SB3's default).
* ``"zero_moments"``: moments zeroed, the tensor's shared step count kept (any optimizer).
* ``"keep"``: the optimizer state is left alone. Dohare et al.'s PPO script builds torch's ``Adam``, for which their
  generate-and-test updates no optimizer state, so their RL runs behave this way.

``bias_correction`` (default off) moves the replaced unit's average contribution into each consuming layer's bias,
``b_k += w_out[k, i] * mean_h_i / (1 - eta ** age_i)`` with ``mean_h_i`` the running mean of the unit's (signed)
activation, so the network's output is unchanged on average. Off by default because that is what the original code
computes: its ``gnt.py`` runs this correction, but after it has already zeroed the replaced units' running means, so
the correction it adds is exactly zero. For convolution consumers the channel mean stands for every position.

Under an anchored decay the re-initialised entries are routed through it (``reinitialise_units(..., decay=...)``):
L2-Init re-anchors them, syre treats the fresh weights as a fresh ``theta``.

Activations come from the update itself: forward hooks on the activation modules record the batch statistics of the
latest forward pass run with gradients enabled (PPO's minibatch passes, not rollout collection under ``no_grad``), and
an optimizer step post-hook does the bookkeeping, so nothing is recomputed and the cadence is exactly one per
gradient step, as in the paper. Defaults are the paper's PPO settings (replacement rate 1e-4, maturity 10000 steps,
decay 0.99). Utilities, ages, running means, step counts and replacement counts live in the callback;
``state_dict``/``load_state_dict`` carry them across a checkpoint, so a resumed run replaces the same units as an
uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from syre_rl.interventions._hooks import HookedCallback
from syre_rl.interventions._init import fresh_module_parameters
from syre_rl.interventions._units import UnitLayer, reinitialise_units, unit_layers
from syre_rl.interventions.adam_steps import ElementwiseAdamSteps, check_adam
from syre_rl.plasticity.metrics import unit_activity
from syre_rl.policies import find_decay
from syre_rl.validation import check_choice, check_fraction, check_int

OptimizerState = Literal["per_element_step", "zero_moments", "keep"]
OPTIMIZER_STATES: tuple[str, ...] = ("per_element_step", "zero_moments", "keep")


@dataclass
class UnitStats:
    """Continual-backprop bookkeeping of one hidden layer: utility, age and mean activation per unit, fractional
    replacement count."""

    utility: torch.Tensor
    age: torch.Tensor
    mean_activation: torch.Tensor
    to_replace: float = 0.0
    replaced: int = 0


def unit_mean(h: torch.Tensor) -> torch.Tensor:
    """Mean (signed) activation of each unit over the batch (and spatial positions), ``(units,)``."""
    return h.detach().transpose(0, 1).reshape(h.shape[1], -1).mean(dim=1)


class ContinualBackpropState:
    """The generate-and-test of continual backprop over the hidden layers of one policy (torch only).

    :param policy: the policy (its hidden layers are found by ``unit_layers``).
    :param replacement_rate: fraction of eligible units replaced per step, in [0, 1]. Default 1e-4.
    :param maturity_threshold: a unit is eligible once its age exceeds this many steps. Default 10000.
    :param decay: utility decay rate eta in [0, 1). Default 0.99.
    :param bias_correction: move a replaced unit's mean contribution into the consumers' biases. Default False.
    :param optimizer_state: ``"per_element_step"``, ``"zero_moments"`` or ``"keep"`` (module docstring). Default
        ``"per_element_step"``.
    """

    def __init__(
        self,
        policy: nn.Module,
        replacement_rate: float = 1e-4,
        maturity_threshold: int = 10000,
        decay: float = 0.99,
        bias_correction: bool = False,
        optimizer_state: OptimizerState = "per_element_step",
    ) -> None:
        self.policy = policy
        self.replacement_rate = check_fraction("replacement_rate", replacement_rate)
        self.maturity_threshold = check_int("maturity_threshold", maturity_threshold)
        self.decay = check_fraction("decay", decay, high_open=True)
        self.bias_correction = bool(bias_correction)
        self.optimizer_state: OptimizerState = check_choice("optimizer_state", optimizer_state, OPTIMIZER_STATES)
        self.layers: list[UnitLayer] = unit_layers(policy)
        self.stats = {
            layer.name: UnitStats(
                utility=torch.zeros(layer.width, device=layer.in_weight.device),
                age=torch.zeros(layer.width, dtype=torch.long, device=layer.in_weight.device),
                mean_activation=torch.zeros(layer.width, device=layer.in_weight.device),
            )
            for layer in self.layers
        }
        self.adam_steps: dict[torch.optim.Optimizer, ElementwiseAdamSteps] = {}

    def steps_of(self, optimizer: torch.optim.Optimizer) -> ElementwiseAdamSteps:
        """The per-element step counts kept for ``optimizer`` (created on first use)."""
        if optimizer not in self.adam_steps:
            self.adam_steps[optimizer] = ElementwiseAdamSteps(optimizer)
        return self.adam_steps[optimizer]

    @torch.no_grad()
    def step(
        self,
        activity: dict[str, torch.Tensor],
        optimizers: Sequence[torch.optim.Optimizer] = (),
        mean_activation: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """One step of bookkeeping and replacement.

        :param activity: each layer's mean absolute activation per unit over the step's batch, ``(units,)``, by layer
            name (see ``unit_activity``). Layers missing from it are skipped (no ageing either).
        :param optimizers: optimizers whose state of replaced entries follows ``optimizer_state``.
        :param mean_activation: each layer's mean signed activation per unit (see :func:`unit_mean`); needed with
            ``bias_correction``.
        :return: the replaced unit indices by layer name (only layers where units were replaced).
        """
        if self.bias_correction and mean_activation is None:
            raise ValueError("bias_correction needs the layers' mean activations (mean_activation=...)")
        replaced = {}
        for layer in self.layers:
            mean_abs = activity.get(layer.name)
            if mean_abs is None:
                continue
            st = self.stats[layer.name]
            st.age += 1
            contribution = layer.outgoing_magnitude() * mean_abs.to(st.utility)
            st.utility.mul_(self.decay).add_(contribution.to(st.utility), alpha=1.0 - self.decay)
            if mean_activation is not None and layer.name in mean_activation:
                mean = mean_activation[layer.name].to(st.utility)
                st.mean_activation.mul_(self.decay).add_(mean, alpha=1.0 - self.decay)
            eligible = torch.nonzero(st.age > self.maturity_threshold).flatten()
            if eligible.numel() == 0:
                continue
            st.to_replace += self.replacement_rate * eligible.numel()
            n = int(st.to_replace)
            if n == 0:
                continue
            st.to_replace -= n
            corrected = st.utility[eligible] / (1.0 - self.decay ** st.age[eligible].double()).to(st.utility)
            units = eligible[torch.argsort(corrected, stable=True)[:n]]
            self._replace(layer, st, units, optimizers)
            replaced[layer.name] = units
        return replaced

    def _replace(
        self, layer: UnitLayer, st: UnitStats, units: torch.Tensor, optimizers: Sequence[torch.optim.Optimizer]
    ) -> None:
        if self.bias_correction:
            mean = st.mean_activation[units] / (1.0 - self.decay ** st.age[units].double()).to(st.utility)
            for consumer, w_out in zip(layer.out_layers, layer.out_weights):
                bias = getattr(consumer, "bias", None)
                if bias is not None:
                    block = layer.unit_view(w_out.detach())[:, units]  # (out, n, positions)
                    bias.add_((block * mean.to(block)[None, :, None]).sum(dim=(1, 2)))
        fresh = fresh_module_parameters(self.policy, layer.in_layer)["weight"]
        moments = () if self.optimizer_state == "keep" else optimizers
        reinitialise_units(layer, units, fresh, moments, decay=find_decay(self.policy))
        if self.optimizer_state == "per_element_step":
            for optimizer in optimizers:
                steps = self.steps_of(optimizer)
                for param in layer.row_params():
                    steps.restart(param, units)
                for w_out in layer.out_weights:
                    steps.restart(w_out, layer.column_mask(w_out, units))
        st.utility[units] = 0.0
        st.mean_activation[units] = 0.0
        st.age[units] = 0
        st.replaced += int(units.numel())

    def after_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Per-element step correction of the step ``optimizer`` just took (``per_element_step`` only)."""
        if self.optimizer_state == "per_element_step" and optimizer in self.adam_steps:
            self.adam_steps[optimizer].after_step()

    def state_dict(self) -> dict[str, Any]:
        """Utility, age, mean activation and replacement counts of every layer by layer name, and the per-element
        step counts by parameter name (CPU copies, picklable)."""
        names: dict[torch.Tensor, str] = {p: n for n, p in self.policy.named_parameters()}
        return {
            "layers": {
                name: {
                    "utility": st.utility.detach().cpu().clone(),
                    "age": st.age.detach().cpu().clone(),
                    "mean_activation": st.mean_activation.detach().cpu().clone(),
                    "to_replace": st.to_replace,
                    "replaced": st.replaced,
                }
                for name, st in self.stats.items()
            },
            "adam_steps": [steps.state_dict(names) for steps in self.adam_steps.values()],
        }

    def load_state_dict(self, state: dict[str, Any], optimizers: Sequence[torch.optim.Optimizer] = ()) -> None:
        """Continue from a :meth:`state_dict` of the same policy architecture.

        :param optimizers: the optimizers the saved per-element step counts belong to, in the saved order.
        :raises ValueError: when the layers or their widths differ.
        """
        layers = state["layers"] if "layers" in state else state  # older checkpoints hold the layers only
        if set(layers) != set(self.stats):
            raise ValueError(f"continual backprop state has layers {sorted(layers)}, the policy {sorted(self.stats)}")
        for name, st in self.stats.items():
            saved = layers[name]
            if tuple(saved["utility"].shape) != tuple(st.utility.shape):
                raise ValueError(f"continual backprop state of {name} has shape {tuple(saved['utility'].shape)}")
            st.utility.copy_(saved["utility"])
            st.age.copy_(saved["age"])
            if "mean_activation" in saved:
                st.mean_activation.copy_(saved["mean_activation"])
            st.to_replace = float(saved["to_replace"])
            st.replaced = int(saved["replaced"])
        params = dict(self.policy.named_parameters())
        for optimizer, saved_steps in zip(optimizers, state.get("adam_steps", [])):
            self.steps_of(optimizer).load_state_dict(saved_steps, params)


class ContinualBackprop(HookedCallback):
    """Continual backprop on the policy's hidden layers, one generate-and-test step per optimizer step.

    :param replacement_rate: fraction of eligible units replaced per step, in [0, 1]. Default 1e-4 (paper).
    :param maturity_threshold: age in optimizer steps above which a unit may be replaced. Default 10000 (paper).
    :param decay: utility decay eta in [0, 1). Default 0.99 (paper).
    :param bias_correction: move a replaced unit's mean contribution into the consumers' biases. Default False (what
        the original code computes, see the module docstring).
    :param optimizer_state: optimizer state of replaced entries: ``"per_element_step"`` (AdamGnT, default),
        ``"zero_moments"`` or ``"keep"``.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self,
        replacement_rate: float = 1e-4,
        maturity_threshold: int = 10000,
        decay: float = 0.99,
        bias_correction: bool = False,
        optimizer_state: OptimizerState = "per_element_step",
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.settings: dict[str, Any] = dict(
            replacement_rate=check_fraction("replacement_rate", replacement_rate),
            maturity_threshold=check_int("maturity_threshold", maturity_threshold),
            decay=check_fraction("decay", decay, high_open=True),
            bias_correction=bool(bias_correction),
            optimizer_state=check_choice("optimizer_state", optimizer_state, OPTIMIZER_STATES),
        )
        self.state: ContinualBackpropState | None = None
        self._activity: dict[str, torch.Tensor] = {}
        self._mean: dict[str, torch.Tensor] = {}
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly: per-layer utilities, ages, means and counts, per-element
        step counts, and the activity recorded since the last optimizer step (picklable, CPU tensors)."""
        if self.state is None:
            return dict(self._pending) if self._pending is not None else {}
        return {
            "layers": self.state.state_dict(),
            "activity": {name: a.detach().cpu().clone() for name, a in self._activity.items()},
            "mean": {name: a.detach().cpu().clone() for name, a in self._mean.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`; before training starts it is kept and applied once the policy's layers
        are known."""
        self._pending = dict(state)
        if self.state is not None:
            self._apply_pending()

    def _apply_pending(self) -> None:
        assert self.state is not None
        state, self._pending = self._pending, None
        if not state:
            return
        self.state.load_state_dict(state["layers"], [self.model.policy.optimizer])
        device = self.state.layers[0].in_weight.device
        self._activity = {name: a.to(device) for name, a in state["activity"].items()}
        self._mean = {name: a.to(device) for name, a in state.get("mean", {}).items()}

    def _on_training_start(self) -> None:
        policy = self.model.policy
        if self.settings["optimizer_state"] == "per_element_step":
            check_adam(policy.optimizer)
        if self.state is None or self.state.policy is not policy:
            self.state = ContinualBackpropState(policy, **self.settings)
        if self._pending is not None:
            self._apply_pending()
        self._remove_hooks()
        for layer in self.state.layers:
            self._handles.append(layer.module.register_forward_hook(self._recorder(layer.name)))
        self._handles.append(policy.optimizer.register_step_post_hook(self._after_step))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(module: nn.Module, args: object, output: torch.Tensor) -> None:
            if torch.is_grad_enabled():  # an update pass, not rollout collection
                self._activity[name] = unit_activity(output)
                if self.settings["bias_correction"]:
                    self._mean[name] = unit_mean(output)

        return record

    def _after_step(self, optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        assert self.state is not None
        self.state.after_optimizer_step(optimizer)
        if not self._activity:
            return
        mean = self._mean if self.settings["bias_correction"] else None
        replaced = self.state.step(self._activity, [optimizer], mean)
        self._activity.clear()
        self._mean.clear()
        if replaced:
            self.logger.record_mean("interventions/cbp_replaced", sum(int(u.numel()) for u in replaced.values()))
