"""Continual backprop: lowest-utility mature units replaced at the stated rate, immature ones never."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from syre_rl.interventions import ContinualBackprop
from syre_rl.interventions._init import fresh_module_parameters
from syre_rl.interventions.cbp import ContinualBackpropState
from syre_rl.plasticity.metrics import unit_activity

OBS = spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = spaces.Discrete(3)
MATURITY = 5
ACTOR, CRITIC = "mlp_extractor.policy_net.1", "mlp_extractor.value_net.1"


def _state(rate=0.25, maturity=MATURITY, decay=0.99):
    torch.manual_seed(0)
    policy = ActorCriticPolicy(OBS, ACT, lambda _: 1e-2, net_arch=[8], activation_fn=nn.ReLU)
    state = ContinualBackpropState(policy, replacement_rate=rate, maturity_threshold=maturity, decay=decay)
    return policy, state


def _prepare(state):
    """Units 0-3 mature with utilities 5, 3, 0.001, 4; units 4-7 immature with utility 0 (the lowest of all)."""
    st = state.stats[ACTOR]
    st.age[:] = torch.tensor([MATURITY + 10] * 4 + [0] * 4)
    st.utility[:] = torch.tensor([5.0, 3.0, 0.001, 4.0, 0.0, 0.0, 0.0, 0.0])
    return st


def _ones():
    return {ACTOR: torch.ones(8)}


def test_unit_activity_known_answer():
    h = torch.tensor([[1.0, -2.0], [3.0, 0.0]])
    torch.testing.assert_close(unit_activity(h), torch.tensor([2.0, 1.0]))
    conv = torch.zeros(2, 3, 2, 2)  # (batch, channels, height, width): mean over all but the channels
    conv[0, 1, 0, 0] = 8.0
    torch.testing.assert_close(unit_activity(conv), torch.tensor([0.0, 1.0, 0.0]))


def test_utility_update_and_bias_correction_known_answer():
    policy, state = _state(rate=0.0, decay=0.9)
    st = state.stats[ACTOR]
    h = torch.tensor([[1.0, -2.0] + [0.0] * 6, [3.0, 0.0] + [0.0] * 6])
    out = policy.action_net.weight.detach().abs().mean(0)
    state.step({ACTOR: unit_activity(h)})
    expected = 0.1 * out * torch.tensor([2.0, 1.0] + [0.0] * 6)
    torch.testing.assert_close(st.utility, expected)
    assert st.age.tolist() == [1] * 8
    # bias correction u / (1 - eta^age) recovers the contribution itself after one step
    corrected = st.utility / (1 - 0.9 ** st.age.double()).float()
    torch.testing.assert_close(corrected, out * torch.tensor([2.0, 1.0] + [0.0] * 6))
    assert state.stats[CRITIC].age.tolist() == [0] * 8  # layers without activations are skipped


def test_replaces_lowest_utility_mature_units_at_the_rate_and_never_immature_ones():
    policy, state = _state(rate=0.25)
    st = _prepare(state)
    layer = state.layers[0]
    # 4 eligible units at rate 0.25: one unit this step, the one of lowest utility among the mature
    torch.manual_seed(3)
    fresh = fresh_module_parameters(policy, layer.in_layer)["weight"]
    torch.manual_seed(3)
    assert state.step(_ones())[ACTOR].tolist() == [2]
    torch.testing.assert_close(layer.in_layer.weight[2].detach(), fresh[2])
    assert layer.in_layer.bias[2] == 0 and torch.equal(layer.out_layers[0].weight[:, 2], torch.zeros(3))
    assert (st.age[2].item(), st.utility[2].item(), st.replaced) == (0, 0.0, 1)
    # unit 2 is now immature: 3 eligible -> 0.75 this step (nothing), 1.5 next step (unit 1, utility 3)
    assert ACTOR not in state.step(_ones())
    assert state.step(_ones())[ACTOR].tolist() == [1]
    assert st.to_replace == pytest.approx(0.5)
    # immature units 4-7 (utility 0) were never touched
    assert st.age[4:].tolist() == [3] * 4


def test_replacement_count_follows_the_rate():
    _, state = _state(rate=1 / 16, maturity=0)
    counts = []
    for _ in range(41):  # 8 units always eligible (a replaced unit is mature again one step later, maturity 0)
        counts.append(len(state.step(_ones()).get(ACTOR, [])))
    # 8 / 16 = half a unit per step, the remainder carried over: one unit every second step
    assert counts == [0, 1] * 20 + [0]
    assert state.stats[ACTOR].replaced == 20


def test_immature_units_are_never_replaced():
    policy, state = _state(rate=1.0, maturity=100)
    before = policy.mlp_extractor.policy_net[0].weight.detach().clone()
    for _ in range(100):
        assert state.step(_ones()) == {}
    assert torch.equal(policy.mlp_extractor.policy_net[0].weight.detach(), before)
    assert state.step(_ones())[ACTOR].numel() == 8  # age 101 > 100: all mature, rate 1


def test_replacement_resets_optimizer_moments():
    policy, state = _state(rate=0.25)
    obs = torch.rand(32, 4)
    _, log_prob, _ = policy.evaluate_actions(obs, torch.randint(0, 3, (32,)))
    (-log_prob.mean()).backward()
    policy.optimizer.step()
    _prepare(state)
    out_state = policy.optimizer.state[policy.action_net.weight]
    assert out_state["exp_avg"][:, 2].abs().sum() > 0
    keep = out_state["exp_avg"][:, [0, 1, 3]].clone()
    state.step(_ones(), [policy.optimizer])
    assert out_state["exp_avg"][:, 2].abs().sum() == 0 and out_state["exp_avg_sq"][:, 2].abs().sum() == 0
    assert torch.equal(out_state["exp_avg"][:, [0, 1, 3]], keep)
    in_state = policy.optimizer.state[policy.mlp_extractor.policy_net[0].weight]
    assert in_state["exp_avg"][2].abs().sum() == 0


def test_callback_steps_once_per_gradient_step_and_cleans_up():
    kwargs = {"n_steps": 64, "batch_size": 32, "n_epochs": 2, "policy_kwargs": {"net_arch": [8]}, "seed": 0}
    model = PPO("MlpPolicy", "CartPole-v1", **kwargs)
    cb = ContinualBackprop(replacement_rate=0.0, maturity_threshold=0)
    model.learn(128, callback=cb)
    # 2 rollouts x 2 epochs x 2 minibatches = 8 optimizer steps; rollout collection (no_grad) does not count
    assert all(st.age.tolist() == [8] * 8 for st in cb.state.stats.values())
    assert all(st.utility.abs().sum() > 0 for st in cb.state.stats.values())
    for layer in cb.state.layers:
        assert not layer.module._forward_hooks
    assert not model.policy.optimizer._optimizer_step_post_hooks

    replacing = ContinualBackprop(replacement_rate=0.5, maturity_threshold=2)
    model.learn(128, callback=replacing)
    assert sum(st.replaced for st in replacing.state.stats.values()) > 0


@pytest.mark.parametrize(
    "kwargs", [{"replacement_rate": 1.5}, {"maturity_threshold": -1}, {"decay": 1.0}, {"decay": -0.1}]
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        ContinualBackprop(**kwargs)
