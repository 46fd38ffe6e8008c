"""ReDo, recycling dormant neurons (Sokar et al., "The Dormant Neuron Phenomenon in Deep RL", ICML 2023), as an SB3
callback, for on-policy (PPO) and off-policy (DQN, SAC, TD3) algorithms.

A hidden unit ``i`` of a layer with ``H`` units is tau-dormant when its score
``s_i = E|h_i| / ((1/H) * sum_j E|h_j|) <= tau``, the expectation being over a batch of inputs (and over positions,
for convolution channels). At each check, the dormant units of every hidden layer of the treated networks (found as
the plasticity metrics find them) are recycled: incoming weights redrawn from the layer's initialiser, bias 0 (a
LayerNorm entry back to scale 1, shift 0), outgoing weights 0, and the optimizer's per-element moments of all those
entries reset to 0. Everything else is left untouched. Under an anchored decay the recycled entries follow it (see
:func:`~syre_rl.interventions._units.reinitialise_units`: syre gives the unit a fresh ``theta`` and zero outgoing
weights, L2-Init re-anchors them).

Cadence and batch, on-policy (PPO)
    The check runs in ``on_rollout_end``, which SB3 calls after collecting a rollout and before that iteration's
    update, on the observations of the rollout just collected (all ``n_steps * n_envs`` of them, or a random subset
    of ``batch_size`` drawn from the callback's own seeded generator). One "update" of the cadence is therefore one
    PPO iteration (``n_epochs`` passes of minibatch gradient steps); REFERENCE's "every 100 updates" is
    ``every_n_rollouts=100``.

Cadence and batch, off-policy (DQN, SAC, TD3; the paper's setting)
    Every ``every_n_updates`` gradient steps (the algorithm's ``_n_updates``; default 1000, the paper's recycling
    period), on a batch of ``batch_size`` transitions of the replay buffer (default: the algorithm's own
    ``batch_size``), drawn by the callback's own seeded generator, so that training samples exactly what it would
    without ReDo. The check runs at the first rollout end (just before the next ``train()``) at which the count has
    reached the next multiple: exactly on it with one gradient step per rollout, otherwise at the next rollout
    boundary. The online networks are treated (DQN: the Q-network; SAC and TD3: actor and critics, or those named in
    ``networks``); the critics run on the batch's stored actions. Target networks are left to follow by their own
    update (DQN's periodic copy, SAC and TD3's Polyak averaging), as in the paper.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from syre_rl.interventions._init import fresh_module_parameters
from syre_rl.interventions._units import UnitLayer, reinitialise_units, unit_layers
from syre_rl.plasticity.capture import capture_activations
from syre_rl.plasticity.grad_norms import policy_optimizers
from syre_rl.plasticity.metrics import unit_scores
from syre_rl.plasticity.rollouts import Observations, count_rollouts, replay_batch, sample_observations
from syre_rl.policies import find_decay
from syre_rl.validation import check_int, check_real

#: ReDo's score per unit, the one the dormant-ratio metric counts: see :func:`syre_rl.plasticity.metrics.unit_scores`.
dormancy_scores = unit_scores
#: Off-policy recycling period in gradient steps when ``every_n_updates`` is not given (Sokar et al. 2023).
DEFAULT_EVERY_N_UPDATES = 1000


@torch.no_grad()
def run_policy_on(policy: nn.Module, observations: Observations, actions: torch.Tensor | None = None) -> None:
    """Run every online network of an SB3 policy on ``observations`` without sampling anything.

    Actor-critic policies (PPO): actor and critic. Off-policy policies: DQN's Q-network; SAC's and TD3's actor, and
    their critics when ``actions`` (as stored in the replay buffer) are given.
    """
    if isinstance(policy, ActorCriticPolicy):
        policy.get_distribution(observations)
        policy.predict_values(observations)
        return
    q_net = getattr(policy, "q_net", None)
    if isinstance(q_net, nn.Module):
        q_net(observations)
    actor = getattr(policy, "actor", None)
    if isinstance(actor, nn.Module):
        # SAC's actor samples in forward(): its distribution parameters run the same layers without drawing
        dist_params = getattr(actor, "get_action_dist_params", None)
        dist_params(observations) if callable(dist_params) else actor(observations)
    critic = getattr(policy, "critic", None)
    if isinstance(critic, nn.Module) and actions is not None:
        critic(observations, actions)


@torch.no_grad()
def recycle_dormant(
    policy: nn.Module,
    observations: Observations,
    tau: float = 0.1,
    layers: list[UnitLayer] | None = None,
    actions: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Find the tau-dormant units of each hidden layer on ``observations`` and recycle them.

    :param policy: an SB3 policy (actor-critic, DQN, SAC or TD3); its optimizers get the moments of recycled entries
        reset, and its anchored decay (if any) follows the recycled entries.
    :param observations: a batch of observations as tensors (SB3 preprocessing is applied by the policy).
    :param tau: dormancy threshold >= 0. Default 0.1.
    :param layers: the hidden layers to treat; default all (see :func:`~syre_rl.interventions._units.unit_layers`).
    :param actions: for SAC and TD3 critics: the batch's actions as stored in the replay buffer. Default None (the
        critics' layers are then not scored, and left alone).
    :return: the recycled unit indices by layer name.
    """
    layers = unit_layers(policy) if layers is None else layers
    with capture_activations(layers) as captured:
        run_policy_on(policy, observations, actions)
    optimizers = policy_optimizers(policy)
    decay = find_decay(policy)
    recycled = {}
    for layer in layers:
        if layer.name not in captured:
            continue
        units = torch.nonzero(unit_scores(captured[layer.name]) <= tau).flatten()
        if units.numel():
            fresh = fresh_module_parameters(policy, layer.in_layer)["weight"]
            reinitialise_units(layer, units, fresh, optimizers, decay=decay)
        recycled[layer.name] = units
    return recycled


