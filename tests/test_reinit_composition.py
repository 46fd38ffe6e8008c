"""Re-initialisations composed with the anchored decays: ReDo, shrink and perturb and resets follow L2, L2-Init and
syre (known answers: the weights, ``theta`` and anchors after the intervention equal the expected tensors)."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from syre_rl import AnchoredDecayDQN, SyreDQN, SyreSAC
from syre_rl.decay import DecayConfig, build_decay
from syre_rl.interventions._init import fresh_module_parameters, fresh_parameters, online_modules
from syre_rl.interventions._units import reinitialise_units, unit_layers
from syre_rl.interventions.redo import recycle_dormant
from syre_rl.interventions.reset import reset_policy
from syre_rl.interventions.shrink_perturb import shrink_and_perturb
from syre_rl.policies import AnchoredDecayActorCriticPolicy, SyreActorCriticPolicy
from syre_rl.syre import Syre

UNITS = [1, 3]
OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(-1.0, 1.0, (2,), np.float32)


def _net_with_decay(anchor: str | None):
    """A 3-5-2 ReLU network after two Adam steps, with the given anchored decay (None: none)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    decay = None if anchor is None else build_decay(net, DecayConfig(anchor=anchor, offset_seed=1))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    if decay is not None:
        decay.attach(optimizer)
    for _ in range(2):
        optimizer.zero_grad()
        net(torch.rand(8, 3)).pow(2).sum().backward()
        optimizer.step()
    return net, decay, optimizer


def _recycle(net, decay, optimizer):
    (layer,) = unit_layers(net)
    fresh = torch.randn(5, 3)
    before = [p.detach().clone() for p in net.parameters()]
    reinitialise_units(layer, torch.tensor(UNITS), fresh, [optimizer], decay=decay)
    return fresh, before


def _mask_rows(shape):
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[UNITS] = True
    return mask


def test_syre_recycled_unit_gets_a_fresh_theta_and_zero_outgoing_weights():
    net, decay, optimizer = _net_with_decay("syre")
    assert isinstance(decay, Syre)
    theta_0 = [t.clone() for t in decay.theta_0]
    fresh, before = _recycle(net, decay, optimizer)
    theta = decay.theta()
    w_in, b_in, w_out, b_out = (p.detach() for p in net.parameters())
    rows = _mask_rows(w_in.shape)
    # incoming weights and bias: a fresh theta (the fresh rows, bias 0), on top of the unchanged theta_0
    torch.testing.assert_close(theta["0.weight"][UNITS], fresh[UNITS])
    assert torch.equal(theta["0.bias"][UNITS], torch.zeros(2))
    torch.testing.assert_close(w_in[UNITS], fresh[UNITS] + theta_0[0][UNITS])
    # outgoing weights: w = 0, i.e. theta = -theta_0
    assert not w_out[:, UNITS].any()
    torch.testing.assert_close(theta["2.weight"][:, UNITS], -theta_0[2][:, UNITS])
    # everything else as it was; theta_0 never redrawn
    assert torch.equal(w_in[~rows], before[0][~rows]) and torch.equal(b_out, before[3])
    keep = [i for i in range(5) if i not in UNITS]
    assert torch.equal(w_out[:, keep], before[2][:, keep]) and torch.equal(b_in[keep], before[1][keep])
    assert all(torch.equal(a, b) for a, b in zip(decay.theta_0, theta_0))


def test_syre_recycling_a_dead_unit_leaves_the_output_unchanged():
    net, decay, optimizer = _net_with_decay("syre")
    with torch.no_grad():  # dead units: ReLU(0 * x - 1) = 0
        net[0].weight[UNITS] = 0.0
        net[0].bias[UNITS] = -1.0
    x = torch.rand(16, 3)
    out = net(x).detach()
    _recycle(net, decay, optimizer)
    assert (net[1](net[0](x))[:, UNITS] > 0).any()  # the recycled units are alive again...
    torch.testing.assert_close(net(x).detach(), out, rtol=0, atol=1e-7)  # ...and change nothing yet


