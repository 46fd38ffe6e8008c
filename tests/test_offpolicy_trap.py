"""The identical-unit trap on off-policy critics, under SB3's own training loop.

Two hidden units of a critic's first layer (SAC's and TD3's first Q-network, DQN's Q-network) are made exact copies:
the same incoming weights and bias, the same outgoing weights. Both then get the same gradient at every step, so plain
SAC, TD3 and DQN, and L2 and L2-Init (whose anchors are copies too), keep them exact copies for good; syre's anchor
``theta_0`` differs between the two units, and its decay pulls them apart. A few hundred gradient steps on a small net.
"""

from __future__ import annotations

import pytest
import torch
from stable_baselines3 import DQN, SAC, TD3
from torch import nn

from syre_rl import AnchoredDecayDQN, AnchoredDecaySAC, AnchoredDecayTD3, SyreDQN, SyreSAC, SyreTD3
from syre_rl.policies import find_decay, sync_target_networks
from syre_rl.syre import Syre

SETTINGS = dict(learning_starts=32, batch_size=32, buffer_size=1000, train_freq=1, gradient_steps=1)
STEPS = 256  # 224 gradient steps
# (plain, L2 and L2-Init, syre) classes and the env of each algorithm
ALGORITHMS = {
    "sac": (SAC, AnchoredDecaySAC, SyreSAC, "Pendulum-v1"),
    "td3": (TD3, AnchoredDecayTD3, SyreTD3, "Pendulum-v1"),
    "dqn": (DQN, AnchoredDecayDQN, SyreDQN, "CartPole-v1"),
}


def critic_layers(model) -> tuple[nn.Linear, nn.Linear]:
    """The critic's first hidden layer and the layer it feeds."""
    policy = model.policy
    net = policy.q_net.q_net if hasattr(policy, "q_net") else policy.critic.qf0
    first, second, *_ = (m for m in net if isinstance(m, nn.Linear))
    return first, second


def build_with_twin_units(algorithm: str, condition: str):
    """The model with units 0 and 1 of its critic's first layer made copies; the targets follow, and L2-Init's anchor
    is the collapsed start (as if the network had been initialised so). For syre the effective weights are copies
    while ``theta_0`` is not: only the anchor can break the symmetry."""
    plain, anchored, syre, env_id = ALGORITHMS[algorithm]
    kwargs = dict(SETTINGS, policy_kwargs={"net_arch": [16, 16]}, seed=0)
    if condition == "plain":
        model = plain("MlpPolicy", env_id, **kwargs)
    elif condition == "syre":
        model = syre("MlpPolicy", env_id, **kwargs)
    else:
        model = anchored("MlpPolicy", env_id, anchor={"l2": "zero", "l2_init": "init"}[condition], **kwargs)
    first, second = critic_layers(model)
    with torch.no_grad():
        first.weight[1] = first.weight[0]
        first.bias[1] = first.bias[0]
        second.weight[:, 1] = second.weight[:, 0]
    sync_target_networks(model.policy)
    decay = find_decay(model.policy)
    if decay is not None and decay.reanchor_on_reinit:  # L2-Init: anchored at the collapsed weights
        decay.reinitialised(decay.names)
    assert twin_gap(model) == 0.0
    return model


def twin_gap(model) -> float:
    """Largest difference between the two units' incoming weights, biases and outgoing weights."""
    first, second = critic_layers(model)
    diffs = (
        first.weight[0] - first.weight[1],
        first.bias[:1] - first.bias[1:2],
        second.weight[:, 0] - second.weight[:, 1],
    )
    return float(max(d.detach().abs().max() for d in diffs))


@pytest.mark.parametrize(
    ("algorithm", "condition"),
    [("sac", "plain"), ("sac", "l2"), ("sac", "l2_init"), ("td3", "plain"), ("dqn", "plain"), ("dqn", "l2")],
)
def test_identical_critic_units_stay_identical_without_syre(algorithm: str, condition: str) -> None:
    model = build_with_twin_units(algorithm, condition)
    before = critic_layers(model)[0].weight.detach().clone()
    model.learn(STEPS)
    assert not torch.equal(critic_layers(model)[0].weight, before)  # the critic did train
    assert twin_gap(model) == 0.0  # exactly: the symmetric subspace is invariant


@pytest.mark.parametrize("algorithm", ["sac", "td3", "dqn"])
def test_identical_critic_units_separate_under_syre(algorithm: str) -> None:
    model = build_with_twin_units(algorithm, "syre")
    syre = find_decay(model.policy)
    assert isinstance(syre, Syre)
    first = critic_layers(model)[0]
    offset = syre.theta_0[next(i for i, p in enumerate(syre.params) if p is first.weight)]
    assert not torch.equal(offset[0], offset[1])  # the anchor is asymmetric
    model.learn(STEPS)
    assert twin_gap(model) > 1e-5  # far above float32 rounding of weights of order 0.1
