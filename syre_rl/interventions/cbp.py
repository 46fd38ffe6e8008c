"""Continual backprop (Dohare et al., "Loss of plasticity in deep continual learning", Nature 2024) as an SB3 callback.

After every optimizer step, for every hidden layer of actor and critic:

* each unit's age grows by 1 and its contribution utility is tracked as
  ``u_i <- eta * u_i + (1 - eta) * mean_k |w_out[k, i]| * mean_batch |h_i|``;
* units older than ``maturity_threshold`` steps are eligible; ``replacement_rate * n_eligible`` is added to a running
  count, and when it reaches 1 the ``floor(count)`` eligible units with the lowest bias-corrected utility
  ``u_i / (1 - eta ** age_i)`` are replaced: incoming weights redrawn from the layer's initialiser, bias 0, outgoing
  weights 0, optimizer moments of those entries 0, utility and age 0. Immature units are never replaced.

Activations come from the update itself: forward hooks on the activation modules record ``mean_batch |h_i|`` of the
latest forward pass run with gradients enabled (PPO's minibatch passes, not rollout collection under ``no_grad``), and
an optimizer step post-hook does the bookkeeping, so nothing is recomputed and the cadence is exactly one per
gradient step, as in the paper. Defaults are the paper's PPO settings (replacement rate 1e-4, maturity 10000 steps,
decay 0.99). Utilities, ages and replacement counts live in the callback; ``state_dict``/``load_state_dict`` carry them
across a checkpoint, so a resumed run replaces the same units as an uninterrupted one. Not included: the paper's
optional correction of the next layer's bias by the replaced unit's mean activation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from syre_rl.interventions._init import fresh_module_parameters
from syre_rl.interventions._units import UnitLayer, reinitialise_units, unit_layers
from syre_rl.plasticity.metrics import unit_activity
from syre_rl.validation import check_fraction, check_int


@dataclass
class UnitStats:
    """Continual-backprop bookkeeping of one hidden layer: utility and age per unit, fractional replacement count."""

    utility: torch.Tensor
    age: torch.Tensor
    to_replace: float = 0.0
    replaced: int = 0


class ContinualBackpropState:
    """The generate-and-test of continual backprop over the hidden layers of one policy (torch only).

    :param policy: the policy (its hidden layers are found by ``unit_layers``).
    :param replacement_rate: fraction of eligible units replaced per step, in [0, 1]. Default 1e-4.
    :param maturity_threshold: a unit is eligible once its age exceeds this many steps. Default 10000.
    :param decay: utility decay rate eta in [0, 1). Default 0.99.
    """

    def __init__(
        self,
        policy: nn.Module,
        replacement_rate: float = 1e-4,
        maturity_threshold: int = 10000,
        decay: float = 0.99,
    ) -> None:
        self.policy = policy
        self.replacement_rate = check_fraction("replacement_rate", replacement_rate)
        self.maturity_threshold = check_int("maturity_threshold", maturity_threshold)
        self.decay = check_fraction("decay", decay, high_open=True)
        self.layers: list[UnitLayer] = unit_layers(policy)
        self.stats = {
            layer.name: UnitStats(
                utility=torch.zeros(layer.width, device=layer.in_weight.device),
                age=torch.zeros(layer.width, dtype=torch.long, device=layer.in_weight.device),
            )
            for layer in self.layers
        }

    @torch.no_grad()
    def step(
        self, activity: dict[str, torch.Tensor], optimizers: Sequence[torch.optim.Optimizer] = ()
    ) -> dict[str, torch.Tensor]:
        """One step of bookkeeping and replacement.

        :param activity: each layer's mean absolute activation per unit over the step's batch, ``(units,)``, by layer
            name (see ``unit_activity``). Layers missing from it are skipped (no ageing either).
        :param optimizers: optimizers whose moments of replaced entries are reset.
        :return: the replaced unit indices by layer name (only layers where units were replaced).
        """
        replaced = {}
        for layer in self.layers:
            mean_abs = activity.get(layer.name)
            if mean_abs is None:
                continue
            st = self.stats[layer.name]
            st.age += 1
            contribution = layer.outgoing_magnitude() * mean_abs.to(st.utility)
            st.utility.mul_(self.decay).add_(contribution.to(st.utility), alpha=1.0 - self.decay)
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
            fresh = fresh_module_parameters(self.policy, layer.in_layer)["weight"]
            reinitialise_units(layer, units, fresh, optimizers)
            st.utility[units] = 0.0
            st.age[units] = 0
            st.replaced += int(units.numel())
            replaced[layer.name] = units
        return replaced

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """Utility, age and replacement counts of every layer, by layer name (CPU copies, picklable)."""
        return {
            name: {
                "utility": st.utility.detach().cpu().clone(),
                "age": st.age.detach().cpu().clone(),
                "to_replace": st.to_replace,
                "replaced": st.replaced,
            }
            for name, st in self.stats.items()
        }

    def load_state_dict(self, state: dict[str, dict[str, Any]]) -> None:
        """Continue from a :meth:`state_dict` of the same policy architecture.

        :raises ValueError: when the layers or their widths differ.
        """
        if set(state) != set(self.stats):
            raise ValueError(f"continual backprop state has layers {sorted(state)}, the policy {sorted(self.stats)}")
        for name, st in self.stats.items():
            saved = state[name]
            if tuple(saved["utility"].shape) != tuple(st.utility.shape):
                raise ValueError(f"continual backprop state of {name} has shape {tuple(saved['utility'].shape)}")
            st.utility.copy_(saved["utility"])
            st.age.copy_(saved["age"])
            st.to_replace = float(saved["to_replace"])
            st.replaced = int(saved["replaced"])


class ContinualBackprop(BaseCallback):
    """Continual backprop on the policy's hidden layers, one generate-and-test step per optimizer step.

    :param replacement_rate: fraction of eligible units replaced per step, in [0, 1]. Default 1e-4 (paper).
    :param maturity_threshold: age in optimizer steps above which a unit may be replaced. Default 10000 (paper).
    :param decay: utility decay eta in [0, 1). Default 0.99 (paper).
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self, replacement_rate: float = 1e-4, maturity_threshold: int = 10000, decay: float = 0.99, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        self.settings: dict[str, Any] = dict(
            replacement_rate=check_fraction("replacement_rate", replacement_rate),
            maturity_threshold=check_int("maturity_threshold", maturity_threshold),
            decay=check_fraction("decay", decay, high_open=True),
        )
        self.state: ContinualBackpropState | None = None
        self._activity: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly: per-layer utilities, ages and counts, and the
        activity recorded since the last optimizer step (picklable, CPU tensors)."""
        if self.state is None:
            return dict(self._pending) if self._pending is not None else {}
        return {
            "layers": self.state.state_dict(),
            "activity": {name: a.detach().cpu().clone() for name, a in self._activity.items()},
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
        self.state.load_state_dict(state["layers"])
        device = self.state.layers[0].in_weight.device
        self._activity = {name: a.to(device) for name, a in state["activity"].items()}

    def _on_training_start(self) -> None:
        policy = self.model.policy
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

        return record

    def _after_step(self, optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        assert self.state is not None
        if not self._activity:
            return
        replaced = self.state.step(self._activity, [optimizer])
        self._activity.clear()
        if replaced:
            self.logger.record_mean("interventions/cbp_replaced", sum(int(u.numel()) for u in replaced.values()))

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self._remove_hooks()
