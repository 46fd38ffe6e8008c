"""L2, L2-Init (anchored decay policies) and the LayerNorm policies: known answers on small nets."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from torch import nn

from syre_rl import AnchoredDecayPPO, SyrePPO
from syre_rl.interventions import LayerNormActorCriticPolicy
from syre_rl.interventions._units import unit_layers
from syre_rl.policies import AnchoredDecayActorCriticPolicy, SyreActorCriticPolicy

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (2,), np.float32)
LR, GAMMA = 0.1, 0.05


def _policy(cls=AnchoredDecayActorCriticPolicy, **kwargs):
    kwargs.setdefault("net_arch", [5])
    return cls(OBS, ACT, lambda _: LR, optimizer_class=torch.optim.SGD, optimizer_kwargs={}, **kwargs)


def _zero_grad_step(policy):
    """One SGD step whose loss gradient is exactly 0, so only the decay moves the weights."""
    policy.optimizer.zero_grad()
    sum(p.sum() for p in policy.parameters()).mul(0.0).backward()
    policy.optimizer.step()


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_l2_pulls_toward_zero(mode):
    torch.manual_seed(0)
    policy = _policy(anchor="zero", weight_decay=GAMMA, decay_mode=mode)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    _zero_grad_step(policy)
    for name, param in policy.named_parameters():
        expected = before[name] if name == "log_std" else before[name] * (1 - LR * GAMMA)
        torch.testing.assert_close(param.detach(), expected)


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_l2_init_pulls_toward_initial_weights(mode):
    torch.manual_seed(0)
    policy = _policy(anchor="init", weight_decay=GAMMA, decay_mode=mode)
    init = {n: p.detach().clone() for n, p in policy.named_parameters()}
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(1.0)
    _zero_grad_step(policy)
    for name, param in policy.named_parameters():
        shifted = init[name] + 1.0
        expected = shifted if name == "log_std" else shifted - LR * GAMMA * (shifted - init[name])
        torch.testing.assert_close(param.detach(), expected)
    # at the initial weights L2-Init exerts no pull at all, unlike L2
    fresh = _policy(anchor="init", weight_decay=GAMMA)
    start = [p.detach().clone() for p in fresh.parameters()]
    _zero_grad_step(fresh)
    for p, s in zip(fresh.parameters(), start):
        assert torch.equal(p.detach(), s)


def test_l2_and_syre_decay_the_same_parameters():
    l2 = _policy(anchor="zero")
    syre = SyreActorCriticPolicy(OBS, ACT, lambda _: LR, net_arch=[5])
    assert l2.anchored_decay.names == syre.syre.names
    assert "log_std" not in l2.anchored_decay.names
    assert l2.anchored_decay.mode == syre.syre.mode == "coupled"
    assert l2.anchored_decay.weight_decay == syre.syre.weight_decay == 0.002


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="anchor must be one of"):
        _policy(anchor="random")
    with pytest.raises(ValueError, match="mode"):
        _policy(decay_mode="sideways")
    with pytest.raises(ValueError, match="weight_decay"):
        _policy(weight_decay=-1.0)
    message = "would decay the weights toward 0 on top of the anchored decay; set the decay's weight_decay"
    with pytest.raises(ValueError, match=message):
        AnchoredDecayActorCriticPolicy(OBS, ACT, lambda _: LR, optimizer_kwargs={"weight_decay": 0.01})


def test_l2_init_anchors_survive_save_and_load(tmp_path):
    model = PPO(
        AnchoredDecayActorCriticPolicy,
        "CartPole-v1",
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        policy_kwargs={"net_arch": [8], "anchor": "init", "weight_decay": 0.01},
        seed=0,
    )
    anchors = [a.clone() for a in model.policy.anchored_decay.anchors]
    model.learn(64)
    assert not all(torch.equal(p.detach(), a) for p, a in zip(model.policy.anchored_decay.params, anchors))
    model.save(tmp_path / "m.zip")
    torch.manual_seed(123)  # the rebuilt policy starts from other initial weights
    loaded = PPO.load(tmp_path / "m.zip")
    assert loaded.policy.decay_config.anchor == "init"
    for a, b in zip(loaded.policy.anchored_decay.anchors, anchors):
        assert torch.equal(a, b)


def _kinds(seq):
    return [type(m) for m in seq]


@pytest.mark.parametrize("algo", [PPO, AnchoredDecayPPO, SyrePPO])
def test_layernorm_policies_put_layernorm_before_each_activation(algo):
    env = gym.make("Pendulum-v1")
    net_arch = {"pi": [6, 4], "vf": [5]}
    policy_kwargs = {"net_arch": net_arch, "activation_fn": nn.ReLU}
    policy = algo(LayerNormActorCriticPolicy, env, n_steps=32, batch_size=32, policy_kwargs=policy_kwargs).policy
    ex = policy.mlp_extractor
    assert _kinds(ex.policy_net) == [nn.Linear, nn.LayerNorm, nn.ReLU] * 2
    assert _kinds(ex.value_net) == [nn.Linear, nn.LayerNorm, nn.ReLU]
    assert (ex.latent_dim_pi, ex.latent_dim_vf) == (4, 5)
    layers = unit_layers(policy)
    names = ["mlp_extractor.policy_net.2", "mlp_extractor.policy_net.5", "mlp_extractor.value_net.2"]
    assert [layer.name for layer in layers] == names
    assert [layer.network for layer in layers] == ["actor", "actor", "critic"]
    assert [layer.norm for layer in layers] == [ex.policy_net[1], ex.policy_net[4], ex.value_net[1]]
    assert layers[1].out_layers == [policy.action_net] and layers[2].out_layers == [policy.value_net]


def test_layernorm_policies_train_with_their_algorithms():
    env = gym.make("CartPole-v1")
    for algo in (PPO, AnchoredDecayPPO, SyrePPO):
        model = algo(
            LayerNormActorCriticPolicy, env, n_steps=32, batch_size=32, n_epochs=1, policy_kwargs={"net_arch": [8]}
        )
        model.learn(32)
        assert isinstance(model.policy.mlp_extractor.policy_net[1], nn.LayerNorm)
    names = SyrePPO(LayerNormActorCriticPolicy, env, policy_kwargs={"net_arch": [8]}).syre.names
    assert "mlp_extractor.policy_net.1.weight" in names  # LayerNorm scales take part in syre


@pytest.mark.parametrize(
    "algo, cls",
    [
        (PPO, LayerNormActorCriticPolicy),
        (AnchoredDecayPPO, LayerNormActorCriticPolicy),
        (SyrePPO, LayerNormActorCriticPolicy),
    ],
)
def test_policies_save_and_load(tmp_path, algo, cls):
    model = algo(cls, "CartPole-v1", n_steps=32, batch_size=32, n_epochs=1, policy_kwargs={"net_arch": [8]}, seed=0)
    model.learn(32)
    model.save(tmp_path / "m.zip")
    loaded = algo.load(tmp_path / "m.zip")
    assert type(loaded.policy) is cls
    for (name, a), b in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values()):
        assert torch.equal(a, b), name
    obs = torch.rand(5, 4)
    torch.testing.assert_close(loaded.policy.predict_values(obs), model.policy.predict_values(obs))
