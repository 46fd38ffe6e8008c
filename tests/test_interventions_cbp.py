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


# --- fidelity to the original algorithm: per-element Adam steps and bias correction -------------------------------


def _loss(policy, obs, actions, targets):
    _, log_prob, _ = policy.evaluate_actions(obs, actions)
    values = policy.predict_values(obs).flatten()
    return -log_prob.mean() + ((values - targets) ** 2).mean()


class _Reference:
    """Continual backprop on a one-hidden-layer actor and critic written from the paper's algorithm, with a
    per-element Adam (one step count per entry, restarted with the moments, as AdamGnT) and the bias correction
    ``b_out += w_out[:, i] * mean_h_i / (1 - eta^age_i)``, on plain tensors."""

    def __init__(self, policy, rate, maturity, eta, lr, betas, eps):
        self.p = {n: t.detach().clone().requires_grad_(True) for n, t in policy.named_parameters()}
        self.rate, self.maturity, self.eta, self.lr, self.betas, self.eps = rate, maturity, eta, lr, betas, eps
        self.m = {n: torch.zeros_like(t) for n, t in self.p.items()}
        self.v = {n: torch.zeros_like(t) for n, t in self.p.items()}
        self.s = {n: torch.zeros_like(t) for n, t in self.p.items()}
        self.nets = {
            "actor": ("mlp_extractor.policy_net.0", "action_net"),
            "critic": ("mlp_extractor.value_net.0", "value_net"),
        }
        self.util = {k: torch.zeros(8) for k in self.nets}
        self.mean = {k: torch.zeros(8) for k in self.nets}
        self.age = {k: torch.zeros(8) for k in self.nets}
        self.count = {k: 0.0 for k in self.nets}
        self.replaced = 0

    def forward(self, obs):
        hidden = {}
        for net, (inp, _) in self.nets.items():
            hidden[net] = torch.relu(obs @ self.p[f"{inp}.weight"].T + self.p[f"{inp}.bias"])
        logits = hidden["actor"] @ self.p["action_net.weight"].T + self.p["action_net.bias"]
        values = (hidden["critic"] @ self.p["value_net.weight"].T + self.p["value_net.bias"]).flatten()
        return logits, values, hidden

    def step(self, obs, actions, targets, fresh):
        logits, values, hidden = self.forward(obs)
        log_prob = torch.log_softmax(logits, -1).gather(1, actions[:, None]).flatten()
        loss = -log_prob.mean() + ((values - targets) ** 2).mean()
        grads = torch.autograd.grad(loss, list(self.p.values()))
        b1, b2 = self.betas
        with torch.no_grad():
            for (n, p), g in zip(self.p.items(), grads):
                self.s[n] += 1
                self.m[n] = b1 * self.m[n] + (1 - b1) * g
                self.v[n] = b2 * self.v[n] + (1 - b2) * g * g
                m_hat = self.m[n] / (1 - b1 ** self.s[n])
                v_hat = self.v[n] / (1 - b2 ** self.s[n])
                p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
            for net, (inp, out) in self.nets.items():
                h = hidden[net]
                self.age[net] += 1
                w_out = self.p[f"{out}.weight"]
                self.util[net] = self.eta * self.util[net] + (1 - self.eta) * w_out.abs().mean(0) * h.abs().mean(0)
                self.mean[net] = self.eta * self.mean[net] + (1 - self.eta) * h.mean(0)
                eligible = torch.nonzero(self.age[net] > self.maturity).flatten()
                if eligible.numel() == 0:
                    continue
                self.count[net] += self.rate * eligible.numel()
                n = int(self.count[net])
                if n == 0:
                    continue
                self.count[net] -= n
                corrected = self.util[net][eligible] / (1 - self.eta ** self.age[net][eligible])
                units = eligible[torch.argsort(corrected, stable=True)[:n]]
                mean = self.mean[net][units] / (1 - self.eta ** self.age[net][units])
                self.p[f"{out}.bias"] += (w_out[:, units] * mean).sum(1)
                self.p[f"{inp}.weight"][units] = fresh[f"{inp}.weight"][units]
                self.p[f"{inp}.bias"][units] = 0.0
                w_out[:, units] = 0.0
                for name, index in (
                    (f"{inp}.weight", units),
                    (f"{inp}.bias", units),
                    (f"{out}.weight", (slice(None), units)),
                ):
                    for state in (self.m, self.v, self.s):
                        state[name][index] = 0.0
                self.util[net][units] = 0.0
                self.mean[net][units] = 0.0
                self.age[net][units] = 0
                self.replaced += int(units.numel())


