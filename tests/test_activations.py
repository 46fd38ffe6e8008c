"""CReLU and deep Fourier features: known outputs, the doubled feature width, and policies a recipe can name."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from stable_baselines3 import PPO
from torch import nn

from syre_rl.experiments.agents import load_agent
from syre_rl.experiments.classes import build_policy_kwargs, resolve_algorithm, resolve_policy
from syre_rl.interventions.activations import (
    CReLU,
    CReLUActorCriticPolicy,
    FourierActorCriticPolicy,
    FourierFeatures,
)


def test_crelu_known_output() -> None:
    x = torch.tensor([[1.0, -2.0, 0.0], [0.5, 3.0, -0.25]])
    expected = torch.tensor([[1.0, 0.0, 0.0, 0.0, 2.0, 0.0], [0.5, 3.0, 0.0, 0.0, 0.0, 0.25]])
    assert torch.equal(CReLU()(x), expected)


def test_fourier_features_known_output() -> None:
    x = torch.tensor([[0.0, torch.pi / 2, torch.pi]], dtype=torch.float64)
    expected = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, -1.0]], dtype=torch.float64)
    assert torch.allclose(FourierFeatures()(x), expected, atol=1e-15)


def test_every_pre_activation_has_a_gradient() -> None:
    """Unlike ReLU, at least one half of CReLU passes a gradient for every input: no unit is dead for good."""
    z = torch.tensor([-3.0, -0.5, 0.5, 3.0], requires_grad=True)
    CReLU()(z).sum().backward()
    assert torch.equal(z.grad, torch.tensor([-1.0, -1.0, 1.0, 1.0]))


@pytest.mark.parametrize("policy_class", [CReLUActorCriticPolicy, FourierActorCriticPolicy])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_feature_width_doubles(policy_class: type, env_id: str) -> None:
    torch.manual_seed(0)
    env = gym.make(env_id)
    model = PPO(
        policy_class,
        env,
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        seed=0,
        policy_kwargs={"net_arch": {"pi": [8, 4], "vf": [6]}},
    )
    policy = model.policy
    pi = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
    vf = [m for m in policy.mlp_extractor.value_net if isinstance(m, nn.Linear)]
    obs_dim = env.observation_space.shape[0]
    assert [(m.in_features, m.out_features) for m in pi] == [(obs_dim, 8), (16, 4)]
    assert [(m.in_features, m.out_features) for m in vf] == [(obs_dim, 6)]
    assert policy.mlp_extractor.latent_dim_pi == 8 and policy.mlp_extractor.latent_dim_vf == 12
    assert policy.action_net.in_features == 8 and policy.value_net.in_features == 12
    latent_pi, latent_vf = policy.mlp_extractor(torch.randn(5, obs_dim))
    assert latent_pi.shape == (5, 8) and latent_vf.shape == (5, 12)
    # SB3's orthogonal init, gain sqrt(2), reached the hidden Linear layers
    w = pi[0].weight.detach()
    rows = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    assert torch.allclose(rows, 2.0 * torch.eye(rows.shape[0]), atol=1e-5)
    model.learn(64)
    assert all(torch.isfinite(p).all() for p in policy.parameters())


@pytest.mark.parametrize(
    ("agent", "policy_class"), [("ppo_crelu", CReLUActorCriticPolicy), ("ppo_fourier", FourierActorCriticPolicy)]
)
def test_recipes_select_the_policies(agent: str, policy_class: type) -> None:
    recipe = load_agent(agent)
    assert resolve_policy(resolve_algorithm(recipe["algorithm"]), recipe["policy"]) is policy_class
    assert build_policy_kwargs(recipe["policy_kwargs"]) == {}
