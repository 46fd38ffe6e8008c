"""ReDo: exactly the dormant units are recycled, and nothing else changes."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from syre_rl.interventions import ReDo
from syre_rl.interventions._init import fresh_module_parameters
from syre_rl.interventions._units import unit_layers
from syre_rl.interventions.redo import dormancy_scores, recycle_dormant
from syre_rl.plasticity.metrics import unit_scores

OBS = spaces.Box(-1.0, 1.0, (4,), np.float32)
ACT = spaces.Discrete(3)
DEAD = [1, 5]
ACTOR = "mlp_extractor.policy_net.1"  # the actor's first hidden layer (its ReLU)


def test_dormancy_scores_known_answer():
    h = torch.tensor([[1.0, 0.0, 3.0], [-1.0, 0.0, 1.0]])
    torch.testing.assert_close(dormancy_scores(h), torch.tensor([1.0, 0.0, 2.0]))
    assert torch.equal(dormancy_scores(torch.zeros(5, 3)), torch.zeros(3))
    assert dormancy_scores is unit_scores  # recycling and the dormant-ratio metric share one score


def _trained_policy_with_dead_units():
    torch.manual_seed(0)
    policy = ActorCriticPolicy(OBS, ACT, lambda _: 1e-2, net_arch=[8, 8], activation_fn=nn.ReLU)
    obs = torch.rand(64, 4) * 2 - 1
    for _ in range(2):  # fill Adam's moments
        _, log_prob, _ = policy.evaluate_actions(obs, torch.randint(0, 3, (64,)))
        policy.optimizer.zero_grad()
        (-log_prob.mean() + policy.predict_values(obs).pow(2).mean()).backward()
        policy.optimizer.step()
    layer = unit_layers(policy)[0]
    assert layer.name == ACTOR
    with torch.no_grad():  # kill two units of the actor's first layer: ReLU(0 * x - 1) = 0
        layer.in_layer.weight[DEAD] = 0.0
        layer.in_layer.bias[DEAD] = -1.0
    return policy, obs


def _expected_dormant(policy, obs, tau):
    """Dormant units per layer, computed by hand from the weights (independently of the forward hooks)."""
    expected = {}
    for net in ("policy_net", "value_net"):
        h = obs
        for i, module in enumerate(getattr(policy.mlp_extractor, net)):
            if isinstance(module, nn.Linear):
                h = torch.relu(h @ module.weight.T + module.bias)
                mean_abs = h.abs().mean(0)
                score = mean_abs / mean_abs.mean()
                expected[f"mlp_extractor.{net}.{i + 1}"] = torch.nonzero(score <= tau).flatten().tolist()
    return expected


def test_redo_recycles_exactly_the_dormant_units():
    policy, obs = _trained_policy_with_dead_units()
    layers = unit_layers(policy)
    with torch.no_grad():
        expected = _expected_dormant(policy, obs, 0.1)
    assert expected[ACTOR] == DEAD
    params = list(policy.parameters())
    before = [p.detach().clone() for p in params]
    state_before = [{k: v.clone() for k, v in policy.optimizer.state[p].items()} for p in params]
    # what the parameters and moments must become
    want = [b.clone() for b in before]
    want_state = [{k: v.clone() for k, v in st.items() if k != "step"} for st in state_before]
    index_of = {id(p): i for i, p in enumerate(params)}
    torch.manual_seed(7)
    for layer in layers:
        units = expected[layer.name]
        if not units:
            continue
        fresh_rows = fresh_module_parameters(policy, layer.in_layer)["weight"][units]
        (out_layer,) = layer.out_layers
        i_w, i_b, i_o = (index_of[id(t)] for t in (layer.in_layer.weight, layer.in_layer.bias, out_layer.weight))
        want[i_w][units], want[i_b][units], want[i_o][:, units] = fresh_rows, 0.0, 0.0
        for i, index in ((i_w, units), (i_b, units), (i_o, (slice(None), units))):
            for v in want_state[i].values():
                v[index] = 0.0
    torch.manual_seed(7)
    recycled = recycle_dormant(policy, obs, tau=0.1)

    assert {name: units.tolist() for name, units in recycled.items()} == expected
    for p, w in zip(params, want):
        assert torch.equal(p.detach(), w)
    for p, st in zip(params, want_state):
        for key, value in st.items():
            assert torch.equal(policy.optimizer.state[p][key], value)
    # the recycled entries had moments to reset; the killed units are alive again
    layer = layers[0]
    out_weight = layer.out_layers[0].weight
    assert state_before[index_of[id(out_weight)]]["exp_avg"][:, DEAD].abs().sum() > 0
    assert policy.optimizer.state[out_weight]["exp_avg"][:, DEAD].abs().sum() == 0
    assert layer.in_layer.weight[DEAD].abs().sum() > 0
    assert recycle_dormant(policy, obs, tau=0.1)[ACTOR].numel() == 0


def test_redo_with_tau_zero_spares_live_units():
    policy, obs = _trained_policy_with_dead_units()
    assert recycle_dormant(policy, obs, tau=0.0)[ACTOR].tolist() == DEAD


def test_redo_callback_checks_every_n_rollouts():
    torch.manual_seed(0)
    kwargs = {"n_steps": 32, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}, "seed": 0}
    model = PPO("MlpPolicy", "CartPole-v1", **kwargs)
    layer = unit_layers(model.policy)[0]
    with torch.no_grad():
        layer.in_layer.weight[0] = 0.0  # tanh(0) = 0: a dormant unit
    cb = ReDo(tau=0.1, every_n_rollouts=2)
    model.learn(32 * 5, callback=cb)
    assert (cb.n_rollouts, cb.n_checks) == (5, 2)
    assert cb.n_recycled >= 1
    assert layer.in_layer.weight[0].abs().sum() > 0


@pytest.mark.parametrize("kwargs", [{"tau": -0.1}, {"every_n_rollouts": 0}, {"batch_size": -1}])
def test_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        ReDo(**kwargs)


class _TinyCnn(BaseFeaturesExtractor):
    """Conv(1 -> 4, 3x3) -> ReLU -> Flatten -> Linear(16 -> 8) -> ReLU on 1x4x4 images."""

    def __init__(self, observation_space):
        super().__init__(observation_space, features_dim=8)
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16, 8), nn.ReLU())

    def forward(self, obs):
        return self.net(obs)


def test_redo_on_convolution_channels_zeroes_their_flattened_outgoing_block():
    torch.manual_seed(0)
    obs_space = spaces.Box(0.0, 1.0, (1, 4, 4), np.float32)
    policy = ActorCriticPolicy(obs_space, ACT, lambda _: 1e-3, net_arch=[], features_extractor_class=_TinyCnn)
    conv, linear = policy.features_extractor.net[0], policy.features_extractor.net[3]
    with torch.no_grad():
        conv.weight[2] = 0.0
        conv.bias[2] = -1.0
    before = linear.weight.detach().clone()
    recycled = recycle_dormant(policy, torch.rand(32, 1, 4, 4), tau=0.05)
    assert recycled["features_extractor.net.1"].tolist() == [2]
    assert conv.weight[2].abs().sum() > 0 and conv.bias[2] == 0
    # channel 2 feeds the flattened inputs 8..11 (2x2 positions) of the Linear; rows of Linear units recycled in the
    # same pass get whole fresh rows
    rows = [i for i in range(8) if i not in recycled["features_extractor.net.4"].tolist()]
    assert rows
    assert torch.equal(linear.weight[rows, 8:12].detach(), torch.zeros(len(rows), 4))
    keep = [*range(8), *range(12, 16)]
    assert torch.equal(linear.weight[rows][:, keep].detach(), before[rows][:, keep])
