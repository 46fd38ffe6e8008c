"""ReDo, recycling dormant neurons (Sokar et al., "The Dormant Neuron Phenomenon in Deep RL", ICML 2023), as an SB3
callback.

A hidden unit ``i`` of a layer with ``H`` units is tau-dormant when its score
``s_i = E|h_i| / ((1/H) * sum_j E|h_j|) <= tau``, the expectation being over a batch of inputs (and over positions,
for convolution channels). Every ``every_n_rollouts`` rollouts, the dormant units of every hidden layer of actor and
critic (found as the plasticity metrics find them) are recycled: incoming weights redrawn from the layer's
initialiser, bias 0 (a LayerNorm entry back to scale 1, shift 0), outgoing weights 0, and the optimizer's per-element
moments of all those entries reset to 0. Everything else is left untouched.

Cadence and batch (SB3 on-policy terms)
    The check runs in ``on_rollout_end``, which SB3 calls after collecting a rollout and before that iteration's
    update, on the observations of the rollout just collected (all ``n_steps * n_envs`` of them, or a random subset
    of ``batch_size`` drawn from the callback's own seeded generator). One "update" of the cadence is therefore one
    PPO iteration (``n_epochs`` passes of minibatch gradient steps); REFERENCE's "every 100 updates" is
    ``every_n_rollouts=100``.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy

from syre_rl.interventions._init import fresh_module_parameters
from syre_rl.interventions._units import UnitLayer, reinitialise_units, unit_layers
from syre_rl.plasticity.capture import capture_activations
from syre_rl.plasticity.metrics import unit_scores
from syre_rl.plasticity.rollouts import Observations, count_rollouts, sample_observations
from syre_rl.validation import check_int, check_real

#: ReDo's score per unit, the one the dormant-ratio metric counts: see :func:`syre_rl.plasticity.metrics.unit_scores`.
dormancy_scores = unit_scores


@torch.no_grad()
def run_policy_on(policy: ActorCriticPolicy, observations: Observations) -> None:
    """Run actor and critic of an SB3 actor-critic policy on ``observations`` without sampling anything."""
    policy.get_distribution(observations)
    policy.predict_values(observations)


@torch.no_grad()
def recycle_dormant(
    policy: ActorCriticPolicy,
    observations: Observations,
    tau: float = 0.1,
    layers: list[UnitLayer] | None = None,
) -> dict[str, torch.Tensor]:
    """Find the tau-dormant units of each hidden layer on ``observations`` and recycle them.

    :param policy: an SB3 actor-critic policy; its ``optimizer`` (if any) gets the moments of recycled entries reset.
    :param observations: a batch of observations as tensors (SB3 preprocessing is applied by the policy).
    :param tau: dormancy threshold >= 0. Default 0.1.
    :param layers: the hidden layers to treat; default all (see :func:`~syre_rl.interventions._units.unit_layers`).
    :return: the recycled unit indices by layer name.
    """
    layers = unit_layers(policy) if layers is None else layers
    with capture_activations(layers) as captured:
        run_policy_on(policy, observations)
    optimizer = getattr(policy, "optimizer", None)
    optimizers = [optimizer] if isinstance(optimizer, torch.optim.Optimizer) else []
    recycled = {}
    for layer in layers:
        units = torch.nonzero(unit_scores(captured[layer.name]) <= tau).flatten()
        if units.numel():
            fresh = fresh_module_parameters(policy, layer.in_layer)["weight"]
            reinitialise_units(layer, units, fresh, optimizers)
        recycled[layer.name] = units
    return recycled


class ReDo(BaseCallback):
    """Recycle tau-dormant units of the policy's hidden layers every ``every_n_rollouts`` rollouts.

    :param tau: dormancy threshold >= 0. Default 0.1 (Dohare et al. 2024's ReDo setting).
    :param every_n_rollouts: check after every n-th rollout, before that iteration's update. Default 100.
    :param batch_size: number of rollout observations scored; 0 uses the whole rollout. Default 0.
    :param seed: seed of the subset drawn when ``batch_size`` is set. Default 0.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self, tau: float = 0.1, every_n_rollouts: int = 100, batch_size: int = 0, seed: int = 0, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        self.tau = check_real("tau", tau, low=0.0)
        self.every_n_rollouts = check_int("every_n_rollouts", every_n_rollouts, low=1)
        self.batch_size = check_int("batch_size", batch_size)
        self._rng = np.random.default_rng(check_int("seed", seed))
        self._layers: list[UnitLayer] | None = None
        self.n_rollouts = 0
        self.n_checks = 0
        self.n_recycled = 0

    def state_dict(self) -> dict[str, Any]:
        """The subset generator's state and the counters (picklable), for an exact resume."""
        return {
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "n_rollouts": self.n_rollouts,
            "n_checks": self.n_checks,
            "n_recycled": self.n_recycled,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        self.n_rollouts = int(state["n_rollouts"])
        self.n_checks = int(state["n_checks"])
        self.n_recycled = int(state["n_recycled"])

    def _on_training_start(self) -> None:
        self._layers = unit_layers(self.model.policy)  # also fails early on unsupported policies
        if getattr(self.model, "rollout_buffer", None) is None:
            name = type(self.model).__name__
            raise ValueError(f"ReDo scores units on the rollout batch; {name} has no rollout_buffer")

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.n_rollouts = count_rollouts(self.model, self.num_timesteps, self.n_rollouts)
        if self.n_rollouts % self.every_n_rollouts:
            return
        observations = sample_observations(self.model, self.batch_size or None, self._rng)
        if observations is None:
            return
        policy = cast(ActorCriticPolicy, self.model.policy)  # on-policy algorithms (checked at training start)
        recycled = recycle_dormant(policy, observations, self.tau, self._layers)
        self.n_checks += 1
        count = sum(int(u.numel()) for u in recycled.values())
        self.n_recycled += count
        self.logger.record("interventions/redo_recycled", count)
        self.logger.record("interventions/redo_recycled_total", self.n_recycled)