def test_l2_init_anchors_of_recycled_entries_move_to_their_new_values():
    net, decay, optimizer = _net_with_decay("init")
    anchors = [a.clone() for a in decay.anchors]
    fresh, _ = _recycle(net, decay, optimizer)
    a_in, a_bias, a_out, a_bout = decay.anchors
    assert torch.equal(a_in[UNITS], fresh[UNITS]) and not a_bias[UNITS].any() and not a_out[:, UNITS].any()
    rows = _mask_rows(a_in.shape)
    keep = [i for i in range(5) if i not in UNITS]
    assert torch.equal(a_in[~rows], anchors[0][~rows]) and torch.equal(a_bias[keep], anchors[1][keep])
    assert torch.equal(a_out[:, keep], anchors[2][:, keep]) and torch.equal(a_bout, anchors[3])
    w_in, b_in, w_out, _ = (p.detach() for p in net.parameters())  # the recycled entries start at their anchor
    assert torch.equal(w_in[UNITS], a_in[UNITS]) and torch.equal(b_in[UNITS], a_bias[UNITS])
    assert torch.equal(w_out[:, UNITS], a_out[:, UNITS])


@pytest.mark.parametrize("anchor", ["zero", None])
def test_l2_and_no_decay_recycle_the_same_weights(anchor):
    plain, _, opt_plain = _net_with_decay(None)
    net, decay, optimizer = _net_with_decay(anchor)
    torch.manual_seed(3)
    _recycle(plain, None, opt_plain)
    torch.manual_seed(3)
    _recycle(net, decay, optimizer)
    if anchor is None:
        for p, q in zip(plain.parameters(), net.parameters()):
            assert torch.equal(p, q)
    else:  # L2 trained differently (its decay), but recycled entries follow the same rule and the anchor stays 0
        assert all(not a.any() for a in decay.anchors)
        assert not net[2].weight[:, UNITS].any() and not net[0].bias[UNITS].any()


def test_entry_level_hooks_known_answers():
    net = nn.Sequential(nn.Linear(2, 2))
    syre = build_decay(net, DecayConfig(anchor="syre", offset_seed=0))
    theta_0 = syre.theta_0[0].clone()
    mask = torch.tensor([[True, False], [False, False]])
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[5.0, 6.0], [7.0, 8.0]]))
    syre.reinitialised_entries(net[0].weight, mask, fresh=True)
    assert net[0].weight[0, 0] == 5.0 + theta_0[0, 0] and net[0].weight[1, 1] == 8.0
    syre.reinitialised_entries(net[0].weight, mask, fresh=False)  # written as weights: left alone
    assert net[0].weight[0, 0] == 5.0 + theta_0[0, 0]
    assert torch.equal(syre.offset(net[0].weight), theta_0) and syre.offset(torch.zeros(1)) is None
    syre.reinitialised_entries(torch.zeros(2, 2), mask)  # a tensor the decay does not treat: nothing happens

    l2_init = build_decay(net, DecayConfig(anchor="init"))
    before = l2_init.anchors[0].clone()
    with torch.no_grad():
        net[0].weight[0, 0] = -1.0
    l2_init.reinitialised_entries(net[0].weight, mask, fresh=False)
    assert l2_init.anchors[0][0, 0] == -1.0 and torch.equal(l2_init.anchors[0][~mask], before[~mask])
    assert l2_init.offset(net[0].weight) is None


# ----------------------------------------------------------------------------------------------- ReDo on policies
def _dead_policy(cls, **kwargs):
    torch.manual_seed(0)
    policy = cls(OBS, ACT, lambda _: 1e-2, net_arch=[6, 6], activation_fn=nn.ReLU, **kwargs)
    layer = unit_layers(policy)[0]
    with torch.no_grad():
        layer.in_layer.weight[UNITS] = 0.0
        layer.in_layer.bias[UNITS] = -1.0
    return policy, layer


def test_redo_on_a_syre_policy_gives_recycled_units_a_fresh_theta():
    policy, layer = _dead_policy(SyreActorCriticPolicy)
    obs = torch.rand(32, 3) * 2 - 1
    actions_before = policy.get_distribution(obs).distribution.mean.detach()
    torch.manual_seed(7)
    fresh = fresh_module_parameters(policy, layer.in_layer)["weight"]
    torch.manual_seed(7)
    recycled = recycle_dormant(policy, obs, tau=0.0, layers=[layer])
    assert recycled[layer.name].tolist() == UNITS
    theta = policy.anchored_decay.theta()
    name = next(n for n, p in policy.named_parameters() if p is layer.in_layer.weight)
    torch.testing.assert_close(theta[name][UNITS], fresh[UNITS])
    assert not theta[name.replace("weight", "bias")][UNITS].any()
    assert not layer.out_weights[0][:, UNITS].any()  # w = 0 outgoing
    torch.testing.assert_close(policy.get_distribution(obs).distribution.mean.detach(), actions_before)


