"""Shrink and perturb (Ash and Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020) as an SB3 callback,
for on-policy (PPO) and off-policy (DQN, SAC, TD3) algorithms.

At each trigger every treated parameter becomes ``lambda * w + sigma * z``, where ``z`` is a fresh initialisation
of that parameter drawn by re-running the policy's own initialiser on a copy of its layer (SB3's orthogonal init with
SB3's gains, LayerNorm at 1 and 0); the optimizer state is kept. Triggers: each task switch (the warm-start setting of
the paper, default), and/or every ``every_n_rollouts`` rollouts, and/or (off-policy) every ``every_n_updates``
gradient steps. Defaults ``lambda = 0.8``, ``sigma = 0.01`` are the values common in continual-RL benchmarks.

With anchored decays
    syre trains ``w = theta + theta_0`` with ``theta_0`` a fixed offset, so it shrinks the trainable part only:
    ``w <- theta_0 + lambda * theta + sigma * z`` (shrinking ``theta_0`` too would pull the weights toward the very
    symmetric point 0 that syre moves them away from). L2 and L2-Init shrink the whole weight, as without decay;
    L2-Init keeps its anchor (shrink and perturb warm-starts, it does not re-initialise).

Target networks (off-policy)
    The target networks get the same map with the same ``z``: a target that is an average of past online weights
    stays the same average of the mapped weights (the map is affine), so its lag behind the online network is kept.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from syre_rl.interventions._init import fresh_parameters, online_modules, target_name, target_networks
from syre_rl.plasticity.rollouts import count_rollouts
from syre_rl.plasticity.task_switch import TaskSwitchDetector
from syre_rl.policies import find_decay
from syre_rl.syre import select_parameters
from syre_rl.validation import check_fraction, check_int, check_real


def _shrink_perturb_(
    param: torch.Tensor, shrink: float, noise_scale: float, z: torch.Tensor, offset: torch.Tensor | None
) -> None:
    if offset is None:
        param.mul_(shrink).add_(z, alpha=noise_scale)
    else:  # theta_0 + shrink * theta + sigma * z
        param.sub_(offset).mul_(shrink).add_(z, alpha=noise_scale).add_(offset)


@torch.no_grad()
def shrink_and_perturb(
    policy: torch.nn.Module, shrink: float, noise_scale: float, exclude: Sequence[str] = ("log_std",)
) -> list[str]:
    """Apply ``w <- shrink * w + noise_scale * fresh_init(w)`` in place to the policy's trainable online parameters
    (syre: ``w <- theta_0 + shrink * theta + noise_scale * fresh_init``), and the same map with the same draw to
    their target networks.

    :param shrink: lambda in [0, 1].
    :param noise_scale: sigma >= 0.
    :param exclude: parameter names (or suffixes after a dot) left untouched. Default ``("log_std",)``.
    :return: the names of the online parameters changed.
    """
    targets = target_networks(policy)
    fresh = fresh_parameters(policy, online_modules(policy) if targets else None)
    decay = find_decay(policy)
    params = dict(policy.named_parameters())
    changed = []
    for name, _, _, param in select_parameters(policy, exclude=tuple(exclude)):
        if name.partition(".")[0] in targets.values():
            continue  # a target parameter: mapped with its online parameter
        z = fresh[name].to(param.device, param.dtype)
        offset = None if decay is None else decay.offset(param)
        _shrink_perturb_(param, shrink, noise_scale, z, offset)
        follower = target_name(policy, name) if targets else None
        if follower is not None and follower in params:
            _shrink_perturb_(params[follower], shrink, noise_scale, z, offset)
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
    :param every_n_updates: off-policy: also apply every n gradient steps (at the first rollout end at which the
        algorithm's ``_n_updates`` reaches the next multiple); 0 = never. Default 0. Refused for on-policy algorithms.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self,
        shrink: float = 0.8,
        noise_scale: float = 0.01,
        on_task_switch: bool = True,
        every_n_rollouts: int = 0,
        exclude: Sequence[str] = ("log_std",),
        every_n_updates: int = 0,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.shrink = check_fraction("shrink", shrink)
        self.noise_scale = check_real("noise_scale", noise_scale, low=0.0)
        self.every_n_rollouts = check_int("every_n_rollouts", every_n_rollouts)
        self.every_n_updates = check_int("every_n_updates", every_n_updates)
        if not on_task_switch and self.every_n_rollouts == 0 and self.every_n_updates == 0:
            raise ValueError(
                "ShrinkAndPerturb never fires: set on_task_switch=True, every_n_rollouts > 0 or every_n_updates > 0"
            )
        self.on_task_switch = bool(on_task_switch)
        self.exclude = tuple(exclude)
        self.n_rollouts = 0
        self.n_applied = 0
        self._switch = TaskSwitchDetector()
        self._next_update_check = self.every_n_updates

    def state_dict(self) -> dict[str, Any]:
        """Counters and the task-switch detector (picklable), for an exact resume. The fresh draws come from torch's
        global generator, which the run's checkpoint saves."""
        return {
            "n_rollouts": self.n_rollouts,
            "n_applied": self.n_applied,
            "switch": copy.deepcopy(self._switch),
            "next_update_check": self._next_update_check,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.n_rollouts = int(state["n_rollouts"])
        self.n_applied = int(state["n_applied"])
        self._switch = copy.deepcopy(state["switch"])
        self._next_update_check = int(state.get("next_update_check", self.every_n_updates))

    def _on_training_start(self) -> None:
        if self.every_n_updates and not isinstance(self.model, OffPolicyAlgorithm):
            raise ValueError(
                f"ShrinkAndPerturb every_n_updates={self.every_n_updates} counts gradient steps of off-policy "
                f"algorithms; {type(self.model).__name__} is on-policy: set every_n_rollouts instead"
            )

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
        if self.every_n_updates and isinstance(self.model, OffPolicyAlgorithm):
            updates = int(self.model._n_updates)
            if updates >= self._next_update_check:
                self._next_update_check = (updates // self.every_n_updates + 1) * self.every_n_updates
                self.apply()
