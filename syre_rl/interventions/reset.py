"""Reset at each task switch, the full-plasticity reference, as an SB3 callback.

At the first step whose infos announce a new task (``info["task_switch"]``), the policy is re-initialised as SB3
would build it (PyTorch default init, then SB3's orthogonal init with SB3's gains, ``log_std`` back to
``log_std_init``), either entirely (``scope="all"``) or only the output heads (``scope="heads"``: ``action_net``,
``value_net``, ``log_std``), and the optimizer starts afresh for the reset parameters: its state (Adam's moments and
step count) is dropped in place, so the algorithm's reference to ``policy.optimizer`` and every hook attached to it
(syre, L2, L2-Init, continual backprop) stay valid. Anchored decays follow the new network: syre's ``theta_0`` is kept
and added to the fresh weights (``w = theta + theta_0``, as syre builds a network), L2-Init re-anchors on the fresh
weights, L2's anchor is 0 anyway.

The reset happens mid-rollout, at the step where the switch is seen; the rest of that rollout is collected by the
fresh network, and the update that follows treats the earlier part like any off-policy data PPO's clipping limits.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from syre_rl.interventions._init import fresh_parameters
from syre_rl.plasticity.grad_norms import policy_optimizers
from syre_rl.plasticity.task_switch import TaskSwitchDetector
from syre_rl.policies import find_decay

ResetScope = Literal["all", "heads"]
RESET_SCOPES: tuple[str, ...] = ("all", "heads")
_HEADS = ("action_net", "value_net")


@torch.no_grad()
def reset_policy(policy: nn.Module, scope: ResetScope = "all") -> list[str]:
    """Re-initialise ``policy`` (or its heads) as SB3 builds it and drop the optimizer state of the reset parameters.

    :param scope: ``"all"`` or ``"heads"`` (``action_net``, ``value_net`` and the policy's own ``log_std``).
    :return: the names of the reset parameters.
    """
    if scope not in RESET_SCOPES:
        raise ValueError(f"reset scope must be one of {RESET_SCOPES}, got {scope!r}")
    if scope == "all":
        modules = None
    else:
        heads = [getattr(policy, name) for name in _HEADS if isinstance(getattr(policy, name, None), nn.Module)]
        modules = [policy] + [m for head in heads for m in head.modules()]
    fresh = fresh_parameters(policy, modules)
    params = dict(policy.named_parameters())
    for name, value in fresh.items():
        params[name].copy_(value)
    decay = find_decay(policy)
    if decay is not None:
        decay.reinitialised(fresh.keys())
    reset = {id(params[name]) for name in fresh}
    for optimizer in policy_optimizers(policy):
        for param in [p for p in optimizer.state if id(p) in reset]:
            del optimizer.state[param]
    return sorted(fresh)


class ResetOnTaskSwitch(BaseCallback):
    """Re-initialise the policy (or its heads) and its optimizer state at every task switch.

    :param scope: ``"all"`` (whole network, default) or ``"heads"`` (output layers and ``log_std`` only).
    :param verbose: SB3 verbosity.
    """

    def __init__(self, scope: ResetScope = "all", verbose: int = 0) -> None:
        super().__init__(verbose)
        if scope not in RESET_SCOPES:
            raise ValueError(f"reset scope must be one of {RESET_SCOPES}, got {scope!r}")
        self.scope: ResetScope = scope
        self.n_resets = 0
        self.reset_steps: list[int] = []
        self._switch = TaskSwitchDetector()

    def state_dict(self) -> dict[str, Any]:
        """Counters, reset steps and the task-switch detector (picklable), for an exact resume. The fresh draws come
        from torch's global generator, which the run's checkpoint saves."""
        return {"n_resets": self.n_resets, "reset_steps": list(self.reset_steps), "switch": copy.deepcopy(self._switch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.n_resets = int(state["n_resets"])
        self.reset_steps = [int(step) for step in state["reset_steps"]]
        self._switch = copy.deepcopy(state["switch"])

    def _on_step(self) -> bool:
        if self._switch(self.locals.get("infos")):
            reset_policy(self.model.policy, self.scope)
            self.n_resets += 1
            self.reset_steps.append(int(self.num_timesteps))
            self.logger.record("interventions/resets", self.n_resets)
            if self.verbose:
                print(f"reset ({self.scope}) at step {self.num_timesteps}, task {self._switch.task_id}")
        return True