def test_redo_on_an_l2_init_policy_re_anchors_the_recycled_entries():
    policy, layer = _dead_policy(AnchoredDecayActorCriticPolicy, anchor="init")
    recycle_dormant(policy, torch.rand(32, 3) * 2 - 1, tau=0.0, layers=[layer])
    decay = policy.anchored_decay

    def anchor_of(param):
        return decay.anchors[next(i for i, p in enumerate(decay.params) if p is param)]

    for param in (layer.in_layer.weight, layer.in_layer.bias):
        assert torch.equal(anchor_of(param)[UNITS], param.detach()[UNITS])
    w_out = layer.out_weights[0]
    assert torch.equal(anchor_of(w_out)[:, UNITS], torch.zeros(w_out.shape[0], len(UNITS)))


def test_redo_on_a_syre_dqn_q_network_leaves_the_q_values_and_target_alone():
    model = SyreDQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8, 8]}, seed=0, learning_starts=0)
    policy = model.policy
    layer = next(u for u in unit_layers(policy) if u.name == "q_net.q_net.1")
    with torch.no_grad():
        layer.in_layer.weight[UNITS] = 0.0
        layer.in_layer.bias[UNITS] = -1.0
    obs = torch.randn(64, 4) * 3
    with torch.no_grad():
        dead = torch.nonzero(torch.relu(layer.in_layer(obs)).amax(0) == 0).flatten().tolist()
    q_before = policy.q_net(obs).detach()
    target = {k: v.clone() for k, v in policy.q_net_target.state_dict().items()}
    torch.manual_seed(2)
    fresh = fresh_module_parameters(policy, layer.in_layer)["weight"]
    torch.manual_seed(2)
    recycled = recycle_dormant(policy, obs, tau=0.0, layers=[layer])
    assert recycled[layer.name].tolist() == dead and set(UNITS) <= set(dead)
    torch.testing.assert_close(policy.anchored_decay.theta()["q_net.q_net.0.weight"][dead], fresh[dead])
    torch.testing.assert_close(policy.q_net(obs).detach(), q_before, rtol=0, atol=1e-6)
    assert all(torch.equal(v, target[k]) for k, v in policy.q_net_target.state_dict().items())


# ------------------------------------------------------------------------------------------- shrink and perturb
def _trained(cls, **kwargs):
    torch.manual_seed(0)
    policy = cls(OBS, ACT, lambda _: 1e-2, net_arch=[6], **kwargs)
    obs = torch.rand(16, 3)
    for _ in range(2):
        _, log_prob, _ = policy.evaluate_actions(obs, torch.rand(16, 2))
        policy.optimizer.zero_grad()
        (-log_prob.mean() + policy.predict_values(obs).pow(2).mean()).backward()
        policy.optimizer.step()
    return policy


def test_shrink_and_perturb_on_syre_shrinks_theta_not_theta_0():
    policy = _trained(SyreActorCriticPolicy)
    syre = policy.syre
    theta = syre.theta()
    theta_0 = dict(zip(syre.names, [t.clone() for t in syre.theta_0]))
    torch.manual_seed(4)
    z = fresh_parameters(policy)
    torch.manual_seed(4)
    changed = shrink_and_perturb(policy, 0.5, 0.1)
    params = dict(policy.named_parameters())
    assert set(changed) == set(syre.names)
    for name in changed:
        torch.testing.assert_close(params[name].detach(), theta_0[name] + 0.5 * theta[name] + 0.1 * z[name])
        torch.testing.assert_close(syre.theta()[name], 0.5 * theta[name] + 0.1 * z[name])


