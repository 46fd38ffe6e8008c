"""Reset at task switches: a fresh network and optimizer at the switch, and nowhere else."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from helpers import SwitchAt
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy

from syre_rl.interventions import ResetOnTaskSwitch
from syre_rl.interventions._init import fresh_parameters
from syre_rl.interventions.reset import reset_policy
from syre_rl.policies import AnchoredDecayActorCriticPolicy, SyreActorCriticPolicy

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (2,), np.float32)
HEADS = ("action_net.", "value_net.", "log_std")


def _trained(cls=ActorCriticPolicy, **kwargs):
    torch.manual_seed(0)
    policy = cls(OBS, ACT, lambda _: 1e-2, net_arch=[6, 6], **kwargs)
    obs = torch.rand(16, 3)
    for _ in range(3):
        _, log_prob, _ = policy.evaluate_actions(obs, torch.rand(16, 2))
        policy.optimizer.zero_grad()
        (-log_prob.mean() + policy.predict_values(obs).pow(2).mean()).backward()
        policy.optimizer.step()
    return policy


def test_reset_all_gives_a_fresh_network_and_optimizer():
    policy = _trained()
    optimizer = policy.optimizer
    torch.manual_seed(5)
    fresh = fresh_parameters(policy)
    torch.manual_seed(5)
    names = reset_policy(policy, "all")
    assert names == sorted(n for n, _ in policy.named_parameters())
    for name, p in policy.named_parameters():
        assert torch.equal(p.detach(), fresh[name])
    w = policy.mlp_extractor.policy_net[2].weight.detach()
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(6), atol=1e-5, rtol=1e-5)  # SB3's orthogonal init, gain sqrt 2
    assert torch.equal(policy.log_std.detach(), torch.zeros(2))
    assert policy.optimizer is optimizer and len(optimizer.state) == 0
    assert math.isclose(optimizer.param_groups[0]["lr"], 1e-2)


def test_reset_heads_leaves_the_body_alone():
    policy = _trained()
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    moments = {n: policy.optimizer.state[p]["exp_avg"].clone() for n, p in policy.named_parameters()}
    torch.manual_seed(5)
    names = reset_policy(policy, "heads")
    assert names == sorted(n for n in before if n.startswith(HEADS))
    for name, p in policy.named_parameters():
        if name.startswith(HEADS):
            assert p not in policy.optimizer.state
        else:
            assert torch.equal(p.detach(), before[name])
            assert torch.equal(policy.optimizer.state[p]["exp_avg"], moments[name])
    for name in ("action_net.bias", "value_net.bias", "log_std"):
        assert before[name].abs().sum() > 0  # trained away from the init...
        assert not dict(policy.named_parameters())[name].any()  # ...and back at it
    w_pi, w_v = policy.action_net.weight.detach(), policy.value_net.weight.detach()
    torch.testing.assert_close(w_pi @ w_pi.T, 1e-4 * torch.eye(2), atol=1e-7, rtol=1e-5)  # gain 0.01
    torch.testing.assert_close(w_v @ w_v.T, torch.eye(1))  # gain 1


def test_reset_keeps_syre_offset_and_reanchors_l2_init():
    syre = _trained(SyreActorCriticPolicy)
    torch.manual_seed(5)
    fresh = fresh_parameters(syre)
    torch.manual_seed(5)
    reset_policy(syre, "all")
    for name, theta in syre.syre.theta().items():
        torch.testing.assert_close(theta, fresh[name])  # w = fresh theta + the same theta_0

    l2_init = _trained(AnchoredDecayActorCriticPolicy, anchor="init")
    reset_policy(l2_init, "all")
    for p, anchor in zip(l2_init.anchored_decay.params, l2_init.anchored_decay.anchors):
        assert torch.equal(p.detach(), anchor)
    l2 = _trained(AnchoredDecayActorCriticPolicy, anchor="zero")
    reset_policy(l2, "all")
    assert all(not a.any() for a in l2.anchored_decay.anchors)


class _Probe(ResetOnTaskSwitch):
    """Records the optimizer state size and weights right after each reset."""

    def _on_training_start(self):
        self.after = []

    def _on_step(self):
        n = self.n_resets
        super()._on_step()
        if self.n_resets > n:
            self.after.append((len(self.model.policy.optimizer.state), self.model.policy.action_net.weight.clone()))
        return True


def test_callback_resets_at_the_switch_and_nowhere_else():
    env = SwitchAt(gym.make("CartPole-v1"), at=100)
    kwargs = {"n_steps": 64, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}, "seed": 0}
    model = PPO("MlpPolicy", env, **kwargs)
    cb = _Probe("all")
    model.learn(256, callback=cb)
    assert cb.reset_steps == [100]
    ((n_state, head),) = cb.after
    assert n_state == 0  # fresh optimizer: 64 steps in, the update after step 64 had filled Adam's state
    torch.testing.assert_close(head @ head.T, 1e-4 * torch.eye(2), atol=1e-7, rtol=1e-5)  # SB3 init, gain 0.01


def test_bad_scope_raises():
    with pytest.raises(ValueError, match="scope"):
        ResetOnTaskSwitch(scope="body")
    with pytest.raises(ValueError, match="scope"):
        reset_policy(_trained(), "body")


def test_callback_follows_the_scenario_wrapper_of_a_vector_env():
    from stable_baselines3.common.vec_env import DummyVecEnv

    from syre_rl.experiments.scenarios import load_scenario, make_env_fns

    recipe = load_scenario("permuted_cartpole")
    recipe["schedule"] = {**recipe["schedule"], "steps_per_task": 96}
    env = DummyVecEnv(make_env_fns(recipe, seed=0, n_envs=2))
    kwargs = {"n_steps": 16, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}, "seed": 0}
    model = PPO("MlpPolicy", env, **kwargs)
    cb = ResetOnTaskSwitch("heads")
    model.learn(320, callback=cb)
    # tasks switch every 96 total steps (48 per sub-env): one reset per switch, none at the start
    assert cb.reset_steps == [98, 194, 290]
