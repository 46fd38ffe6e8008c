"""Fresh initialisation draws and shrink and perturb: the stated rule on small nets."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticPolicy

from syre_rl.interventions import ShrinkAndPerturb
from syre_rl.interventions._init import fresh_parameters
from syre_rl.interventions.layernorm import LayerNormActorCriticPolicy
from syre_rl.interventions.shrink_perturb import shrink_and_perturb

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (2,), np.float32)


def _policy(cls=ActorCriticPolicy, **kwargs):
    torch.manual_seed(0)
    return cls(OBS, ACT, lambda _: 1e-3, net_arch=[8, 6], log_std_init=-0.5, **kwargs)


def _assert_orthogonal(weight, gain):
    # orthogonal_ makes the smaller Gram matrix gain^2 * identity
    w = weight if weight.shape[0] >= weight.shape[1] else weight.T
    torch.testing.assert_close(w.T @ w, gain**2 * torch.eye(w.shape[1]), atol=1e-5, rtol=1e-5)


def test_fresh_parameters_follow_sb3_init_and_leave_the_policy_alone():
    policy = _policy(LayerNormActorCriticPolicy)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.3)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    fresh = fresh_parameters(policy)
    assert set(fresh) == set(before)
    for name, p in policy.named_parameters():
        assert torch.equal(p.detach(), before[name])
    _assert_orthogonal(fresh["mlp_extractor.policy_net.0.weight"], math.sqrt(2))
    _assert_orthogonal(fresh["mlp_extractor.value_net.3.weight"], math.sqrt(2))
    _assert_orthogonal(fresh["action_net.weight"], 0.01)
    _assert_orthogonal(fresh["value_net.weight"], 1.0)
    assert torch.equal(fresh["mlp_extractor.policy_net.0.bias"], torch.zeros(8))
    assert torch.equal(fresh["mlp_extractor.policy_net.1.weight"], torch.ones(8))  # LayerNorm scale
    assert torch.equal(fresh["log_std"], torch.full((2,), -0.5))
    # a second draw is new noise
    assert not torch.equal(fresh_parameters(policy)["action_net.weight"], fresh["action_net.weight"])


def test_shrink_and_perturb_applies_its_rule():
    policy = _policy()
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    torch.manual_seed(42)
    noise = fresh_parameters(policy)
    torch.manual_seed(42)
    changed = shrink_and_perturb(policy, shrink=0.7, noise_scale=0.2)
    assert "log_std" not in changed and len(changed) == len(before) - 1
    for name, p in policy.named_parameters():
        expected = before[name] if name == "log_std" else 0.7 * before[name] + 0.2 * noise[name]
        torch.testing.assert_close(p.detach(), expected)


def test_shrink_one_no_noise_is_identity():
    policy = _policy()
    before = [p.detach().clone() for p in policy.parameters()]
    shrink_and_perturb(policy, shrink=1.0, noise_scale=0.0)
    assert all(torch.equal(p.detach(), b) for p, b in zip(policy.parameters(), before))


class _FakeModel:
    """What the callback uses of an algorithm: its policy and logger."""

    def __init__(self, policy):
        self.policy = policy
        self.logger = Logger(folder=None, output_formats=[])


def _callback(policy, **kwargs):
    cb = ShrinkAndPerturb(**kwargs)
    cb.model = _FakeModel(policy)
    return cb


def test_callback_fires_at_task_switches_and_every_n_rollouts():
    policy = _policy()
    cb = _callback(policy, shrink=0.5, noise_scale=0.0, on_task_switch=True, every_n_rollouts=3)
    weight = policy.action_net.weight
    start = weight.detach().clone()
    for infos in (
        [{"task_id": 0, "task_switch": True}],  # start of the first task: not a switch
        [{"task_id": 0, "task_switch": False}],
        [{"task_id": 1, "task_switch": True}, {"task_id": 1, "task_switch": True}],  # one switch, two envs
        [{"task_id": 1, "task_switch": False}],
    ):
        cb.locals = {"infos": infos}
        cb._on_step()
    assert cb.n_applied == 1
    torch.testing.assert_close(weight.detach(), 0.5 * start)
    for _ in range(6):
        cb._on_rollout_end()
    assert cb.n_applied == 3
    torch.testing.assert_close(weight.detach(), 0.125 * start)


@pytest.mark.parametrize(
    "kwargs", [{"shrink": 1.5}, {"noise_scale": -0.1}, {"every_n_rollouts": -1}, {"on_task_switch": False}]
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        ShrinkAndPerturb(**kwargs)