@pytest.mark.parametrize("anchor", ["zero", "init"])
def test_shrink_and_perturb_on_l2_and_l2_init_shrinks_the_weights_and_keeps_the_anchor(anchor):
    policy = _trained(AnchoredDecayActorCriticPolicy, anchor=anchor)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    anchors = [a.clone() for a in policy.anchored_decay.anchors]
    torch.manual_seed(4)
    z = fresh_parameters(policy)
    torch.manual_seed(4)
    for name in shrink_and_perturb(policy, 0.5, 0.1):
        want = before[name].mul(0.5).add(z[name], alpha=0.1)
        assert torch.equal(dict(policy.named_parameters())[name].detach(), want)
    assert all(torch.equal(a, b) for a, b in zip(policy.anchored_decay.anchors, anchors))


def test_shrink_and_perturb_maps_off_policy_targets_with_the_same_draw():
    model = SyreSAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    policy = model.policy
    with torch.no_grad():  # a lagging target
        for p in policy.critic_target.parameters():
            p.add_(0.1)
    target = {n: p.detach().clone() for n, p in policy.critic_target.named_parameters()}
    offsets = {n: policy.anchored_decay.offset(p) for n, p in policy.critic.named_parameters()}
    torch.manual_seed(4)
    z = fresh_parameters(policy, online_modules(policy))
    torch.manual_seed(4)
    changed = shrink_and_perturb(policy, 0.5, 0.1)
    assert not any(n.startswith("critic_target.") for n in changed)
    for name, p in policy.critic_target.named_parameters():
        off = offsets[name]
        want = off + 0.5 * (target[name] - off) + 0.1 * z[f"critic.{name}"]
        torch.testing.assert_close(p.detach(), want)


# --------------------------------------------------------------------------------------------- off-policy resets
def test_off_policy_reset_keeps_theta_0_and_gives_targets_the_fresh_online_weights():
    model = SyreDQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]}, seed=0)
    policy = model.policy
    theta_0 = [t.clone() for t in policy.anchored_decay.theta_0]
    torch.manual_seed(5)
    fresh = fresh_parameters(policy, online_modules(policy))
    torch.manual_seed(5)
    names = reset_policy(policy, "all")
    assert names == sorted(fresh) and all(n.startswith("q_net.") for n in names)
    for name, theta in policy.anchored_decay.theta().items():
        torch.testing.assert_close(theta, fresh[name])  # a fresh theta...
    assert all(torch.equal(a, b) for a, b in zip(policy.anchored_decay.theta_0, theta_0))  # ...on the same theta_0
    for k, v in policy.q_net_target.state_dict().items():
        assert torch.equal(v, policy.q_net.state_dict()[k])


def test_off_policy_layer_reset_re_anchors_l2_init_and_leaves_the_rest():
    model = AnchoredDecayDQN("MlpPolicy", "CartPole-v1", anchor="init", policy_kwargs={"net_arch": [8]}, seed=0)
    policy, decay = model.policy, model.policy.anchored_decay
    with torch.no_grad():
        for p in policy.q_net.parameters():
            p.add_(1.0)  # trained away from the anchors
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    names = reset_policy(policy, "last_layers", n_layers=1)
    assert names == ["q_net.q_net.2.bias", "q_net.q_net.2.weight"]
    for name, param, anchor in zip(decay.names, decay.params, decay.anchors):
        if name in names:
            assert torch.equal(anchor, param.detach())
            assert torch.equal(dict(policy.named_parameters())[name.replace("q_net.", "q_net_target.", 1)], param)
        else:
            assert torch.equal(param.detach(), before[name]) and not torch.equal(anchor, param.detach())
    assert torch.equal(policy.q_net_target.q_net[0].weight, before["q_net_target.q_net.0.weight"])


def test_sac_heads_reset_under_syre_keeps_the_body_theta():
    model = SyreSAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [8, 8]}, seed=0)
    policy = model.policy
    theta = policy.anchored_decay.theta()
    torch.manual_seed(9)
    names = reset_policy(policy, "heads")
    assert names == sorted(
        f"{m}.{p}" for m in ("actor.mu", "actor.log_std", "critic.qf0.4", "critic.qf1.4") for p in ("weight", "bias")
    )
    after = policy.anchored_decay.theta()
    for name in theta:
        if name not in names:
            assert torch.equal(after[name], theta[name])