def test_matches_a_reference_with_per_element_adam_steps_and_bias_correction(monkeypatch):
    torch.manual_seed(0)
    policy = ActorCriticPolicy(OBS, ACT, lambda _: 1e-2, net_arch=[8], activation_fn=nn.ReLU)
    betas, eps, lr = (0.9, 0.999), 1e-5, 1e-2
    reference = _Reference(policy, rate=0.2, maturity=3, eta=0.9, lr=lr, betas=betas, eps=eps)
    fresh = {n: torch.randn_like(p) for n, p in policy.named_parameters()}
    monkeypatch.setattr(
        "syre_rl.interventions.cbp.fresh_module_parameters",
        lambda _policy, module: {
            "weight": fresh[next(n for n, m in policy.named_modules() if m is module) + ".weight"]
        },
    )
    cb = ContinualBackprop(replacement_rate=0.2, maturity_threshold=3, decay=0.9, bias_correction=True)
    logger = type("Logger", (), {"record_mean": lambda *args, **kwargs: None})()
    cb.model = type("Model", (), {"policy": policy, "logger": logger})()
    cb._on_training_start()
    gen = torch.Generator().manual_seed(1)
    for _ in range(40):
        obs = torch.rand(32, 4, generator=gen) * 2 - 1
        actions = torch.randint(0, 3, (32,), generator=gen)
        targets = torch.randn(32, generator=gen)
        policy.optimizer.zero_grad()
        _loss(policy, obs, actions, targets).backward()
        policy.optimizer.step()
        reference.step(obs, actions, targets, fresh)
    assert reference.replaced >= 8
    assert sum(st.replaced for st in cb.state.stats.values()) == reference.replaced
    for name, param in policy.named_parameters():
        torch.testing.assert_close(param.detach(), reference.p[name].detach(), atol=2e-5, rtol=1e-4, msg=name)
    cb._on_training_end()


def _first_update_after_replacement(optimizer_state):
    policy, state = _state(rate=0.25)
    state = ContinualBackpropState(
        policy, replacement_rate=0.25, maturity_threshold=MATURITY, optimizer_state=optimizer_state
    )
    obs, actions = torch.rand(32, 4), torch.randint(0, 3, (32,))
    for _ in range(20):
        policy.optimizer.zero_grad()
        _loss(policy, obs, actions, torch.zeros(32)).backward()
        policy.optimizer.step()
        state.after_optimizer_step(policy.optimizer)
    _prepare(state)
    state.step(_ones(), [policy.optimizer])  # replaces actor unit 2
    # its incoming weights get no gradient while its outgoing weights are 0: the outgoing column moves first
    w_out = policy.action_net.weight
    before = w_out[:, 2].detach().clone()
    policy.optimizer.zero_grad()
    _loss(policy, obs, actions, torch.zeros(32)).backward()
    grad = w_out.grad[:, 2].clone()
    policy.optimizer.step()
    state.after_optimizer_step(policy.optimizer)
    return (w_out[:, 2].detach() - before), grad


def test_per_element_step_gives_a_replaced_unit_a_first_update_of_one_learning_rate():
    lr, (b1, b2), t = 1e-2, (0.9, 0.999), 21
    step, grad = _first_update_after_replacement("per_element_step")
    live = grad.abs() > 1e-3  # entries whose gradient dwarfs Adam's eps
    assert live.any()
    # Adam's first step from zero moments: m_hat = g, v_hat = g^2, so the update is lr * sign(g)
    torch.testing.assert_close(step[live], -lr * grad[live].sign(), rtol=0.02, atol=0)
    # torch's shared step count (t = 21) instead gives lr * (1 - b1) / (1 - b1^t) * sqrt(1 - b2^t) / sqrt(1 - b2)
    step, grad = _first_update_after_replacement("zero_moments")
    ratio = (1 - b1) / (1 - b1**t) * ((1 - b2**t) / (1 - b2)) ** 0.5
    torch.testing.assert_close(step[live], -lr * ratio * grad[live].sign(), rtol=0.02, atol=0)