class ReDo(BaseCallback):
    """Recycle tau-dormant units of the policy's hidden layers: every ``every_n_rollouts`` rollouts (on-policy) or
    every ``every_n_updates`` gradient steps (off-policy).

    :param tau: dormancy threshold >= 0. Default 0.1 (Dohare et al. 2024's ReDo setting).
    :param every_n_rollouts: on-policy: check after every n-th rollout, before that iteration's update. Default 100.
    :param batch_size: number of observations scored; 0: the whole rollout (on-policy) or the algorithm's
        ``batch_size`` (off-policy). Default 0.
    :param seed: seed of the callback's generator (rollout subsets, replay batches). Default 0.
    :param every_n_updates: off-policy: check every n gradient steps; None: 1000 (the paper's recycling period).
        Refused for on-policy algorithms, which use ``every_n_rollouts``.
    :param networks: the networks to treat, by the names of the plasticity metrics (``"actor"``, ``"critic"``,
        ``"shared"``, DQN's ``"qf"``); None: all of them. Default None.
    :param verbose: SB3 verbosity.
    """

    def __init__(
        self,
        tau: float = 0.1,
        every_n_rollouts: int = 100,
        batch_size: int = 0,
        seed: int = 0,
        every_n_updates: int | None = None,
        networks: Sequence[str] | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        self.tau = check_real("tau", tau, low=0.0)
        self.every_n_rollouts = check_int("every_n_rollouts", every_n_rollouts, low=1)
        self.batch_size = check_int("batch_size", batch_size)
        self.every_n_updates = None if every_n_updates is None else check_int("every_n_updates", every_n_updates, low=1)
        if networks is not None and (isinstance(networks, str) or not all(isinstance(n, str) for n in networks)):
            raise ValueError(f"networks must be a list of network names such as ['actor', 'critic'], got {networks!r}")
        self.networks = None if networks is None else tuple(networks)
        self._rng = np.random.default_rng(check_int("seed", seed))
        self._layers: list[UnitLayer] | None = None
        self.n_rollouts = 0
        self.n_checks = 0
        self.n_recycled = 0
        self._next_update_check = 0

    @property
    def period(self) -> int:
        """The off-policy recycling period in gradient steps."""
        return DEFAULT_EVERY_N_UPDATES if self.every_n_updates is None else self.every_n_updates

    def state_dict(self) -> dict[str, Any]:
        """The subset generator's state and the counters (picklable), for an exact resume."""
        return {
            "rng": copy.deepcopy(self._rng.bit_generator.state),
            "n_rollouts": self.n_rollouts,
            "n_checks": self.n_checks,
            "n_recycled": self.n_recycled,
            "next_update_check": self._next_update_check,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`."""
        self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        self.n_rollouts = int(state["n_rollouts"])
        self.n_checks = int(state["n_checks"])
        self.n_recycled = int(state["n_recycled"])
        self._next_update_check = int(state.get("next_update_check", 0))

    def _on_training_start(self) -> None:
        layers = unit_layers(self.model.policy)  # also fails early on unsupported policies
        if self.networks is not None:
            known = sorted({layer.network for layer in layers})
            unknown = [n for n in self.networks if n not in known]
            if unknown:
                raise ValueError(f"ReDo networks {unknown} are not networks of this policy; it has {known}")
            layers = [layer for layer in layers if layer.network in self.networks]
        self._layers = layers
        name = type(self.model).__name__
        if isinstance(self.model, OffPolicyAlgorithm):
            if self._next_update_check == 0:
                self._next_update_check = self.period
        elif getattr(self.model, "rollout_buffer", None) is None:
            raise ValueError(f"ReDo scores units on the rollout or replay batch; {name} has neither")
        elif self.every_n_updates is not None:
            raise ValueError(
                f"ReDo every_n_updates={self.every_n_updates} counts gradient steps of off-policy algorithms; "
                f"{name} is on-policy: set every_n_rollouts instead"
            )

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if isinstance(self.model, OffPolicyAlgorithm):
            self._check_off_policy(self.model)
            return
        self.n_rollouts = count_rollouts(self.model, self.num_timesteps, self.n_rollouts)
        if self.n_rollouts % self.every_n_rollouts:
            return
        observations = sample_observations(self.model, self.batch_size or None, self._rng)
        if observations is None:
            return
        self._recycle(observations)

    def _check_off_policy(self, model: OffPolicyAlgorithm) -> None:
        updates = int(model._n_updates)
        if updates < self._next_update_check:
            return
        batch = replay_batch(model, self.batch_size or int(model.batch_size), self._rng)
        if batch is None:
            return
        self._next_update_check = (updates // self.period + 1) * self.period
        self._recycle(*batch)

    def _recycle(self, observations: Observations, actions: torch.Tensor | None = None) -> None:
        recycled = recycle_dormant(self.model.policy, observations, self.tau, self._layers, actions)
        self.n_checks += 1
        count = sum(int(u.numel()) for u in recycled.values())
        self.n_recycled += count
        self.logger.record("interventions/redo_recycled", count)
        self.logger.record("interventions/redo_recycled_total", self.n_recycled)
