"""Shrink and perturb (Ash and Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020) as an SB3 callback.

At each trigger every treated parameter becomes ``lambda * w + sigma * z``, where ``z`` is a fresh initialisation
of that parameter drawn by re-running the policy's own initialiser on a copy of its layer (SB3's orthogonal init with
SB3's gains, LayerNorm at 1 and 0); the optimizer state is kept. Triggers: each task switch (the warm-start setting of
the paper, default) and/or every ``every_n_rollouts`` rollouts. Defaults ``lambda = 0.8``, ``sigma = 0.01`` are the
values common in continual-RL benchmarks.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback

from syre_rl.interventions._init import fresh_parameters
from syre_rl.plasticity.rollouts import count_rollouts
from syre_rl.plasticity.task_switch import TaskSwitchDetector
from syre_rl.syre import select_parameters
from syre_rl.validation import check_fraction, check_int, check_real


@torch.no_grad()
def shrink_and_perturb(
    policy: torch.nn.Module, shrink: float, noise_scale: float, exclude: Sequence[str] = ("log_std",)
) -> list[str]:
    """Apply ``w <- shrink * w + noise_scale * fresh_init(w)`` in place to the policy's trainable parameters.

    :return: the names of the parameters changed.
    """
    fresh = fresh_parameters(policy)
    changed = []
    for name, _, _, param in select_parameters(policy, exclude=tuple(exclude)):
        param.mul_(shrink).add_(fresh[name].to(param.device, param.dtype), alpha=noise_scale)
        changed.append(name)
    return changed


class ShrinkAndPerturb(BaseCallback):
    """Periodic shrink and perturb of the policy's weights.

    :param shrink: lambda in [0, 1], the factor on the current weights. Default 0.8.
    :param noise_scale: sigma >= 0, the factor on the fresh initialisation. Default 0.01.
    :param on_task_switch: apply at the first step of each new task (``info["task_switch"]``). Default True.
    :param every_n_rollouts: also apply at the end of every n-th rollout (before that iteration's update); 0 = never.
        Default 0.
    :param exclude: parameter names (or suffixes after a dot) left untouched. Default ``("log_std",)``.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self,
        shrink: float = 0.8,
        noise_scale: float = 0.01,
        on_task_switch: bool = True,
        every_n_rollouts: int = 0,
        exclude: Sequence[str] = ("log_std",),
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.shrink = check_fraction("shrink", shrink)
        self.noise_scale = check_real("noise_scale", noise_scale, low=0.0)
        self.every_n_rollouts = check_int("every_n_rollouts", every_n_rollouts)
        if not on_task_switch and self.every_n_rollouts == 0:
            raise ValueError("ShrinkAndPerturb never fires: set on_task_switch=True or every_n_rollouts > 0")
        self.on_task_switch = bool(on_task_switch)
        self.exclude = tuple(exclude)
        self.n_rollouts = 0
        self.n_applied = 0
        self._switch = TaskSwitchDetector()

    def state_dict(self) -> dict[str, Any]:
        """Counters and the task-switch detector (picklable), for an exact resume. The fresh draws come from torch's
        global generator, which the run's checkpoint saves."""
        return {"n_rollouts": self.n_rollouts, "n_applied": self.n_applied, "switch": copy.deepcopy(self._switch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.n_rollouts = int(state["n_rollouts"])
        self.n_applied = int(state["n_applied"])
        self._switch = copy.deepcopy(state["switch"])

    def apply(self) -> None:
        """Shrink and perturb the model's policy now."""
        shrink_and_perturb(self.model.policy, self.shrink, self.noise_scale, self.exclude)
        self.n_applied += 1
        self.logger.record("interventions/shrink_perturb_count", self.n_applied)

    def _on_step(self) -> bool:
        if self.on_task_switch and self._switch(self.locals.get("infos")):
            self.apply()
        return True

    def _on_rollout_end(self) -> None:
        self.n_rollouts = count_rollouts(self.model, self.num_timesteps, self.n_rollouts)
        if self.every_n_rollouts and self.n_rollouts % self.every_n_rollouts == 0:
            self.apply()