def test_keep_leaves_the_optimizer_state_alone():
    policy, _ = _state()
    state = ContinualBackpropState(policy, replacement_rate=0.25, maturity_threshold=MATURITY, optimizer_state="keep")
    _, log_prob, _ = policy.evaluate_actions(torch.rand(32, 4), torch.randint(0, 3, (32,)))
    (-log_prob.mean()).backward()
    policy.optimizer.step()
    _prepare(state)
    saved = {id(p): {k: v.clone() for k, v in s.items()} for p, s in policy.optimizer.state.items()}
    assert state.step(_ones(), [policy.optimizer])[ACTOR].tolist() == [2]
    for param, st in policy.optimizer.state.items():
        assert all(torch.equal(v, saved[id(param)][k]) for k, v in st.items())


def test_bias_correction_moves_the_mean_contribution_into_the_next_bias():
    policy, _ = _state()
    state = ContinualBackpropState(policy, replacement_rate=0.25, maturity_threshold=MATURITY, bias_correction=True)
    st = _prepare(state)
    st.mean_activation[:] = torch.arange(8.0)
    w_out = policy.action_net.weight.detach()[:, 2].clone()
    bias = policy.action_net.bias.detach().clone()
    age = MATURITY + 11  # aged by this step
    state.step(_ones(), [], mean_activation={ACTOR: torch.full((8,), 2.0)})
    mean = (0.99 * 2.0 + 0.01 * 2.0) / (1 - 0.99**age)
    torch.testing.assert_close(policy.action_net.bias.detach(), bias + w_out * mean)
    with pytest.raises(ValueError, match="mean_activation"):
        state.step(_ones(), [])


def test_per_element_step_refuses_other_optimizers():
    model = PPO(
        "MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32, policy_kwargs={"optimizer_class": torch.optim.SGD}
    )
    with pytest.raises(ValueError, match=r"SGD.*zero_moments"):
        model.learn(32, callback=ContinualBackprop())
    model.learn(32, callback=ContinualBackprop(optimizer_state="zero_moments"))


def test_bad_optimizer_state_names_the_accepted_ones():
    with pytest.raises(ValueError, match="per_element_step"):
        ContinualBackprop(optimizer_state="reset")


@pytest.mark.parametrize("anchor", ["init", "syre"])
def test_replacement_is_routed_through_the_anchored_decay(anchor):
    from syre_rl.decay import DecayConfig
    from syre_rl.policies import install_decay

    policy, _ = _state()
    decay = install_decay(policy, DecayConfig(anchor=anchor, sigma_scale=1.0))
    state = ContinualBackpropState(policy, replacement_rate=0.25, maturity_threshold=MATURITY)
    _prepare(state)
    w_in = policy.mlp_extractor.policy_net[0].weight
    torch.manual_seed(3)
    fresh = fresh_module_parameters(policy, policy.mlp_extractor.policy_net[0])["weight"]
    name = next(n for n, p in policy.named_parameters() if p is w_in)
    before = dict(zip(decay.names, (a.clone() for a in decay.anchors)))[name]
    torch.manual_seed(3)
    assert state.step(_ones(), [policy.optimizer])[ACTOR].tolist() == [2]
    anchors = dict(zip(decay.names, decay.anchors))
    if anchor == "init":  # L2-Init: the replaced row is its own new anchor, the other rows keep theirs
        torch.testing.assert_close(w_in[2].detach(), fresh[2])
        torch.testing.assert_close(anchors[name][2], fresh[2])
        keep = [0, 1, 3, 4, 5, 6, 7]
        assert torch.equal(anchors[name][keep], before[keep])
    else:  # syre: the fresh row is a new theta on the kept offset
        torch.testing.assert_close(w_in[2].detach(), fresh[2] + anchors[name][2])
