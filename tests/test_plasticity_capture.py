"""Generic discovery of hidden layers and activation capture."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy
from torch import nn

from syre_rl.plasticity.capture import activation_kind, capture_activations, find_hidden_layers, find_layers


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))


@pytest.mark.parametrize("example", [None, torch.zeros(2, 3)])
def test_sequential_mlp_layers_with_and_without_trace(example):
    hidden, weights = find_layers(_mlp(), example)
    assert [(h.name, h.kind, h.in_name, h.out_names, h.n_units) for h in hidden] == [
        ("1", "tanh", "0", ["2"], 5),
        ("3", "relu", "2", ["4"], 4),
    ]
    assert [(w.network, w.name) for w in weights] == [("net", "0"), ("net", "2"), ("net", "4")]


def test_capture_returns_the_activations_and_removes_its_hooks():
    net = _mlp()
    layers = find_hidden_layers(net)
    x = torch.randn(6, 3)
    with capture_activations(layers) as acts:
        net(x)
    assert torch.allclose(acts["1"], torch.tanh(net[0](x)))
    assert torch.allclose(acts["3"], torch.relu(net[2](torch.tanh(net[0](x)))))
    assert all(not m._forward_hooks for m in net)


def test_incoming_and_outgoing_weights_share_storage():
    net = _mlp()
    layer = find_hidden_layers(net)[1]
    weight, bias = layer.incoming()
    assert weight is net[2].weight and bias is net[2].bias
    (out,) = layer.outgoing()
    assert out.shape == (2, 4, 1)
    with torch.no_grad():
        out[:, 1] = 0.0
    assert torch.all(net[4].weight[:, 1] == 0)


class _Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, 1)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


class _Reused(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.act = nn.Linear(3, 6), nn.Linear(6, 6), nn.ReLU()
        self.c, self.last = nn.Linear(6, 1), nn.Tanh()

    def forward(self, x):
        return self.last(self.c(self.act(self.b(self.act(self.a(x))))))


def test_functional_activations_fall_back_to_pre_activations():
    hidden = find_hidden_layers(_Functional(), torch.zeros(2, 3))
    assert [(h.name, h.kind, h.out_names) for h in hidden] == [("a", "linear", ["b"]), ("b", "linear", ["c"])]


def test_reused_activation_module_is_skipped():
    hidden = find_hidden_layers(_Reused(), torch.zeros(2, 3))
    assert [h.name for h in hidden] == ["last"]


def test_activation_kinds():
    assert activation_kind(nn.ReLU6()) == "relu"
    assert activation_kind(nn.Hardtanh()) == "tanh"
    assert activation_kind(nn.SiLU()) == "silu"
    assert activation_kind(nn.Linear(1, 1)) is None


def _policy(cls=ActorCriticPolicy, space=None, **kwargs):
    torch.manual_seed(0)
    space = space or gym.spaces.Box(-1, 1, (4,), np.float32)
    return cls(space, gym.spaces.Discrete(2), lambda _: 1e-3, **kwargs)


@pytest.mark.parametrize("share", [True, False])
def test_sb3_mlp_policy_is_split_into_actor_and_critic(share):
    policy = _policy(share_features_extractor=share, net_arch=dict(pi=[8, 8], vf=[6]))
    rng_state = torch.get_rng_state()
    hidden, weights = find_layers(policy)
    assert torch.equal(rng_state, torch.get_rng_state())
    assert [(h.network, h.name, h.out_names, h.n_units) for h in hidden] == [
        ("actor", "mlp_extractor.policy_net.1", ["mlp_extractor.policy_net.2"], 8),
        ("actor", "mlp_extractor.policy_net.3", ["action_net"], 8),
        ("critic", "mlp_extractor.value_net.1", ["value_net"], 6),
    ]
    assert {w.name: w.network for w in weights}["value_net"] == "critic"
    assert {w.name: w.network for w in weights}["action_net"] == "actor"


def test_sb3_shared_cnn_layers_are_shared_and_feed_both_heads():
    space = gym.spaces.Box(0, 255, (3, 36, 36), np.uint8)
    policy = _policy(ActorCriticCnnPolicy, space, net_arch=[], features_extractor_kwargs=dict(features_dim=16))
    hidden = find_hidden_layers(policy)
    assert [h.network for h in hidden] == ["shared"] * 4
    assert hidden[0].kind == "relu" and hidden[0].in_name == "features_extractor.cnn.0"
    assert hidden[2].out_names == ["features_extractor.linear.0"]  # conv output flattened into a Linear
    assert hidden[2].outgoing()[0].shape[1] == 64
    assert hidden[3].out_names == ["action_net", "value_net"]
    obs = torch.randint(0, 255, (2, 3, 36, 36)).float()
    with capture_activations(hidden) as acts:
        policy.get_distribution(obs)
    assert acts["features_extractor.cnn.1"].shape[:2] == (2, 32)
    assert acts["features_extractor.linear.1"].shape == (2, 16)
